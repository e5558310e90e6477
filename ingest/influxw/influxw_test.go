package influxw_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/ingest/influxw"
	"github.com/suilong/suilong/internal/coldchain"
	"github.com/suilong/suilong/internal/influx"
	"github.com/suilong/suilong/internal/influx/influxtest"
)

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func at(min float64) time.Time { return t0.Add(time.Duration(min * float64(time.Minute))) }

func line(asset, sensor string, ts time.Time, temp float64, extra string) string {
	return fmt.Sprintf("reading,asset_id=%s,asset_kind=truck,gateway_id=GW,sensor_id=%s temp_c=%g%s %d\n", asset, sensor, temp, extra, ts.UnixNano())
}

// store writes, through the adapter itself, a reading a minute from 10:00 to 11:00 inclusive for two sensors of
// one truck (sensor A at m/10 °C, sensor B at 5 + m/10), and one reading of another truck.
func store(t *testing.T) *influxw.Store {
	t.Helper()
	s := influxw.NewStore(influxtest.New(t))
	var b strings.Builder
	for m := 0; m <= 60; m++ {
		b.WriteString(line("TRK-1", "TRK-1-A", at(float64(m)), float64(m)/10, ""))
		b.WriteString(line("TRK-1", "TRK-1-B", at(float64(m)), 5+float64(m)/10, fmt.Sprintf(",door_open=%t", m == 30)))
	}
	b.WriteString(line("TRK-2", "TRK-2-A", at(5), 1, ""))
	if err := s.WriteLines(context.Background(), []byte(b.String())); err != nil {
		t.Fatal(err)
	}
	return s
}

// bothLanguages runs a test against the store speaking InfluxQL (as it does to InfluxDB 1.x) and Flux (as to
// 2.x), on the same InfluxDB.
func bothLanguages(t *testing.T, test func(t *testing.T, s *influxw.Store)) {
	for _, ql := range []bool{true, false} {
		t.Run(map[bool]string{true: "influxql", false: "flux"}[ql], func(t *testing.T) {
			s := store(t)
			s.InfluxQL = ql
			test(t, s)
		})
	}
}

// Every query reads [from, to): a reading exactly at from counts, one exactly at to does not, whatever InfluxDB
// 1.8's range() does with its stop. A leg's summary and its fingerprint therefore count the same readings.
func TestRangesAreHalfOpen(t *testing.T) { bothLanguages(t, testRangesAreHalfOpen) }

