package ingest

import (
	"context"
	"errors"
	"testing"
	"time"
)

type lateRecorder struct {
	got  [][]AssetReadings
	fail bool
}

func (r *lateRecorder) ReadingsArrivedLate(_ context.Context, rs []AssetReadings) error {
	if r.fail {
		return errors.New("postgres away")
	}
	r.got = append(r.got, rs)
	return nil
}

// Only readings older than the horizon are passed on, one stretch per asset from the oldest to the newest
// (asset ids with characters line protocol escapes included); a failed flush keeps them for the next.
func TestLateFindsOldReadings(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	sink := &lateRecorder{}
	l := NewLate(sink, 9*time.Minute, nil, nil)
	l.now = func() time.Time { return now }
	line := func(asset string, at time.Time) []byte {
		r := Reading{SensorID: "S-1", TS: at, TempC: 3}
		return AppendLine(nil, &r, Placement{AssetID: asset, AssetKind: "truck", GatewayID: "GW"})
	}
	var batch []byte
	batch = append(batch, line("LY-TRK-1", now.Add(-time.Minute))...) // fresh: not late
	batch = append(batch, line("LY-TRK-1", now.Add(-2*time.Hour))...)
	batch = append(batch, line("LY-TRK-1", now.Add(-3*time.Hour))...)
	batch = append(batch, line("冷库 A,1=x", now.Add(-10*time.Minute))...)
	l.Note(batch)
	l.Note(line("LY-TRK-1", now.Add(-90*time.Minute)))

	sink.fail = true
	if err := l.Flush(context.Background()); err == nil {
		t.Fatal("a failed flush reported success")
	}
	sink.fail = false
	if err := l.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(sink.got) != 1 || len(sink.got[0]) != 2 {
		t.Fatalf("flushed %+v, want one flush of two assets", sink.got)
	}
	by := map[string]AssetReadings{}
	for _, r := range sink.got[0] {
		by[r.AssetID] = r
	}
	if r := by["LY-TRK-1"]; !r.From.Equal(now.Add(-3*time.Hour)) || !r.To.Equal(now.Add(-90*time.Minute)) {
		t.Errorf("truck stretch %+v", r)
	}
	if r := by["冷库 A,1=x"]; !r.From.Equal(now.Add(-10*time.Minute)) || !r.To.Equal(r.From) {
		t.Errorf("escaped asset id: %+v (all: %+v)", r, sink.got[0])
	}
	if err := l.Flush(context.Background()); err != nil || len(sink.got) != 1 {
		t.Errorf("an empty flush called the sink: %+v %v", sink.got, err)
	}
}
