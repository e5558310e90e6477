package rules

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)

// leafy is the 0–4 °C band of leafy greens.
var leafy = [2]float32{0, 4}

// frozen is the ≤ −18 °C band of frozen goods.
var frozen = [2]float32{float32(math.Inf(-1)), -18}

func at(min float64) int64 { return t0.Add(time.Duration(min * float64(time.Minute))).UnixMilli() }

func tm(min float64) time.Time { return time.UnixMilli(at(min)).UTC() }

// series builds one sample a minute from minute `from` to `to` (inclusive) at temp.
func series(from, to int, temp float32, band [2]float32) []Sample {
	var out []Sample
	for m := from; m <= to; m++ {
		out = append(out, Sample{TS: at(float64(m)), TempC: temp, Lo: band[0], Hi: band[1]})
	}
	return out
}

func concat(parts ...[]Sample) []Sample { return slices.Concat(parts...) }

// result applies Drain outputs: the final view of each alarm, withdrawn ones removed.
type result map[string]Alarm

func (r result) apply(as []Alarm) {
	for _, a := range as {
		k := fmt.Sprintf("%s/%s/%d", a.SensorID, a.Kind, a.Start.UnixMilli())
		if a.Withdrawn {
			delete(r, k)
		} else {
			r[k] = a
		}
	}
}

func (r result) sorted() []Alarm {
	var out []Alarm
	for _, a := range r {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b Alarm) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		if a.SensorID != b.SensorID {
			if a.SensorID < b.SensorID {
				return -1
			}
			return 1
		}
		if a.Kind < b.Kind {
			return -1
		}
		return 1
	})
	return out
}

func run(cfg Config, samples []Sample) []Alarm {
	e := New(cfg)
	r := result{}
	for _, s := range samples {
		e.Observe("S1", "A1", s)
		r.apply(e.Drain())
	}
	return r.sorted()
}

