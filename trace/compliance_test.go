package trace

import (
	"math"
	"testing"
	"time"
)

func f64(v float64) *float64 { return &v }

var leafy = Band{MinC: f64(0), MaxC: f64(4)}

// steady returns n base windows from start, each with count readings between lo and hi around mean.
func steady(start time.Time, n int, lo, mean, hi float64, count int) []Window {
	ws := make([]Window, n)
	for i := range ws {
		ws[i] = Window{Start: start.Add(time.Duration(i) * BaseEvery), MinC: lo, MeanC: mean, MaxC: hi, Count: count}
	}
	return ws
}

func sample(t time.Time, c float64) Sample { return Sample{At: t, TempC: c} }

func sec(h, m, s int) time.Time { return at(h, m).Add(time.Duration(s) * time.Second) }

func TestMKT(t *testing.T) {
	// Expectations worked by hand with ΔH/R = 10000 K, e.g. for 0 and 10 °C:
	// exp(−10000/273.15) = e^−36.60992, exp(−10000/283.15) = e^−35.31697; their mean is e^−36.60992·(1+e^1.29295)/2
	// = e^−36.60992·2.32171, ln = −35.76761; 10000/35.76761 = 279.5827 K = 6.4327 °C.
	tests := []struct {
		temps []float64
		want  float64
	}{
		{[]float64{5, 5, 5}, 5},
		{[]float64{0, 10}, 6.4327},
		{[]float64{2, 2, 2, 12}, 5.8172},
		{[]float64{25, 30}, 27.8210},
		{[]float64{20, 25, 30, 35}, 29.0539},
	}
	for _, tt := range tests {
		got, ok := MKT(tt.temps)
		if !ok || math.Abs(got-tt.want) > 0.0005 {
			t.Errorf("MKT(%v) = %.4f, want %.4f", tt.temps, got, tt.want)
		}
		// MKT weighs warm spells more than the arithmetic mean does.
		var mean float64
		for _, x := range tt.temps {
			mean += x / float64(len(tt.temps))
		}
		if got < mean-1e-9 {
			t.Errorf("MKT(%v) = %.4f below the mean %.4f", tt.temps, got, mean)
		}
	}
	if _, ok := MKT(nil); ok {
		t.Error("MKT of nothing is ok")
	}
}

