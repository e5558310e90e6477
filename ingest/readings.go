package ingest

import (
	"context"
	"fmt"
	"time"

	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/influx"
)

// ReadingStore queries readings in InfluxDB with Flux. Every piece of caller text that reaches a query goes
// through influx.FluxString.
type ReadingStore struct {
	c *influx.Client
}

// NewReadingStore returns a store on c.
func NewReadingStore(c *influx.Client) *ReadingStore { return &ReadingStore{c: c} }

// WindowPoint is one window of a downsampled temperature series.
type WindowPoint struct {
	Time  time.Time `json:"time"` // start of the window
	MinC  float64   `json:"min_c"`
	MeanC float64   `json:"mean_c"`
	MaxC  float64   `json:"max_c"`
	Count int       `json:"count"` // readings in the window
}

// MaxWindows bounds how many windows one series query may return.
const MaxWindows = 10000

// fluxDuration formats a duration as a Flux duration literal.
func fluxDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return fmt.Sprintf("%dms", d/time.Millisecond)
}

// SeriesFilter narrows a series to one sensor of the asset.
type SeriesFilter struct {
	SensorID string
}

// Series returns the asset's temperature from all its sensors in [from, to), downsampled in InfluxDB to
// windows of `every` with min, mean and max (Flux aggregateWindow). Windows without readings are left out.
// Errors: Unprocessable for a bad range or a window too small for it.
func (s *ReadingStore) Series(ctx context.Context, assetID string, from, to time.Time, every time.Duration) ([]WindowPoint, error) {
	return s.SeriesOf(ctx, assetID, SeriesFilter{}, from, to, every)
}

// SeriesOf is Series, optionally for one sensor of the asset.
func (s *ReadingStore) SeriesOf(ctx context.Context, assetID string, f SeriesFilter, from, to time.Time, every time.Duration) ([]WindowPoint, error) {
	if err := checkSeries(from, to, every); err != nil {
		return nil, err
	}
	data := fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => %s)
  |> group()`, influx.FluxString(s.c.Bucket), influx.FluxTime(from), influx.FluxTime(to), seriesFilter(assetID, f))
	return s.series(ctx, data, every)
}

// SeriesIn is SeriesOf over the spans only (sorted, apart, each with a To): readings outside them are left out
// before anything is summarised. Windows are aligned as in SeriesOf, and one that straddles two spans
// summarises the readings of both. Errors: Unprocessable as SeriesOf, for the range from the first span's
// start to the last one's end.
func (s *ReadingStore) SeriesIn(ctx context.Context, assetID string, f SeriesFilter, spans []Span, every time.Duration) ([]WindowPoint, error) {
	if len(spans) == 0 {
		return nil, nil
	}
	from, to := spans[0].From, spans[len(spans)-1].To
	if err := checkSeries(from, to, every); err != nil {
		return nil, err
	}
	// One read of the whole range (the first filter is pushed down to storage), then a second filter keeps
	// the spans. Each span's end stays out, also on InfluxDB 1.8, whose range() includes its stop
	// (influxdata/influxdb#19966): a reading at the end of a span may be in no one's period.
	data := fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => %s)
  |> filter(fn: (r) => %s)
  |> group()`, influx.FluxString(s.c.Bucket), influx.FluxTime(from), influx.FluxTime(to), seriesFilter(assetID, f), inSpans(spans))
	return s.series(ctx, data, every)
}

// inSpans is a Flux predicate: r._time lies in one of the spans. It is a balanced tree of conditionals, so a
// row costs a few comparisons however many spans there are (a union of one query per span grows much faster
// than linearly on InfluxDB 1.8).
func inSpans(spans []Span) string {
	if len(spans) == 1 {
		return fmt.Sprintf("(r._time >= %s and r._time < %s)", influx.FluxTime(spans[0].From), influx.FluxTime(spans[0].To))
	}
	mid := len(spans) / 2
	return fmt.Sprintf("(if r._time < %s then %s else %s)", influx.FluxTime(spans[mid].From), inSpans(spans[:mid]), inSpans(spans[mid:]))
}

func checkSeries(from, to time.Time, every time.Duration) error {
	var fe errs.FieldErrors
	if !to.After(from) {
		fe.Add("to", "must be after from")
	}
	if every < time.Second {
		fe.Add("every", "must be at least 1s")
	} else if to.Sub(from)/every > MaxWindows {
		fe.Add("every", "too small for the range: at most %d windows", MaxWindows)
	}
	return fe.Err()
}