func TestRules(t *testing.T) {
	cfg := Config{OpenAfter: 15 * time.Minute, CloseAfter: 10 * time.Minute, DoorLimit: 10 * time.Minute}
	inf := math.Inf(1)
	tests := []struct {
		name    string
		samples []Sample
		want    []Alarm
	}{
		{
			name:    "in band all along",
			samples: series(0, 120, 3, leafy),
		},
		{
			name:    "a short spike is no excursion",
			samples: concat(series(0, 9, 3, leafy), series(10, 20, 7, leafy), series(21, 60, 3, leafy)),
		},
		{
			name:    "excursion: start, raise after 15 min, end when back, peak and degree-minutes",
			samples: concat(series(0, 9, 3, leafy), series(10, 20, 6, leafy), series(21, 30, 8, leafy), series(31, 60, 3, leafy)),
			want: []Alarm{{SensorID: "S1", AssetID: "A1", Kind: Excursion, Start: tm(10), RaisedAt: tm(25), End: tm(31),
				PeakC: 8, BandLo: 0, BandHi: 4, DegreeMinutes: 11*2 + 10*4}},
		},
		{
			name:    "below the band counts too",
			samples: concat(series(0, 30, -2, leafy), series(31, 50, 1, leafy)),
			want: []Alarm{{SensorID: "S1", AssetID: "A1", Kind: Excursion, Start: tm(0), RaisedAt: tm(15), End: tm(31),
				PeakC: -2, BandLo: 0, BandHi: 4, DegreeMinutes: 31 * 2}},
		},
		{
			name: "a brief return inside does not end it",
			samples: concat(series(0, 10, 6, leafy), series(11, 15, 3, leafy), series(16, 30, 6, leafy),
				series(31, 50, 3, leafy)),
			want: []Alarm{{SensorID: "S1", AssetID: "A1", Kind: Excursion, Start: tm(0), RaisedAt: tm(16), End: tm(31),
				PeakC: 6, BandLo: 0, BandHi: 4, DegreeMinutes: 26 * 2}},
		},
		{
			name: "back inside for the close time splits it in two",
			samples: concat(series(0, 20, 6, leafy), series(21, 31, 3, leafy), series(32, 52, 6, leafy),
				series(53, 70, 3, leafy)),
			want: []Alarm{
				{SensorID: "S1", AssetID: "A1", Kind: Excursion, Start: tm(0), RaisedAt: tm(15), End: tm(21), PeakC: 6,
					BandHi: 4, DegreeMinutes: 42},
				{SensorID: "S1", AssetID: "A1", Kind: Excursion, Start: tm(32), RaisedAt: tm(47), End: tm(53), PeakC: 6,
					BandHi: 4, DegreeMinutes: 42},
			},
		},
		{
			name:    "still outside at the end: ongoing",
			samples: concat(series(0, 5, -20, frozen), series(6, 40, -12.5, frozen)),
			want: []Alarm{{SensorID: "S1", AssetID: "A1", Kind: Excursion, Start: tm(6), RaisedAt: tm(21), PeakC: -12.5,
				BandLo: math.Inf(-1), BandHi: -18, DegreeMinutes: 34 * 5.5}},
		},
		{
			name:    "no band configured: never an excursion",
			samples: series(0, 60, 25, NoBand),
		},
		{
			name: "door open too long",
			samples: concat(door(0, 4, DoorClosed), door(5, 17, DoorOpened), door(18, 20, DoorClosed),
				door(30, 35, DoorOpened), door(36, 40, DoorClosed)),
			want: []Alarm{{SensorID: "S1", AssetID: "A1", Kind: DoorOpen, Start: tm(5), RaisedAt: tm(15), End: tm(18),
				BandLo: 0, BandHi: 0}},
		},
		{
			name:    "door still open",
			samples: concat(door(0, 4, DoorClosed), door(5, 30, DoorOpened)),
			want:    []Alarm{{SensorID: "S1", AssetID: "A1", Kind: DoorOpen, Start: tm(5), RaisedAt: tm(15)}},
		},
		{
			name: "readings without a door field leave the door alone",
			samples: concat(door(0, 0, DoorOpened), series(1, 9, 3, leafy), door(10, 10, DoorOpened),
				door(11, 11, DoorClosed)),
			want: []Alarm{{SensorID: "S1", AssetID: "A1", Kind: DoorOpen, Start: tm(0), RaisedAt: tm(10), End: tm(11)}},
		},
	}
	_ = inf
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := run(cfg, tt.samples)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d alarms %+v, want %d %+v", len(got), got, len(tt.want), tt.want)
			}
			for i := range got {
				if !reflect.DeepEqual(got[i], tt.want[i]) {
					t.Errorf("alarm %d\n got %+v\nwant %+v", i, got[i], tt.want[i])
				}
			}
			// The same samples in reverse order, the worst case of lateness, give the same alarms.
			rev := slices.Clone(tt.samples)
			slices.Reverse(rev)
			if back := run(cfg, rev); !reflect.DeepEqual(back, got) {
				t.Errorf("reversed input\n got %+v\nwant %+v", back, got)
			}
		})
	}
}

func door(from, to int, state int8) []Sample {
	out := series(from, to, 3, leafy)
	for i := range out {
		out[i].Door = state
	}
	return out
}

func TestDrainReportsRaiseUpdateAndEnd(t *testing.T) {
	e := New(Config{OpenAfter: 15 * time.Minute, CloseAfter: 10 * time.Minute})
	feed := func(ss []Sample) {
		for _, s := range ss {
			e.Observe("S1", "A1", s)
		}
	}
	feed(series(0, 14, 6, leafy))
	if got := e.Drain(); len(got) != 0 {
		t.Fatalf("raised before 15 minutes: %+v", got)
	}
	feed(series(15, 15, 6, leafy))
	got := e.Drain()
	if len(got) != 1 || !got[0].Ongoing() || !got[0].RaisedAt.Equal(tm(15)) || !got[0].Start.Equal(tm(0)) {
		t.Fatalf("raise: %+v", got)
	}
	if again := e.Drain(); len(again) != 0 {
		t.Fatalf("nothing changed but Drain returned %+v", again)
	}
	feed(series(16, 16, 9, leafy))
	if got := e.Drain(); len(got) != 1 || got[0].PeakC != 9 {
		t.Fatalf("update: %+v", got)
	}
	feed(series(17, 25, 3, leafy))
	for _, a := range e.Drain() {
		if !a.Ongoing() {
			t.Fatalf("ended before the close time: %+v", a)
		}
	}
	feed(series(26, 27, 3, leafy))
	got = e.Drain()
	if len(got) != 1 || got[0].Ongoing() || !got[0].End.Equal(tm(17)) {
		t.Fatalf("end: %+v", got)
	}
}

