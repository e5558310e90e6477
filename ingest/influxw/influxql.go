package influxw

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/internal/coldchain"
	"github.com/suilong/suilong/internal/errs"
)

// On InfluxDB 1.x the summaries of the pages (windows, readings outside a band, counts) are InfluxQL
// statements: the storage engine computes them itself, tens of times faster than 1.8's Flux (package influx
// says why). Caller values are bound parameters; ranges are [from, to) as InfluxQL's own "time < to" keeps them.

// qlWhere is the condition on the asset's (or one sensor's) temp_c readings in [from, to), binding its values
// into params.
func qlWhere(params map[string]any, assetID, sensorID string, from, to time.Time, n int) string {
	w := fmt.Sprintf("time >= $from%d AND time < $to%d", n, n)
	params["from"+strconv.Itoa(n)], params["to"+strconv.Itoa(n)] = from.UnixNano(), to.UnixNano()
	if assetID != "" {
		w += " AND asset_id = $asset"
		params["asset"] = assetID
	}
	if sensorID != "" {
		w += " AND sensor_id = $sensor"
		params["sensor"] = sensorID
	}
	return w
}

// qlDuration writes a duration as an InfluxQL duration literal (whole seconds, else milliseconds).
func qlDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
}

// seriesQL is Series over the spans (sorted, apart): one statement per span in one request, and a window two
// spans share summarises the readings of both.
func (s *Store) seriesQL(ctx context.Context, assetID, sensorID string, spans []ingest.Span, every time.Duration) ([]coldchain.Window, error) {
	if every < time.Millisecond {
		return nil, errs.E(errs.Invalid, "windows of %s are shorter than InfluxDB's millisecond", every)
	}
	params := map[string]any{}
	stmts := make([]string, 0, len(spans))
	for i, sp := range spans {
		stmts = append(stmts, `SELECT min(temp_c), mean(temp_c), max(temp_c), count(temp_c) FROM "reading" WHERE `+
			qlWhere(params, assetID, sensorID, sp.From, sp.To, i)+` GROUP BY time(`+qlDuration(every)+`) fill(none)`)
	}
	rows, err := s.c.QL(ctx, strings.Join(stmts, "; "), params)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "query readings")
	}
	cMin, cMean, cMax, cCount := rows.Col("min"), rows.Col("mean"), rows.Col("max"), rows.Col("count")
	out := make([]coldchain.Window, 0, len(rows.Values))
	for _, v := range rows.Values {
		w := coldchain.Window{Start: time.Unix(0, qlInt(v[0])).UTC(), MinC: qlFloat(v[cMin]), MeanC: qlFloat(v[cMean]),
			MaxC: qlFloat(v[cMax]), Count: int(qlInt(v[cCount]))}
		if w.Count == 0 {
			continue
		}
		if k := len(out) - 1; k >= 0 && out[k].Start.Equal(w.Start) {
			a := out[k]
			n := a.Count + w.Count
			out[k] = coldchain.Window{Start: a.Start, MinC: min(a.MinC, w.MinC), MaxC: max(a.MaxC, w.MaxC), Count: n,
				MeanC: (a.MeanC*float64(a.Count) + w.MeanC*float64(w.Count)) / float64(n)}
			continue
		}
		out = append(out, w)
	}
	return out, nil
}

// outsideQL is Outside: the readings beyond a band's bounds, oldest first.
func (s *Store) outsideQL(ctx context.Context, assetID string, from, to time.Time, band coldchain.Band) ([]coldchain.Sample, error) {
	params := map[string]any{}
	var cond []string
	if band.MinC != nil {
		cond, params["min"] = append(cond, "temp_c < $min"), *band.MinC
	}
	if band.MaxC != nil {
		cond, params["max"] = append(cond, "temp_c > $max"), *band.MaxC
	}
	q := `SELECT temp_c FROM "reading" WHERE ` + qlWhere(params, assetID, "", from, to, 0) + ` AND (` + strings.Join(cond, " OR ") +
		`) ORDER BY time ASC LIMIT ` + strconv.Itoa(s.MaxOutside)
	rows, err := s.c.QL(ctx, q, params)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "query readings outside the band")
	}
	c := rows.Col("temp_c")
	out := make([]coldchain.Sample, 0, len(rows.Values))
	for _, v := range rows.Values {
		if v[c] != nil {
			out = append(out, coldchain.Sample{At: time.Unix(0, qlInt(v[0])).UTC(), TempC: qlFloat(v[c])})
		}
	}
	return out, nil
}

// fingerprintQL is Fingerprint: the number and sum of the readings.
func (s *Store) fingerprintQL(ctx context.Context, assetID string, from, to time.Time) (int64, float64, error) {
	params := map[string]any{}
	rows, err := s.c.QL(ctx, `SELECT count(temp_c), sum(temp_c) FROM "reading" WHERE `+qlWhere(params, assetID, "", from, to, 0), params)
	if err != nil {
		return 0, 0, errs.Wrap(errs.Internal, err, "count readings")
	}
	if len(rows.Values) == 0 {
		return 0, 0, nil
	}
	v := rows.Values[0]
	return qlInt(v[rows.Col("count")]), qlFloat(v[rows.Col("sum")]), nil
}

func qlInt(v any) int64 {
	if n, ok := v.(json.Number); ok {
		if i, err := n.Int64(); err == nil {
			return i
		}
		f, _ := n.Float64()
		return int64(f)
	}
	return 0
}

func qlFloat(v any) float64 {
	if n, ok := v.(json.Number); ok {
		f, _ := n.Float64()
		return f
	}
	return 0
}
