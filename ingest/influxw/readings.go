package influxw

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/internal/coldchain"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/influx"
	"github.com/suilong/suilong/trace"
)

// Store is Suilong's one way to InfluxDB: it writes ingest's line protocol (Writer) and reads the readings back
// for ingest (ingest.Readings) and for traceability (trace.Readings), all with the schema of DESIGN.md
// (measurement "reading", tags asset_id and sensor_id, field temp_c). Every range is [from, to): InfluxDB 1.8's
// range() includes its stop (influxdata/influxdb#19966), so each query leaves it out itself, and a reading
// exactly at the end of a leg belongs to the next one only. Every piece of caller text in a query goes through
// influx.FluxString.
type Store struct {
	*Writer
	c *influx.Client
	// MaxOutside bounds the out-of-band readings of one query: a lot kept at the wrong temperature for a month
	// would otherwise pull every reading.
	MaxOutside int
	// InfluxQL sends the summaries (Series, Outside, Fingerprint) as InfluxQL rather than Flux: on for InfluxDB
	// 1.x (influx.Client.V1), where it is native and tens of times faster.
	InfluxQL bool
}

// NewStore returns the store on c's bucket.
func NewStore(c *influx.Client) *Store {
	return &Store{Writer: New(c), c: c, MaxOutside: 500_000, InfluxQL: c.V1()}
}

var (
	_ ingest.Readings    = (*Store)(nil)
	_ ingest.PointWriter = (*Store)(nil)
	_ trace.Readings     = (*Store)(nil)
	_ trace.RawReadings  = (*Store)(nil)
)

// source is the Flux source of an asset's temp_c readings in [from, to), optionally of one sensor and only in
// some spans (sorted, apart).
func (s *Store) source(assetID, sensorID string, from, to time.Time, spans []ingest.Span) string {
	filter := `r._measurement == "reading" and r._field == "temp_c"`
	if assetID != "" {
		filter += ` and r.asset_id == ` + influx.FluxString(assetID)
	}
	if sensorID != "" {
		filter += ` and r.sensor_id == ` + influx.FluxString(sensorID)
	}
	// The first filter is pushed down to storage; the second keeps the range half-open and the spans.
	within := "r._time < " + influx.FluxTime(to)
	if len(spans) > 0 {
		within = inSpans(spans)
	}
	return fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => %s)
  |> filter(fn: (r) => %s)`, influx.FluxString(s.c.Bucket), influx.FluxTime(from), influx.FluxTime(to), filter, within)
}

// inSpans is a Flux predicate: r._time lies in one of the spans. It is a balanced tree of conditionals, so a
// row costs a few comparisons however many spans there are (a union of one query per span grows much faster
// than linearly on InfluxDB 1.8).
func inSpans(spans []ingest.Span) string {
	if len(spans) == 1 {
		return fmt.Sprintf("(r._time >= %s and r._time < %s)", influx.FluxTime(spans[0].From), influx.FluxTime(spans[0].To))
	}
	mid := len(spans) / 2
	return fmt.Sprintf("(if r._time < %s then %s else %s)", influx.FluxTime(spans[mid].From), inSpans(spans[:mid]), inSpans(spans[mid:]))
}

// fluxDuration writes a duration as a Flux duration literal (whole seconds, else milliseconds).
func fluxDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
}

// Series is the one aggregate query: windows of every (aligned to the Unix epoch, at least 1 ms), each with
// the minimum, mean, maximum and count of the asset's readings in it, all its sensors together; windows without
// readings are left out; an empty range has none.
func (s *Store) Series(ctx context.Context, assetID string, from, to time.Time, every time.Duration) ([]coldchain.Window, error) {
	return s.SeriesOf(ctx, assetID, ingest.SeriesFilter{}, from, to, every)
}

// SeriesOf is Series, optionally for one sensor of the asset.
func (s *Store) SeriesOf(ctx context.Context, assetID string, f ingest.SeriesFilter, from, to time.Time, every time.Duration) ([]coldchain.Window, error) {
	if !to.After(from) {
		return nil, nil
	}
	if s.InfluxQL {
		return s.seriesQL(ctx, assetID, f.SensorID, []ingest.Span{{From: from, To: to}}, every)
	}
	return s.aggregate(ctx, s.source(assetID, f.SensorID, from, to, nil), every)
}

// SeriesIn is SeriesOf over the spans only (sorted, apart, each with a To): readings outside them are left out
// before anything is summarised. A window that straddles two spans summarises the readings of both.
func (s *Store) SeriesIn(ctx context.Context, assetID string, f ingest.SeriesFilter, spans []ingest.Span, every time.Duration) ([]coldchain.Window, error) {
	if len(spans) == 0 {
		return nil, nil
	}
	if s.InfluxQL {
		return s.seriesQL(ctx, assetID, f.SensorID, spans, every)
	}
	return s.aggregate(ctx, s.source(assetID, f.SensorID, spans[0].From, spans[len(spans)-1].To, spans), every)
}

func (s *Store) aggregate(ctx context.Context, data string, every time.Duration) ([]coldchain.Window, error) {
	if every < time.Millisecond {
		return nil, errs.E(errs.Invalid, "windows of %s are shorter than InfluxDB's millisecond", every)
	}
	ev := fluxDuration(every)
	agg := func(fn string) string {
		return fmt.Sprintf(`data |> aggregateWindow(every: %s, fn: %s, createEmpty: false, timeSrc: "_start") |> toFloat() |> set(key: "agg", value: "%s")`, ev, fn, fn)
	}
	q := "data = " + data + "\n  |> group()\n" +
		"union(tables: [" + agg("min") + ", " + agg("mean") + ", " + agg("max") + ", " + agg("count") + `])
  |> pivot(rowKey: ["_time"], columnKey: ["agg"], valueColumn: "_value")
  |> keep(columns: ["_time", "min", "mean", "max", "count"])
  |> sort(columns: ["_time"])`
	res, err := s.c.Query().Query(ctx, q)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "query readings")
	}
	defer res.Close()
	var out []coldchain.Window
	for res.Next() {
		r := res.Record()
		w := coldchain.Window{Start: r.Time().UTC()}
		w.MinC, _ = r.ValueByKey("min").(float64)
		w.MeanC, _ = r.ValueByKey("mean").(float64)
		w.MaxC, _ = r.ValueByKey("max").(float64)
		n, _ := r.ValueByKey("count").(float64)
		w.Count = int(n)
		out = append(out, w)
	}
	if res.Err() != nil {
		return nil, errs.Wrap(errs.Internal, res.Err(), "query readings")
	}
	return out, nil
}

// Outside returns the asset's readings in [from, to) outside the band, oldest first. Filtering on values needs
// no windowing, so InfluxDB answers it quickly even for a month of readings.
func (s *Store) Outside(ctx context.Context, assetID string, from, to time.Time, band coldchain.Band) ([]coldchain.Sample, error) {
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
	if s.InfluxQL {
		return s.outsideQL(ctx, assetID, from, to, band)
	}
	q := s.source(assetID, "", from, to, nil) + `
  |> filter(fn: (r) => ` + strings.Join(cond, " or ") + `)
  |> group()
  |> sort(columns: ["_time"])
  |> keep(columns: ["_time", "_value"])
  |> limit(n: ` + strconv.Itoa(s.MaxOutside) + `)`
	res, err := s.c.Query().Query(ctx, q)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "query readings outside the band")
	}
	defer res.Close()
	var out []coldchain.Sample
	for res.Next() {
		rec := res.Record()
		if v, ok := rec.Value().(float64); ok {
			out = append(out, coldchain.Sample{At: rec.Time().UTC(), TempC: v})
		}
	}
	if res.Err() != nil {
		return nil, errs.Wrap(errs.Internal, res.Err(), "query readings outside the band")
	}
	return out, nil
}

// Fingerprint returns the number and the sum of the asset's readings in [from, to), computed by InfluxDB
// without windows: cheap, and it changes when readings arrive late.
func (s *Store) Fingerprint(ctx context.Context, assetID string, from, to time.Time) (int64, float64, error) {
	if !to.After(from) {
		return 0, 0, nil
	}
	if s.InfluxQL {
		return s.fingerprintQL(ctx, assetID, from, to)
	}
	q := "data = " + s.source(assetID, "", from, to, nil) + ` |> group()