func TestSilence(t *testing.T) {
	e := New(Config{SilenceLimit: 15 * time.Minute})
	for _, s := range series(0, 10, 3, leafy) {
		e.Observe("S1", "A1", s)
	}
	e.Drain()
	e.Sweep(tm(24))
	if got := e.Drain(); len(got) != 0 {
		t.Fatalf("silent after 14 minutes: %+v", got)
	}
	e.Sweep(tm(25))
	got := e.Drain()
	if len(got) != 1 || got[0].Kind != Silent || !got[0].Start.Equal(tm(10)) || !got[0].RaisedAt.Equal(tm(25)) || !got[0].Ongoing() {
		t.Fatalf("silence: %+v", got)
	}
	e.Sweep(tm(30))
	if got := e.Drain(); len(got) != 0 {
		t.Fatalf("raised twice: %+v", got)
	}
	e.Observe("S1", "A1", series(31, 31, 3, leafy)[0])
	got = e.Drain()
	if len(got) != 1 || got[0].Kind != Silent || !got[0].End.Equal(tm(31)) {
		t.Fatalf("end of silence: %+v", got)
	}
	e.Sweep(tm(40))
	if got := e.Drain(); len(got) != 0 {
		t.Fatalf("silent again after 9 minutes: %+v", got)
	}
}

func TestTooLate(t *testing.T) {
	e := New(Config{Window: time.Hour})
	for _, s := range series(0, 200, 3, leafy) {
		e.Observe("S1", "A1", s)
	}
	e.Observe("S1", "A1", Sample{TS: at(10), TempC: 30, Lo: 0, Hi: 4})
	if e.TooLate() != 1 {
		t.Fatalf("TooLate = %d", e.TooLate())
	}
	e.Observe("S1", "A1", Sample{TS: at(150), TempC: 30, Lo: 0, Hi: 4})
	if e.TooLate() != 1 {
		t.Fatalf("a sample inside the window was counted late")
	}
}

// scenario is two trucks and a cold store over two hours: excursions (one split by a short return), a door left
// open, a frozen store warming up.
func scenario() map[string][]Sample {
	rng := rand.New(rand.NewPCG(1, 2))
	noise := func(ss []Sample) []Sample {
		for i := range ss {
			ss[i].TempC += float32(rng.Float64()*0.4 - 0.2)
		}
		return ss
	}
	return map[string][]Sample{
		"LY-TRK-0001-A": noise(concat(series(0, 20, 2.5, leafy), series(21, 50, 6.5, leafy), series(51, 54, 3, leafy),
			series(55, 70, 7.5, leafy), series(71, 120, 3, leafy))),
		"LY-TRK-0001-B": noise(concat(series(0, 40, 3, leafy), door(41, 58, DoorOpened), door(59, 120, DoorClosed))),
		"GZ-CS-0001-A": noise(concat(series(0, 30, -20, frozen), series(31, 90, -14, frozen),
			series(91, 120, -19, frozen))),
	}
}

type obs struct {
	sensor string
	s      Sample
}

func flatten(sc map[string][]Sample) []obs {
	var out []obs
	for _, id := range []string{"GZ-CS-0001-A", "LY-TRK-0001-A", "LY-TRK-0001-B"} {
		for _, s := range sc[id] {
			out = append(out, obs{id, s})
		}
	}
	slices.SortStableFunc(out, func(a, b obs) int { return int(a.s.TS - b.s.TS) })
	return out
}

func replay(e *Engine, r result, in []obs) {
	for i, o := range in {
		e.Observe(o.sensor, "asset-of-"+o.sensor, o.s)
		if i%7 == 0 {
			r.apply(e.Drain())
		}
	}
	r.apply(e.Drain())
}