func TestAssess(t *testing.T) {
	truck := Leg{AssetID: "LY-TRK-0001", AssetKind: Truck, From: at(4, 0), To: at(6, 0)} // 10:00–12:00 CST, 120 min
	delivered := func(legs ...Leg) Custody {
		return Custody{HarvestedAt: at(0, 0), Legs: legs, State: Delivered, ReceivedAt: at(7, 0)}
	}
	type exc struct {
		start, end time.Time
		minutes    int
		peak       float64
		dir        string
		readings   int
	}
	tests := []struct {
		name      string
		band      Band
		custody   Custody
		data      []LegReadings
		now       time.Time
		code      VerdictCode
		zh, en    string
		monitored int
		inBand    int
		out       int
		pct       float64
		mkt       float64
		mean      float64
		exc       []exc
	}{
		{name: "steady 3 °C for two hours: compliant",
			band: leafy, custody: delivered(truck), data: []LegReadings{{Windows: steady(at(4, 0), 24, 2.5, 3, 3.5, 10)}},
			code: Compliant, zh: "全程冷链达标", en: "Cold chain kept all the way",
			monitored: 120, inBand: 120, pct: 100, mkt: 3, mean: 3},
		{name: "three excursions, one below the band; readings on the bound are in band",
			band: leafy, custody: delivered(truck),
			data: []LegReadings{{Windows: steady(at(4, 0), 24, -0.5, 3, 6.5, 10), Outside: []Sample{
				// 10:30, 10:31, 10:32 → one excursion 10:30–10:33 (3 min), peak 6.5
				sample(sec(4, 30, 10), 5.2), sample(sec(4, 30, 40), 6.0), sample(sec(4, 31, 10), 6.5), sample(sec(4, 32, 30), 5.5),
				// 11:10 alone, below → 1 min
				sample(sec(5, 10, 5), -0.5),
				// 11:40 and 11:42: two minutes apart, still one excursion 11:40–11:43 (3 min)
				sample(sec(5, 40, 0), 4.4), sample(sec(5, 42, 59), 4.1),
				// on the bound, and before the leg: neither counts
				sample(sec(5, 50, 0), 4.0), sample(sec(3, 59, 59), 9.0),
			}}},
			code: Excursions, zh: "温度超标 3 次，累计 7 分钟超出 0–4 °C", en: "3 excursions, 7 minutes outside 0–4 °C in total",
			monitored: 120, inBand: 113, out: 7, pct: 94.17, mkt: 3, mean: 3,
			exc: []exc{
				{at(4, 30), at(4, 33), 3, 6.5, "above", 4},
				{at(5, 10), at(5, 11), 1, -0.5, "below", 1},
				{at(5, 40), at(5, 43), 3, 4.4, "above", 2},
			}},
		{name: "out-of-band minutes three apart are two excursions; an excursion ends with its leg",
			band: leafy, custody: delivered(truck),
			data: []LegReadings{{Windows: steady(at(4, 0), 24, 2, 3, 8, 10), Outside: []Sample{
				sample(sec(5, 50, 0), 5), sample(sec(5, 53, 0), 5), sample(sec(5, 59, 30), 8)}}},
			code: Excursions, zh: "温度超标 3 次，累计 3 分钟超出 0–4 °C", en: "3 excursions, 3 minutes outside 0–4 °C in total",
			monitored: 120, inBand: 117, out: 3, pct: 97.5, mkt: 3, mean: 3,
			exc: []exc{
				{at(5, 50), at(5, 51), 1, 5, "above", 1},
				{at(5, 53), at(5, 54), 1, 5, "above", 1},
				{at(5, 59), at(6, 0), 1, 8, "above", 1},
			}},
		{name: "frozen band: 2 h 5 min above −18 °C",
			band:    Band{MaxC: f64(-18)},
			custody: delivered(Leg{AssetID: "GZ-CS-0001", AssetKind: ColdStore, From: at(0, 0), To: at(6, 0)}),
			data: []LegReadings{{Windows: steady(at(0, 0), 72, -21, -19, -12, 5), Outside: func() []Sample {
				var s []Sample
				for m := 0; m < 125; m++ { // 07:00–09:05, one reading a minute
					s = append(s, sample(at(1, m).Add(20*time.Second), -15+float64(m%7)))
				}
				return s
			}()}},
			code: Excursions, zh: "温度超标 1 次，累计 2 小时 5 分钟超出 ≤ -18 °C", en: "1 excursion, 2 h 5 min outside ≤ -18 °C in total",
			monitored: 360, inBand: 235, out: 125, pct: 65.28, mkt: -19, mean: -19,
			exc: []exc{{at(1, 0), at(3, 5), 125, -9, "above", 125}}},
		{name: "readings for only half the leg: incomplete",
			band: leafy, custody: delivered(Leg{AssetID: "LY-TRK-0001", From: at(4, 0), To: at(8, 0)}),
			data: []LegReadings{{Windows: steady(at(4, 0), 24, 2, 3, 4, 10)}},
			code: Incomplete, zh: "部分运输环节缺少温度记录", en: "Temperature records are missing for part of the journey",
			monitored: 120, inBand: 120, pct: 100, mkt: 3, mean: 3},
		{name: "a 25-minute gap is tolerated",
			band: leafy, custody: delivered(truck),
			data: []LegReadings{{Windows: append(steady(at(4, 0), 10, 2, 3, 4, 10), steady(at(4, 75), 9, 2, 3, 4, 10)...)}},
			code: Compliant, zh: "全程冷链达标", en: "Cold chain kept all the way",
			monitored: 95, inBand: 95, pct: 100, mkt: 3, mean: 3},
		{name: "windows straddling the leg's ends count only inside it",
			band:    leafy,
			custody: delivered(Leg{AssetID: "LY-TRK-0001", From: at(4, 2), To: at(4, 13)}),
			data:    []LegReadings{{Windows: steady(at(4, 0), 3, 2, 3, 4, 4)}},
			code:    Compliant, zh: "全程冷链达标", en: "Cold chain kept all the way",
			monitored: 11, inBand: 11, pct: 100, mkt: 3, mean: 3},
		{name: "two legs at 0 and 10 °C: MKT 6.43 over both, mean 5",
			band: Band{MinC: f64(-1), MaxC: f64(12)},
			custody: delivered(Leg{AssetID: "LY-CS-0001", From: at(0, 0), To: at(1, 0)},
				Leg{AssetID: "LY-TRK-0001", From: at(1, 0), To: at(2, 0)}),
			data: []LegReadings{{Windows: steady(at(0, 0), 12, 0, 0, 0, 6)}, {Windows: steady(at(1, 0), 12, 10, 10, 10, 6)}},
			code: Compliant, zh: "全程冷链达标", en: "Cold chain kept all the way",
			monitored: 120, inBand: 120, pct: 100, mkt: 6.43, mean: 5},
		{name: "on the truck now: compliant so far",
			band:    leafy,
			custody: Custody{HarvestedAt: at(0, 0), Legs: []Leg{{AssetID: "LY-TRK-0001", From: at(4, 0), Open: true}}, State: InAsset},
			data:    []LegReadings{{Windows: steady(at(4, 0), 12, 2, 3, 4, 10)}},
			now:     at(5, 0),
			code:    Compliant, zh: "运输中，冷链达标", en: "In transit: cold chain kept so far",
			monitored: 60, inBand: 60, pct: 100, mkt: 3, mean: 3},
		{name: "not shipped", band: leafy, custody: Custody{HarvestedAt: at(0, 0), State: AtBase},
			code: NotShipped, zh: "尚未装运，暂无冷链记录", en: "Not shipped yet: no cold-chain record so far"},
		{name: "no band for the product", custody: delivered(truck), data: []LegReadings{{Windows: steady(at(4, 0), 24, 2, 3, 4, 10)}},
			code: NoBand, zh: "该产品未设定温度要求", en: "No temperature requirement is set for this product",
			monitored: 120, inBand: 120, mkt: 3, mean: 3},
		{name: "a leg without any reading",
			band: leafy, custody: delivered(truck), data: []LegReadings{{}},
			code: Incomplete, zh: "部分运输环节缺少温度记录", en: "Temperature records are missing for part of the journey"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := tt.now
			if now.IsZero() {
				now = at(12, 0)
			}
			c := Assess(tt.band, tt.custody, tt.data, now)
			v := c.Verdict
			if v.Code != tt.code || v.ZH != tt.zh || v.EN != tt.en || v.Compliant != (tt.code == Compliant) {
				t.Errorf("verdict = %s %q %q compliant=%v, want %s %q %q", v.Code, v.ZH, v.EN, v.Compliant, tt.code, tt.zh, tt.en)
			}
			if c.MonitoredMinutes != tt.monitored || c.InBandMinutes != tt.inBand || c.OutOfBandMinutes != tt.out {
				t.Errorf("minutes monitored/in/out = %d/%d/%d, want %d/%d/%d", c.MonitoredMinutes, c.InBandMinutes, c.OutOfBandMinutes,
					tt.monitored, tt.inBand, tt.out)
			}
			if v.OutOfBandMinutes != tt.out || v.Excursions != len(tt.exc) {
				t.Errorf("verdict counts %d excursions, %d min; want %d, %d", v.Excursions, v.OutOfBandMinutes, len(tt.exc), tt.out)
			}
			checkPtr(t, "in-band %", c.InBandPct, tt.pct, tt.monitored > 0 && tt.band != (Band{}))
			checkPtr(t, "MKT", c.MKTC, tt.mkt, tt.monitored > 0)
			checkPtr(t, "mean", c.MeanC, tt.mean, tt.monitored > 0)
			if len(c.Excursions) != len(tt.exc) {
				t.Fatalf("excursions = %+v, want %d", c.Excursions, len(tt.exc))
			}
			for i, w := range tt.exc {
				g := c.Excursions[i]
				if !g.Start.Equal(w.start) || !g.End.Equal(w.end) || g.Minutes != w.minutes || g.PeakC != w.peak || g.Direction != w.dir || g.Readings != w.readings {
					t.Errorf("excursion %d = %s–%s %d min peak %v %s (%d readings), want %s–%s %d min peak %v %s (%d)", i,
						g.Start.Format("15:04"), g.End.Format("15:04"), g.Minutes, g.PeakC, g.Direction, g.Readings,
						w.start.Format("15:04"), w.end.Format("15:04"), w.minutes, w.peak, w.dir, w.readings)
				}
			}
		})
	}
}

