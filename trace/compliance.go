package trace

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/suilong/suilong/internal/coldchain"
)

// Band is the cold chain's one temperature band (coldchain.Band), named here for trace's own types.
type Band = coldchain.Band

// BaseEvery is the resolution at which readings are summarised per leg (InfluxDB aggregateWindow): fine
// enough for a short trip's chart, coarse enough that a 30-day leg is 8,640 windows.
const BaseEvery = 5 * time.Minute

// Window is coldchain.Window: the readings of all the sensors of an asset within [Start, Start+every).
type Window = coldchain.Window

// Sample is coldchain.Sample: one reading.
type Sample = coldchain.Sample

// LegReadings is what the readings say about one leg: its windows of BaseEvery (aligned to the Unix epoch;
// windows without readings left out) and every reading outside the band.
type LegReadings struct {
	Windows []Window
	Outside []Sample
}

// ActivationOverR is ΔH/R for mean kinetic temperature: the conventional activation energy ΔH = 83.144 kJ/mol
// over the gas constant R = 8.3144 J/(mol·K), i.e. 10,000 K.
const ActivationOverR = 10000.0

// MKT is the mean kinetic temperature (°C) of equally weighted temperatures (°C):
// ΔH/R ÷ −ln( (1/n) Σ exp(−ΔH/(R·Tᵢ)) ), Tᵢ in kelvin. ok is false for no temperatures.
func MKT(temps []float64) (mkt float64, ok bool) {
	if len(temps) == 0 {
		return 0, false
	}
	var sum float64
	for _, t := range temps {
		sum += math.Exp(-ActivationOverR / (t + 273.15))
	}
	return ActivationOverR/(-math.Log(sum/float64(len(temps)))) - 273.15, true
}