func TestScenarioOrderAndRestartIndependent(t *testing.T) {
	cfg := Config{OpenAfter: 15 * time.Minute, CloseAfter: 10 * time.Minute, DoorLimit: 10 * time.Minute}
	in := flatten(scenario())

	inOrder := result{}
	replay(New(cfg), inOrder, in)
	want := inOrder.sorted()
	kinds := map[Kind]int{}
	for _, a := range want {
		kinds[a.Kind]++
	}
	if kinds[Excursion] != 2 || kinds[DoorOpen] != 1 {
		t.Fatalf("scenario alarms: %+v", want)
	}

	for seed := range uint64(20) {
		shuffled := slices.Clone(in)
		rand.New(rand.NewPCG(seed, 7)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		got := result{}
		replay(New(cfg), got, shuffled)
		if !reflect.DeepEqual(got.sorted(), want) {
			t.Fatalf("seed %d: shuffled input\n got %+v\nwant %+v", seed, got.sorted(), want)
		}

		// Restart in the middle: snapshot, throw the engine away, restore into a new one, go on.
		got = result{}
		e := New(cfg)
		half := len(shuffled) / 2
		if seed%2 == 0 {
			half = len(in) / 3
			shuffled = in // also restart an in-order replay, mid-excursion
		}
		replay(e, got, shuffled[:half])
		snaps, err := e.Snapshot(true)
		if err != nil {
			t.Fatal(err)
		}
		e2 := New(cfg)
		if err := e2.Restore(snaps); err != nil {
			t.Fatal(err)
		}
		replay(e2, got, shuffled[half:])
		if !reflect.DeepEqual(got.sorted(), want) {
			t.Fatalf("seed %d: restart after %d samples\n got %+v\nwant %+v", seed, half, got.sorted(), want)
		}
	}
}

func TestRestartMidExcursionRaisesOnTimeWithTrueStart(t *testing.T) {
	cfg := Config{OpenAfter: 15 * time.Minute, CloseAfter: 10 * time.Minute}
	e := New(cfg)
	for _, s := range concat(series(0, 4, 3, leafy), series(5, 15, 7, leafy)) {
		e.Observe("S1", "A1", s)
	}
	if got := e.Drain(); len(got) != 0 {
		t.Fatalf("raised too early: %+v", got)
	}
	snaps, _ := e.Snapshot(false)
	e = New(cfg)
	if err := e.Restore(snaps); err != nil {
		t.Fatal(err)
	}
	for _, s := range series(16, 20, 7, leafy) {
		e.Observe("S1", "A1", s)
	}
	got := e.Drain()
	if len(got) != 1 || !got[0].Start.Equal(tm(5)) || !got[0].RaisedAt.Equal(tm(20)) {
		t.Fatalf("after restart: %+v", got)
	}
}

func TestCompactionKeepsResults(t *testing.T) {
	// A day at one sample a minute: far beyond the window, so the engine compacts many times; the alarms must
	// be those of an engine that keeps everything.
	var ss []Sample
	for h := 0; h < 24; h++ {
		base := h * 60
		ss = append(ss, series(base, base+29, 3, leafy)...)
		if h%3 == 0 {
			ss = append(ss, series(base+30, base+59, 8, leafy)...)
		} else {
			ss = append(ss, series(base+30, base+59, 3, leafy)...)
		}
	}
	small := Config{OpenAfter: 15 * time.Minute, Window: time.Hour, MaxSamples: 100}
	big := small
	big.Window, big.MaxSamples = 48*time.Hour, 10000
	got, want := run(small, ss), run(big, ss)
	if len(want) != 8 {
		t.Fatalf("want 8 excursions, reference engine found %d", len(want))
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("compacting engine\n got %+v\nwant %+v", got, want)
	}
}

func BenchmarkObserveInOrder(b *testing.B) {
	e := New(Config{})
	ids := make([]string, 2000)
	for i := range ids {
		ids[i] = fmt.Sprintf("S%04d", i)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		e.Observe(ids[i%len(ids)], "A", Sample{TS: int64(i / len(ids) * 1000), TempC: 3, Lo: 0, Hi: 4})
	}
}