func checkPtr(t *testing.T, what string, got *float64, want float64, present bool) {
	t.Helper()
	switch {
	case !present && got != nil:
		t.Errorf("%s = %v, want none", what, *got)
	case present && got == nil:
		t.Errorf("%s missing, want %v", what, want)
	case present && math.Abs(*got-want) > 0.005:
		t.Errorf("%s = %v, want %v", what, *got, want)
	}
}

func TestDownsampleKeepsPeaks(t *testing.T) {
	ws := []Window{
		{Start: at(4, 0), MinC: 1, MeanC: 2, MaxC: 3, Count: 10},
		{Start: at(4, 5), MinC: 0, MeanC: 4, MaxC: 5, Count: 30},
		{Start: at(4, 10), MinC: 2, MeanC: 2, MaxC: 2, Count: 10},
		{Start: at(4, 15), MinC: 3, MeanC: 3, MaxC: 3, Count: 0}, // no readings: dropped
		{Start: at(4, 20), MinC: 3, MeanC: 3, MaxC: 9, Count: 2},
	}
	got := Downsample(ws, 15*time.Minute)
	want := []Window{
		{Start: at(4, 0), MinC: 0, MeanC: 3.2, MaxC: 5, Count: 50}, // mean (20+120+20)/50
		{Start: at(4, 15), MinC: 3, MeanC: 3, MaxC: 9, Count: 2},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if !g.Start.Equal(w.Start) || g.MinC != w.MinC || math.Abs(g.MeanC-w.MeanC) > 1e-9 || g.MaxC != w.MaxC || g.Count != w.Count {
			t.Errorf("window %d = %+v, want %+v", i, g, w)
		}
	}
}

func TestChartEvery(t *testing.T) {
	for _, tt := range []struct {
		span time.Duration
		want time.Duration
	}{
		{2 * time.Hour, 5 * time.Minute},
		{20 * time.Hour, 15 * time.Minute}, // 240 five-minute windows would be too many for 200 points
		{48 * time.Hour, 15 * time.Minute},
		{30 * 24 * time.Hour, 6 * time.Hour}, // 3 h gives 240 windows
		{400 * 24 * time.Hour, 24 * time.Hour},
	} {
		if got := ChartEvery(tt.span, 200); got != tt.want {
			t.Errorf("ChartEvery(%v) = %v, want %v", tt.span, got, tt.want)
		}
	}
}

func TestBandString(t *testing.T) {
	for _, tt := range []struct {
		b    Band
		want string
	}{{leafy, "0–4 °C"}, {Band{MaxC: f64(-18)}, "≤ -18 °C"}, {Band{MinC: f64(2.5)}, "≥ 2.5 °C"}, {Band{}, ""}} {
		if got := tt.b.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.b, got, tt.want)
		}
	}
}
