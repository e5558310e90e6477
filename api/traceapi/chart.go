package traceapi

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/suilong/suilong/trace"
)

// chartView is the SVG chart in its own coordinates (viewBox 0 0 W H): 360 units wide, a phone's CSS width,
// so a unit is about a pixel there and the labels stay legible without zooming.
type chartView struct {
	W, H               int
	X0, X1, Y0, Y1     float64
	Band               *rectView
	Legs               []legLine
	Seps               []float64
	Excursions         []excMark
	YTicks, XTicks     []tick
	Title, Empty       string
	MeanLabel, Bandlbl string
}

type rectView struct{ X, Y, W, H float64 }

type legLine struct {
	Area, Mean string
	Dots       []pt
}

type pt struct{ X, Y float64 }

type excMark struct {
	N          int
	X, W, PY   float64
	PX, LabelY float64
}

type tick struct {
	Pos   float64
	Label string
}

func newChart(r *trace.Report, en bool) *chartView {
	ch := r.Chart
	cv := &chartView{W: 360, H: 210, X0: 36, X1: 352, Y0: 12, Y1: 180}
	cv.Title = map[bool]string{false: "全程温度（°C）", true: "Temperature over the journey (°C)"}[en]
	cv.MeanLabel = map[bool]string{false: "平均", true: "mean"}[en]
	cv.Bandlbl = map[bool]string{false: "允许范围", true: "allowed"}[en]
	if len(ch.Legs) == 0 || !ch.To.After(ch.From) {
		cv.Empty = map[bool]string{false: "尚无运输温度记录", true: "No transport temperatures yet"}[en]
		return cv
	}
	band := r.Compliance.Band
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, l := range ch.Legs {
		for _, p := range l.Points {
			lo, hi = math.Min(lo, p.MinC), math.Max(hi, p.MaxC)
		}
	}
	// Each excursion's peak, and the band even when every reading is well inside it, stay within the plot:
	// the reader must see how far out the cargo went, or how close to the edge it ran.
	for _, x := range r.Compliance.Excursions {
		lo, hi = math.Min(lo, x.PeakC), math.Max(hi, x.PeakC)
	}
	if band.MinC != nil {
		lo, hi = math.Min(lo, *band.MinC), math.Max(hi, *band.MinC)
	}
	if band.MaxC != nil {
		lo, hi = math.Min(lo, *band.MaxC), math.Max(hi, *band.MaxC)
	}
	if math.IsInf(lo, 1) {
		cv.Empty = map[bool]string{false: "尚无运输温度记录", true: "No transport temperatures yet"}[en]
		return cv
	}
	step := niceStep((hi - lo + 2) / 5)
	ymin, ymax := math.Floor((lo-1)/step)*step, math.Ceil((hi+1)/step)*step
	t0, span := ch.From, ch.To.Sub(ch.From).Seconds()
	x := func(t time.Time) float64 {
		f := t.Sub(t0).Seconds() / span
		return round1(cv.X0 + math.Max(0, math.Min(1, f))*(cv.X1-cv.X0))
	}
	y := func(c float64) float64 { return round1(cv.Y1 - (c-ymin)/(ymax-ymin)*(cv.Y1-cv.Y0)) }
	if !band.IsZero() {
		top, bot := cv.Y0, cv.Y1
		if band.MaxC != nil {
			top = y(*band.MaxC)
		}
		if band.MinC != nil {
			bot = y(*band.MinC)
		}
		cv.Band = &rectView{X: cv.X0, Y: top, W: cv.X1 - cv.X0, H: round1(bot - top)}
	}
	for v := ymin; v <= ymax+1e-9; v += step {
		cv.YTicks = append(cv.YTicks, tick{Pos: y(v), Label: trimNum(v)})
	}
	every := ch.Every()
	for i, l := range ch.Legs {
		if i > 0 {
			// A line where one leg gives way to the next (truck to cold store), since the holder changes there.
			cv.Seps = append(cv.Seps, x(r.Custody.Legs[i].From))
		}
		var top, bot, mean []string
		var dots []pt
		for _, p := range l.Points {
			// A window is drawn at its middle, clamped to the leg.
			t := p.Start.Add(every / 2)
			g := r.Custody.Legs[i]
			if t.Before(g.From) {
				t = g.From
			}
			if end := g.End(r.GeneratedAt); t.After(end) {
				t = end
			}
			px := x(t)
			top = append(top, fmt.Sprintf("%g,%g", px, y(p.MaxC)))
			bot = append([]string{fmt.Sprintf("%g,%g", px, y(p.MinC))}, bot...)
			mean = append(mean, fmt.Sprintf("%g,%g", px, y(p.MeanC)))
			dots = append(dots, pt{px, y(p.MeanC)})
		}
		lv := legLine{Area: strings.Join(append(top, bot...), " "), Mean: strings.Join(mean, " ")}
		if len(l.Points) == 1 {
			lv.Dots = dots
		}
		cv.Legs = append(cv.Legs, lv)
	}
	for i, e := range r.Compliance.Excursions {
		x0, x1 := x(e.Start), x(e.End)
		w := math.Max(2, x1-x0)
		py := y(e.PeakC)
		cv.Excursions = append(cv.Excursions, excMark{N: i + 1, X: x0, W: round1(w), PX: round1(x0 + w/2), PY: py,
			LabelY: round1(math.Max(cv.Y0+8, py-6))})
	}
	// Dates along the bottom: start, middle, end; three labels are what a phone's width holds.
	layout := "1/2 15:04"
	if en {
		layout = "2 Jan 15:04"
	}
	if span > 3*86400 {
		layout = map[bool]string{false: "1月2日", true: "2 Jan"}[en]
	}
	for _, f := range []float64{0, 0.5, 1} {
		t := t0.Add(time.Duration(f * span * float64(time.Second)))
		cv.XTicks = append(cv.XTicks, tick{Pos: round1(cv.X0 + f*(cv.X1-cv.X0)), Label: t.In(trace.CST).Format(layout)})
	}
	return cv
}

// niceStep picks a whole-degree tick step (1, 2, 5, 10 … °C) for a raw step of a fifth of the range: a journey
// spans more degrees than the console's day and the phone has less height, so no half degrees here.
func niceStep(raw float64) float64 {
	for _, s := range []float64{1, 2, 5, 10, 20, 50} {
		if raw <= s {
			return s
		}
	}
	return 100
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

func trimNum(v float64) string { return fmt.Sprintf("%g", math.Round(v*10)/10) }