// Excursion is a stretch of a leg with readings outside the band. Its resolution is one minute: a minute
// with any reading outside the band is out of band, and out-of-band minutes at most MergeGap apart form one
// excursion (sensors sampling every minute or two leave minutes without readings in between).
type Excursion struct {
	Leg       int       `json:"leg"` // index into the legs
	AssetID   string    `json:"asset_id"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Minutes   int       `json:"minutes"`
	PeakC     float64   `json:"peak_c"`
	Direction string    `json:"direction"` // "above" or "below" the band
	Readings  int       `json:"readings"`  // readings outside the band
}

// MergeGap is the largest gap between out-of-band minutes within one excursion.
const MergeGap = 2 * time.Minute

// LegCompliance is one leg's summary.
type LegCompliance struct {
	Leg              int      `json:"leg"`
	Minutes          int      `json:"minutes"`
	MonitoredMinutes int      `json:"monitored_minutes"`
	InBandMinutes    int      `json:"in_band_minutes"`
	OutOfBandMinutes int      `json:"out_of_band_minutes"`
	Readings         int      `json:"readings"`
	Excursions       int      `json:"excursions"`
	MinC             *float64 `json:"min_c"`
	MeanC            *float64 `json:"mean_c"`
	MaxC             *float64 `json:"max_c"`
	MKTC             *float64 `json:"mkt_c"`
	// Complete is false when readings are missing for more than MaxGap (or a tenth of the leg, if longer).
	Complete bool `json:"complete"`
}

// MaxGap is how much of a leg may go without readings before its record counts as incomplete.
const MaxGap = 30 * time.Minute

// Compliance is a lot's cold-chain record over its whole journey.
type Compliance struct {
	Band             Band            `json:"band"`
	Legs             []LegCompliance `json:"legs"`
	Excursions       []Excursion     `json:"excursions"`
	MonitoredMinutes int             `json:"monitored_minutes"`
	InBandMinutes    int             `json:"in_band_minutes"`
	OutOfBandMinutes int             `json:"out_of_band_minutes"`
	InBandPct        *float64        `json:"in_band_pct"`
	MinC             *float64        `json:"min_c"`
	MeanC            *float64        `json:"mean_c"`
	MaxC             *float64        `json:"max_c"`
	MKTC             *float64        `json:"mkt_c"`
	// Handovers are the temperatures measured when the lot changed hands (NewReport fills them in).
	Handovers []Handover `json:"handovers"`
	Verdict   Verdict    `json:"verdict"`
}

// VerdictCode classifies a lot's record.
type VerdictCode string

// Verdicts, from the least to the most telling.
const (
	NotShipped VerdictCode = "not_shipped" // no leg yet
	NoBand     VerdictCode = "no_band"     // the product has no temperature requirement
	Incomplete VerdictCode = "incomplete"  // readings are missing for part of the journey, none out of band
	Excursions VerdictCode = "excursions"  // readings out of band
	Compliant  VerdictCode = "compliant"   // every leg fully monitored and in band
)

// Verdict is the plain statement of a lot's record, in Chinese and English.
type Verdict struct {
	Code      VerdictCode `json:"code"`
	Compliant bool        `json:"compliant"`
	// Final is true once the buyer received the lot; before that the verdict is "so far".
	Final            bool     `json:"final"`
	Excursions       int      `json:"excursions"`
	OutOfBandMinutes int      `json:"out_of_band_minutes"`
	MKTC             *float64 `json:"mkt_c"`
	// HandoversOutside counts handovers whose measured temperature was outside the band.
	HandoversOutside int    `json:"handovers_outside"`
	ZH               string `json:"text_zh"`
	EN               string `json:"text_en"`
}

// Assess judges the journey c against band from the readings of each leg (data[i] belongs to c.Legs[i]).
// Open legs are judged up to now.
func Assess(band Band, c Custody, data []LegReadings, now time.Time) Compliance {
	out := Compliance{Band: band, Legs: []LegCompliance{}, Excursions: []Excursion{}, Handovers: []Handover{}}
	var allMeans []float64
	var sum float64
	var n int
	for i, leg := range c.Legs {
		var d LegReadings
		if i < len(data) {
			d = data[i]
		}
		from, to := leg.From, leg.End(now)
		lc := LegCompliance{Leg: i, Minutes: minutes(to.Sub(from))}
		var monitored time.Duration
		var means []float64
		var lsum float64
		var mn, mx = math.Inf(1), math.Inf(-1)
		for _, w := range d.Windows {
			if w.Count <= 0 {
				continue
			}
			// InfluxDB starts the first window at the range's start; windows end on the epoch grid.
			monitored += overlap(w.Start, w.Start.Truncate(BaseEvery).Add(BaseEvery), from, to)
			means = append(means, w.MeanC)
			lsum += w.MeanC * float64(w.Count)
			lc.Readings += w.Count
			mn, mx = min(mn, w.MinC), max(mx, w.MaxC)
		}
		if lc.Readings > 0 {
			lc.MinC, lc.MaxC = ptr(round2(mn)), ptr(round2(mx))
			lc.MeanC = ptr(round2(lsum / float64(lc.Readings)))
			m, _ := MKT(means)
			lc.MKTC = ptr(round2(m))
			if out.MinC == nil || mn < *out.MinC {
				out.MinC = ptr(round2(mn))
			}
			if out.MaxC == nil || mx > *out.MaxC {
				out.MaxC = ptr(round2(mx))
			}
			sum += lsum
			n += lc.Readings
			allMeans = append(allMeans, means...)
		}
		exc := excursions(band, i, leg.AssetID, d.Outside, from, to)
		var outDur time.Duration
		for _, e := range exc {
			outDur += e.End.Sub(e.Start)
		}
		lc.Excursions = len(exc)
		lc.MonitoredMinutes = minutes(monitored)
		lc.OutOfBandMinutes = minutes(outDur)
		lc.InBandMinutes = max(0, lc.MonitoredMinutes-lc.OutOfBandMinutes)
		gap := to.Sub(from) - monitored
		lc.Complete = lc.Readings > 0 && gap <= max(MaxGap, to.Sub(from)/10)
		out.Legs = append(out.Legs, lc)
		out.Excursions = append(out.Excursions, exc...)
		out.MonitoredMinutes += lc.MonitoredMinutes
		out.OutOfBandMinutes += lc.OutOfBandMinutes
		out.InBandMinutes += lc.InBandMinutes
	}
	if n > 0 {
		out.MeanC = ptr(round2(sum / float64(n)))
		m, _ := MKT(allMeans)
		out.MKTC = ptr(round2(m))
	}
	if out.MonitoredMinutes > 0 && !band.IsZero() {
		out.InBandPct = ptr(round2(100 * float64(out.InBandMinutes) / float64(out.MonitoredMinutes)))
	}
	out.Verdict = verdict(band, c, out)
	return out
}

// excursions finds the out-of-band stretches of one leg from its out-of-band readings.
func excursions(band Band, leg int, asset string, outside []Sample, from, to time.Time) []Excursion {
	if band.IsZero() {
		return nil
	}
	s := slices.Clone(outside)
	slices.SortFunc(s, func(a, b Sample) int { return a.At.Compare(b.At) })
	var out []Excursion
	var cur *Excursion
	var lastMinute time.Time
	var peakDev float64
	for _, x := range s {
		if x.At.Before(from) || !x.At.Before(to) || band.Contains(x.TempC) {
			continue
		}
		m := x.At.Truncate(time.Minute)
		dir, dev := "above", 0.0
		if band.MaxC != nil && x.TempC > *band.MaxC {
			dev = x.TempC - *band.MaxC
		} else {
			dir, dev = "below", *band.MinC-x.TempC
		}
		if cur == nil || m.Sub(lastMinute) > MergeGap {
			out = append(out, Excursion{Leg: leg, AssetID: asset, Start: maxTime(m, from)})
			cur = &out[len(out)-1]
			peakDev = -1
		}
		lastMinute = m
		cur.End = minTime(m.Add(time.Minute), to)
		cur.Readings++
		if dev > peakDev {
			peakDev, cur.PeakC, cur.Direction = dev, x.TempC, dir
		}
	}
	for i := range out {
		out[i].Minutes = minutes(out[i].End.Sub(out[i].Start))
	}
	return out
}

func verdict(band Band, c Custody, x Compliance) Verdict {
	v := Verdict{Final: c.State == Delivered, Excursions: len(x.Excursions), OutOfBandMinutes: x.OutOfBandMinutes, MKTC: x.MKTC}
	complete := true
	for _, l := range x.Legs {
		complete = complete && l.Complete
	}
	switch {
	case len(c.Legs) == 0:
		v.Code = NotShipped
		v.ZH, v.EN = "尚未装运，暂无冷链记录", "Not shipped yet: no cold-chain record so far"
	case band.IsZero():
		v.Code = NoBand
		v.ZH, v.EN = "该产品未设定温度要求", "No temperature requirement is set for this product"
	case len(x.Excursions) > 0:
		v.Code = Excursions
		v.ZH = fmt.Sprintf("温度超标 %d 次，累计 %s超出 %s", len(x.Excursions), durZH(x.OutOfBandMinutes), band)
		v.EN = fmt.Sprintf("%d %s, %s outside %s in total", len(x.Excursions), plural(len(x.Excursions), "excursion", "excursions"),
			durEN(x.OutOfBandMinutes), band)
	case !complete:
		v.Code = Incomplete
		v.ZH, v.EN = "部分运输环节缺少温度记录", "Temperature records are missing for part of the journey"
	default:
		v.Code, v.Compliant = Compliant, true
		if v.Final {
			v.ZH, v.EN = "全程冷链达标", "Cold chain kept all the way"
		} else {
			v.ZH, v.EN = "运输中，冷链达标", "In transit: cold chain kept so far"
		}
	}
	return v
}

func durZH(min int) string {
	if min >= 120 {
		return fmt.Sprintf("%d 小时 %d 分钟", min/60, min%60)
	}
	return fmt.Sprintf("%d 分钟", min)
}

func durEN(min int) string {
	if min >= 120 {
		return fmt.Sprintf("%d h %d min", min/60, min%60)
	}
	return fmt.Sprintf("%d %s", min, plural(min, "minute", "minutes"))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Downsample merges base windows into windows of every (a multiple of BaseEvery): min of the minima, max of
// the maxima, the mean weighted by readings. Peaks survive downsampling.
func Downsample(ws []Window, every time.Duration) []Window {
	var out []Window
	for _, w := range ws {
		if w.Count <= 0 {
			continue
		}
		start := w.Start.Truncate(every)
		if n := len(out); n > 0 && out[n-1].Start.Equal(start) {
			o := &out[n-1]
			o.MeanC = (o.MeanC*float64(o.Count) + w.MeanC*float64(w.Count)) / float64(o.Count+w.Count)
			o.Count += w.Count
			o.MinC, o.MaxC = min(o.MinC, w.MinC), max(o.MaxC, w.MaxC)
			continue
		}
		w.Start = start
		out = append(out, w)
	}
	return out
}

// chartSteps are the window sizes a chart may use; each divides the next, so windows nest.
var chartSteps = []time.Duration{5 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour, 3 * time.Hour,
	6 * time.Hour, 12 * time.Hour, 24 * time.Hour}

// ChartEvery is the window size for a chart of span with at most points windows.
func ChartEvery(span time.Duration, points int) time.Duration {
	for _, s := range chartSteps {
		if span/s <= time.Duration(points) {
			return s
		}
	}
	return chartSteps[len(chartSteps)-1]
}

func overlap(a0, a1, b0, b1 time.Time) time.Duration {
	s, e := maxTime(a0, b0), minTime(a1, b1)
	if e.After(s) {
		return e.Sub(s)
	}
	return 0
}

func minutes(d time.Duration) int { return int(math.Round(d.Minutes())) }

func round2(v float64) float64 { return math.Round(v*100) / 100 }

func ptr[T any](v T) *T { return &v }

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