data |> count() |> yield(name: "count")
data |> sum() |> yield(name: "sum")`
	res, err := s.c.Query().Query(ctx, q)
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

// Count returns how many readings (temp_c values) are stored in [from, to), of one asset or ("") of all.
func (s *Store) Count(ctx context.Context, assetID string, from, to time.Time) (int64, error) {
	n, _, err := s.Fingerprint(ctx, assetID, from, to)
	return n, err
}

// Samples calls fn for every reading with a temperature in [from, to), all sensors, with its door state.
func (s *Store) Samples(ctx context.Context, from, to time.Time, fn func(ingest.RawSample)) error {
	if !to.After(from) {
		return nil
	}
	q := fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == "reading" and (r._field == "temp_c" or r._field == "door_open"))
  |> filter(fn: (r) => r._time < %s)
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> keep(columns: ["_time", "sensor_id", "asset_id", "temp_c", "door_open"])`,
		influx.FluxString(s.c.Bucket), influx.FluxTime(from), influx.FluxTime(to), influx.FluxTime(to))
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
		x := ingest.RawSample{TS: r.Time(), TempC: t}
		x.SensorID, _ = r.ValueByKey("sensor_id").(string)
		x.AssetID, _ = r.ValueByKey("asset_id").(string)
		if d, ok := r.ValueByKey("door_open").(bool); ok {
			x.Door = &d
		}
		fn(x)
	}
	return res.Err()
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

// Raw returns up to limit of the asset's readings in [from, to), each sensor's own, by time then sensor, and
// whether there were more: the lot's compliance record, at the resolution the readings were taken.
func (s *Store) Raw(ctx context.Context, assetID string, from, to time.Time, limit int) ([]trace.Reading, bool, error) {
	if !to.After(from) || limit <= 0 {
		return nil, false, nil
	}
	q := s.source(assetID, "", from, to, nil) + `
  |> keep(columns: ["_time", "_value", "sensor_id"])
  |> group()
  |> sort(columns: ["_time", "sensor_id"])
  |> limit(n: ` + strconv.Itoa(limit+1) + `)`
	res, err := s.c.Query().Query(ctx, q)
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
