// Package influxread reads an asset's temperatures from InfluxDB for traceability (trace.Readings), with
// the schema of DESIGN.md: measurement "reading", tag asset_id, field temp_c. Every piece of caller text in a
// query goes through influx.FluxString.
package influxread

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/influx"
	"github.com/suilong/suilong/trace"
)

// Readings implements trace.Readings.
type Readings struct {
	c *influx.Client
	// MaxOutside bounds the out-of-band readings of one query: a lot kept at the wrong temperature for a month
	// would otherwise pull every reading.
	MaxOutside int
}

// New returns readings on c.
func New(c *influx.Client) *Readings { return &Readings{c: c, MaxOutside: 500_000} }

var _ trace.Readings = (*Readings)(nil)

func (r *Readings) source(asset string, from, to time.Time) string {
	return fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == "reading" and r._field == "temp_c" and r.asset_id == %s)`,
		influx.FluxString(r.c.Bucket), influx.FluxTime(from), influx.FluxTime(to), influx.FluxString(asset))
}

// Series returns windows of every with min, mean, max and count over all the asset's sensors (aggregateWindow).
func (r *Readings) Series(ctx context.Context, asset string, from, to time.Time, every time.Duration) ([]trace.Window, error) {
	if !to.After(from) {
		return nil, nil
	}
	ev := strconv.FormatInt(int64(every/time.Second), 10) + "s"
	agg := func(fn string) string {
		return fmt.Sprintf(`data |> aggregateWindow(every: %s, fn: %s, createEmpty: false, timeSrc: "_start") |> toFloat() |> set(key: "agg", value: "%s")`, ev, fn, fn)
	}
	q := "data = " + r.source(asset, from, to) + "\n  |> group()\n" +
		"union(tables: [" + agg("min") + ", " + agg("mean") + ", " + agg("max") + ", " + agg("count") + `])
  |> pivot(rowKey: ["_time"], columnKey: ["agg"], valueColumn: "_value")
  |> sort(columns: ["_time"])`
	res, err := r.c.Query().Query(ctx, q)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "query readings")
	}
	defer res.Close()
	var out []trace.Window
	for res.Next() {
		rec := res.Record()
		w := trace.Window{Start: rec.Time().UTC()}
		w.MinC, _ = rec.ValueByKey("min").(float64)
		w.MeanC, _ = rec.ValueByKey("mean").(float64)
		w.MaxC, _ = rec.ValueByKey("max").(float64)
		n, _ := rec.ValueByKey("count").(float64)
		w.Count = int(n)
		out = append(out, w)
	}
	if res.Err() != nil {
		return nil, errs.Wrap(errs.Internal, res.Err(), "query readings")
	}
	return out, nil
}

// Outside returns the readings outside the band, oldest first. Filtering on values needs no windowing, so
// InfluxDB answers it quickly even for a month of readings.
func (r *Readings) Outside(ctx context.Context, asset string, from, to time.Time, band trace.Band) ([]trace.Sample, error) {
	var cond []string
	if band.MinC != nil {
		cond = append(cond, "r._value < "+fluxFloat(*band.MinC))
	}
	if band.MaxC != nil {
		cond = append(cond, "r._value > "+fluxFloat(*band.MaxC))
	}
	if len(cond) == 0 || !to.After(from) {
		return nil, nil
	}
	q := r.source(asset, from, to) + `
  |> filter(fn: (r) => ` + strings.Join(cond, " or ") + `)
  |> keep(columns: ["_time", "_value"])
  |> limit(n: ` + strconv.Itoa(r.MaxOutside) + `)`
	res, err := r.c.Query().Query(ctx, q)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "query readings outside the band")
	}
	defer res.Close()
	var out []trace.Sample
	for res.Next() {
		rec := res.Record()
		if v, ok := rec.Value().(float64); ok {
			out = append(out, trace.Sample{At: rec.Time().UTC(), TempC: v})
		}
	}
	if res.Err() != nil {
		return nil, errs.Wrap(errs.Internal, res.Err(), "query readings outside the band")
	}
	return out, nil
}

// Fingerprint returns the count and the sum of the readings, computed by InfluxDB without windows.
func (r *Readings) Fingerprint(ctx context.Context, asset string, from, to time.Time) (int64, float64, error) {
	if !to.After(from) {
		return 0, 0, nil
	}
	q := "data = " + r.source(asset, from, to) + `
data |> count() |> yield(name: "count")
data |> sum() |> yield(name: "sum")`
	res, err := r.c.Query().Query(ctx, q)
	if err != nil {
		return 0, 0, errs.Wrap(errs.Internal, err, "count readings")
	}
	defer res.Close()
	var n int64
	var sum float64
	for res.Next() {
		rec := res.Record()
		switch v := rec.Value().(type) {
		case int64:
			if rec.Result() == "count" {
				n += v
			}
		case float64:
			if rec.Result() == "sum" {
				sum += v
			}
		}
	}
	if res.Err() != nil {
		return 0, 0, errs.Wrap(errs.Internal, res.Err(), "count readings")
	}
	return n, sum, nil
}

// fluxFloat writes v as a Flux float literal (a bare "4" would be an integer, which Flux does not compare with
// float fields).
func fluxFloat(v float64) string {
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	return s
}