func seriesFilter(assetID string, f SeriesFilter) string {
	filter := `r._measurement == "reading" and r._field == "temp_c" and r.asset_id == ` + influx.FluxString(assetID)
	if f.SensorID != "" {
		filter += ` and r.sensor_id == ` + influx.FluxString(f.SensorID)
	}
	return filter
}

// series downsamples data (a Flux expression of one table of temp_c readings) into windows of every.
func (s *ReadingStore) series(ctx context.Context, data string, every time.Duration) ([]WindowPoint, error) {
	ev := fluxDuration(every)
	agg := func(fn string) string {
		return fmt.Sprintf(`data |> aggregateWindow(every: %s, fn: %s, createEmpty: false, timeSrc: "_start") |> toFloat() |> set(key: "agg", value: "%s")`, ev, fn, fn)
	}
	q := fmt.Sprintf(`data = %s
mn = %s
me = %s
mx = %s
ct = %s
union(tables: [mn, me, mx, ct])
  |> pivot(rowKey: ["_time"], columnKey: ["agg"], valueColumn: "_value")
  |> keep(columns: ["_time", "min", "mean", "max", "count"])
  |> sort(columns: ["_time"])`,
		data, agg("min"), agg("mean"), agg("max"), agg("count"))
	res, err := s.c.Query().Query(ctx, q)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "query readings")
	}
	defer res.Close()
	var out []WindowPoint
	for res.Next() {
		r := res.Record()
		p := WindowPoint{Time: r.Time().UTC()}
		p.MinC, _ = r.ValueByKey("min").(float64)
		p.MeanC, _ = r.ValueByKey("mean").(float64)
		p.MaxC, _ = r.ValueByKey("max").(float64)
		c, _ := r.ValueByKey("count").(float64)
		p.Count = int(c)
		out = append(out, p)
	}
	if res.Err() != nil {
		return nil, errs.Wrap(errs.Internal, res.Err(), "query readings")
	}
	return out, nil
}

// RawSample is one stored reading as the rules see it.
type RawSample struct {
	SensorID string
	AssetID  string
	TS       time.Time
	TempC    float64
	Door     *bool
}

// Samples calls fn for every reading with a temperature in [from, to), all sensors.
func (s *ReadingStore) Samples(ctx context.Context, from, to time.Time, fn func(RawSample)) error {
	q := fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == "reading" and (r._field == "temp_c" or r._field == "door_open"))
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> keep(columns: ["_time", "sensor_id", "asset_id", "temp_c", "door_open"])`,
		influx.FluxString(s.c.Bucket), influx.FluxTime(from), influx.FluxTime(to))
	res, err := s.c.Query().Query(ctx, q)
	if err != nil {
		return fmt.Errorf("query samples: %w", err)
	}
	defer res.Close()
	for res.Next() {
		r := res.Record()
		t, ok := r.ValueByKey("temp_c").(float64)
		if !ok {
			continue
		}
		x := RawSample{TS: r.Time(), TempC: t}
		x.SensorID, _ = r.ValueByKey("sensor_id").(string)
		x.AssetID, _ = r.ValueByKey("asset_id").(string)
		if d, ok := r.ValueByKey("door_open").(bool); ok {
			x.Door = &d
		}
		fn(x)
	}
	return res.Err()
}

// Count returns how many readings (temp_c values) are stored in [from, to), optionally for one asset.
func (s *ReadingStore) Count(ctx context.Context, assetID string, from, to time.Time) (int64, error) {
	filter := `r._measurement == "reading" and r._field == "temp_c"`
	if assetID != "" {
		filter += ` and r.asset_id == ` + influx.FluxString(assetID)
	}
	q := fmt.Sprintf(`from(bucket: %s) |> range(start: %s, stop: %s) |> filter(fn: (r) => %s) |> group() |> count()`,
		influx.FluxString(s.c.Bucket), influx.FluxTime(from), influx.FluxTime(to), filter)
	res, err := s.c.Query().Query(ctx, q)
	if err != nil {
		return 0, fmt.Errorf("count readings: %w", err)
	}
	defer res.Close()
	var n int64
	for res.Next() {
		if v, ok := res.Record().Value().(int64); ok {
			n += v
		}
	}
	return n, res.Err()
}