func testRangesAreHalfOpen(t *testing.T, s *influxw.Store) {
	ctx := context.Background()
	ws, err := s.Series(ctx, "TRK-1", at(0), at(60), 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 6 {
		t.Fatalf("%d windows in [10:00, 11:00) by 10 min, want 6: %+v", len(ws), ws)
	}
	total := 0
	for i, w := range ws {
		if !w.Start.Equal(at(float64(10 * i))) {
			t.Fatalf("window %d starts %s", i, w.Start)
		}
		total += w.Count
	}
	n, sum, err := s.Fingerprint(ctx, "TRK-1", at(0), at(60))
	if err != nil {
		t.Fatal(err)
	}
	if total != 120 || n != 120 {
		t.Fatalf("windows count %d readings, the fingerprint %d; want 120 (60 minutes × 2 sensors, 11:00 left out)", total, n)
	}
	if want := 2*(59.0*60/2)/10 + 60*5; fmt.Sprintf("%.6f", sum) != fmt.Sprintf("%.6f", want) {
		t.Fatalf("sum %v, want %v", sum, want)
	}
	if c, _ := s.Count(ctx, "TRK-1", at(60), at(61)); c != 2 {
		t.Fatalf("the readings at 11:00 belong to the range that starts there: %d, want 2", c)
	}
	if c, _ := s.Count(ctx, "", at(0), at(61)); c != 123 {
		t.Fatalf("all assets: %d, want 123", c)
	}
	// The first window: sensor A 0.0…0.9, sensor B 5.0…5.9.
	w := ws[0]
	if w.MinC != 0 || w.MaxC != 5.9 || w.Count != 20 || fmt.Sprintf("%.2f", w.MeanC) != "2.95" {
		t.Fatalf("first window %+v", w)
	}
}

func TestEmptyRangesAndShortWindows(t *testing.T) { bothLanguages(t, testEmptyRangesAndShortWindows) }

func testEmptyRangesAndShortWindows(t *testing.T, s *influxw.Store) {
	ctx := context.Background()
	for _, r := range [][2]time.Time{{at(10), at(10)}, {at(20), at(10)}} {
		ws, err := s.Series(ctx, "TRK-1", r[0], r[1], time.Minute)
		if err != nil || ws != nil {
			t.Fatalf("empty range %v: %v %v", r, ws, err)
		}
		if n, sum, err := s.Fingerprint(ctx, "TRK-1", r[0], r[1]); err != nil || n != 0 || sum != 0 {
			t.Fatalf("fingerprint of an empty range: %d %v %v", n, sum, err)
		}
		if out, err := s.Outside(ctx, "TRK-1", r[0], r[1], band(0, 4)); err != nil || out != nil {
			t.Fatalf("outside in an empty range: %v %v", out, err)
		}
	}
	// Sub-second windows are InfluxDB's to compute, to the millisecond.
	ws, err := s.Series(ctx, "TRK-1", at(0), at(2), 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 2 || ws[0].Count != 2 || !ws[1].Start.Equal(at(1)) {
		t.Fatalf("half-second windows: %+v", ws)
	}
	if _, err := s.Series(ctx, "TRK-1", at(0), at(2), time.Microsecond); err == nil {
		t.Fatal("microsecond windows were accepted")
	}
}

func band(lo, hi float64) coldchain.Band { return coldchain.Band{MinC: &lo, MaxC: &hi} }

func TestSensorSpansOutsideAndSamples(t *testing.T) {
	bothLanguages(t, testSensorSpansOutsideAndSamples)
}

func testSensorSpansOutsideAndSamples(t *testing.T, s *influxw.Store) {
	ctx := context.Background()
	ws, err := s.SeriesOf(ctx, "TRK-1", ingest.SeriesFilter{SensorID: "TRK-1-B"}, at(0), at(60), time.Hour)
	if err != nil || len(ws) != 1 || ws[0].Count != 60 || ws[0].MinC != 5 {
		t.Fatalf("one sensor: %+v %v", ws, err)
	}
	ws, err = s.SeriesIn(ctx, "TRK-1", ingest.SeriesFilter{SensorID: "TRK-1-A"},
		[]ingest.Span{{From: at(10), To: at(15)}, {From: at(40), To: at(42)}}, time.Hour)
	if err != nil || len(ws) != 1 || ws[0].Count != 7 || ws[0].MinC != 1 || ws[0].MaxC != 4.1 {
		t.Fatalf("two spans: %+v %v", ws, err)
	}
	// Above 9.5 °C: sensor B from 10:46 on (5 + 4.6) up to 10:59; oldest first across both sensors.
	out, err := s.Outside(ctx, "TRK-1", at(0), at(60), band(0, 9.5))
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 14 || !out[0].At.Equal(at(46)) || out[13].TempC != 10.9 {
		t.Fatalf("outside: %d %+v", len(out), out)
	}
	for i := 1; i < len(out); i++ {
		if out[i].At.Before(out[i-1].At) {
			t.Fatalf("outside not oldest first at %d: %+v", i, out)
		}
	}
	doors := 0
	n := 0
	if err := s.Samples(ctx, at(0), at(60), func(x ingest.RawSample) {
		n++
		if x.Door != nil && *x.Door {
			doors++
			if x.SensorID != "TRK-1-B" || !x.TS.Equal(at(30)) {
				t.Errorf("door open on %+v", x)
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	if n != 121 || doors != 1 {
		t.Fatalf("samples %d (want 121), open doors %d", n, doors)
	}
}

// A failed write says what kind of failure it was: the pipeline dead-letters only what InfluxDB refuses as
// data, splits what is too large, and keeps everything else for another try.
func TestWriteFailuresAreClassified(t *testing.T) {
	ctx := context.Background()
	ic := influxtest.New(t)
	s := influxw.NewStore(ic)
	status := func(err error) string {
		var we *ingest.WriteError
		if !errors.As(err, &we) {
			t.Fatalf("%v is not a WriteError", err)
		}
		return we.Status
	}
	if err := s.WriteLines(ctx, []byte(line("TRK-1", "TRK-1-A", t0, 1, ",battery_pct=80"))); err != nil {
		t.Fatal(err)
	}
	err := s.WriteLines(ctx, []byte(line("TRK-1", "TRK-1-A", t0.Add(time.Second), 1, `,battery_pct="low"`)))
	if !errors.Is(err, ingest.ErrRejected) || status(err) != "400" || !strings.Contains(err.Error(), "field type conflict") {
		t.Fatalf("type conflict: %v", err)
	}
	gone := influxw.NewStore(influx.New(influx.Config{URL: ic.URL, Bucket: "no_such_db/autogen"}))
	if err := gone.WriteLines(ctx, []byte(line("A", "A-1", t0, 1, ""))); status(err) != "404" || errors.Is(err, ingest.ErrRejected) {
		t.Fatalf("missing database: %v", err)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := l.Addr().String()
	l.Close()
	refused := influxw.NewStore(influx.New(influx.Config{URL: "http://" + closed, Bucket: "x/autogen"}))
	if err := refused.WriteLines(ctx, []byte(line("A", "A-1", t0, 1, ""))); status(err) != "refused" {
		t.Fatalf("nothing listening: %v", err)
	}
	nowhere := influxw.NewStore(influx.New(influx.Config{URL: "http://no-such-host.invalid:8086", Bucket: "x/autogen"}))
	if err := nowhere.WriteLines(ctx, []byte(line("A", "A-1", t0, 1, ""))); status(err) != "dns" {
		t.Fatalf("unknown host: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, time.Nanosecond)
	defer cancel()
	time.Sleep(time.Millisecond)
	if err := s.WriteLines(short, []byte(line("A", "A-1", t0, 1, ""))); status(err) != "timeout" {
		t.Fatalf("deadline passed: %v", err)
	}
}

// An asset id is data in either language: quotes and operators in it select nothing.
func TestCallerTextIsData(t *testing.T) { bothLanguages(t, testCallerTextIsData) }

func testCallerTextIsData(t *testing.T, s *influxw.Store) {
	ctx := context.Background()
	for _, id := range []string{`TRK-1' OR asset_id = 'TRK-2`, `TRK-1" or r.asset_id == "TRK-2`, `$asset`, `TRK-1; DROP DATABASE x`} {
		ws, err := s.Series(ctx, id, at(0), at(61), time.Hour)
		if err != nil || len(ws) != 0 {
			t.Errorf("series of %q: %+v %v", id, ws, err)
		}
		if n, err := s.Count(ctx, id, at(0), at(61)); err != nil || n != 0 {
			t.Errorf("count of %q: %d %v", id, n, err)
		}
		if out, err := s.Outside(ctx, id, at(0), at(61), band(0, 1)); err != nil || len(out) != 0 {
			t.Errorf("outside of %q: %d %v", id, len(out), err)
		}
	}
	if n, _ := s.Count(ctx, "TRK-1", at(0), at(61)); n != 122 {
		t.Errorf("TRK-1 has %d readings after all that, want 122", n)
	}
}
