package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/influx"
	"github.com/suilong/suilong/trace"
)

// rawReadings is trace.RawReadings from InfluxDB: every reading of an asset's sensors, for the lot's
// compliance record. It belongs with the one InfluxDB adapter of trace.Readings and moves there when that
// adapter is rebuilt.
type rawReadings struct{ c *influx.Client }

func (r rawReadings) Raw(ctx context.Context, asset string, from, to time.Time, limit int) ([]trace.Reading, bool, error) {
	if !to.After(from) {
		return nil, false, nil
	}
	q := fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == "reading" and r._field == "temp_c" and r.asset_id == %s)
  |> keep(columns: ["_time", "_value", "sensor_id"])
  |> group()
  |> sort(columns: ["_time", "sensor_id"])
  |> limit(n: %s)`, influx.FluxString(r.c.Bucket), influx.FluxTime(from), influx.FluxTime(to), influx.FluxString(asset), strconv.Itoa(limit+1))
	res, err := r.c.Query().Query(ctx, q)
	if err != nil {
		return nil, false, errs.Wrap(errs.Internal, err, "query readings")
	}
	defer res.Close()
	var out []trace.Reading
	for res.Next() {
		rec := res.Record()
		v, ok := rec.Value().(float64)
		if !ok {
			continue
		}
		if !rec.Time().Before(to) { // Flux's stop is exclusive, but InfluxDB 1.8 answers a reading at it
			continue
		}
		sensor, _ := rec.ValueByKey("sensor_id").(string)
		out = append(out, trace.Reading{At: rec.Time().UTC(), SensorID: sensor, TempC: v})
	}
	if res.Err() != nil {
		return nil, false, errs.Wrap(errs.Internal, res.Err(), "query readings")
	}
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}
