package opsapi

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/suilong/suilong/api/web"
	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/internal/coldchain"
)

// chart is an asset's temperature as an inline SVG (viewBox 0 0 W H): min–max area, mean line, the band and
// every alarm of the range marked and numbered like the list below it. Drawn on the server: no script.
type chart struct {
	W, H           int
	X0, X1, Y0, Y1 float64
	Band           *box
	Area, Mean     string
	Dots           []xy
	Alarms         []mark
	YTicks, XTicks []tick
	Empty          bool
}

type box struct{ X, Y, W, H float64 }

type xy struct{ X, Y float64 }

type mark struct {
	N       int
	X, W    float64
	LabelX  float64
	Kind    string
	Ongoing bool
}

type tick struct {
	Pos   float64
	Label string
}

// r1 rounds coordinates to a tenth of a unit: finer is invisible and would only lengthen the page.
func r1(v float64) float64 { return math.Round(v*10) / 10 }

// niceStep picks the tick step people read at a glance (0.5, 1, 2, 5 … °C) for a raw step of a fifth of the
// range, so the axis has about five ticks.
func niceStep(raw float64) float64 {
	for _, s := range []float64{0.5, 1, 2, 5, 10, 20} {
		if raw <= s {
			return s
		}
	}
	return 50
}

func newChart(points []coldchain.Window, band ingest.Band, alarms []ingest.Alarm, from, to time.Time, every time.Duration) *chart {
	ch := &chart{W: 720, H: 260, X0: 44, X1: 708, Y0: 14, Y1: 226}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, p := range points {
		lo, hi = math.Min(lo, p.MinC), math.Max(hi, p.MaxC)
	}
	// The band is always in view, even when every reading is well inside it: how close to its edge the cargo
	// ran is what the reader wants to see.
	if band.MinC != nil {
		lo, hi = math.Min(lo, *band.MinC), math.Max(hi, *band.MinC)
	}
	if band.MaxC != nil {
		lo, hi = math.Min(lo, *band.MaxC), math.Max(hi, *band.MaxC)
	}
	if math.IsInf(lo, 1) {
		lo, hi = 0, 10 // nothing to scale to: an axis of ordinary chilled temperatures under the "no data" note
		ch.Empty = true
	}
	ch.Empty = ch.Empty || len(points) == 0
	step := niceStep((hi - lo + 2) / 5)
	// A degree of margin each side, so a reading at the band's edge is not drawn on the frame.
	ymin, ymax := math.Floor((lo-1)/step)*step, math.Ceil((hi+1)/step)*step
	span := to.Sub(from).Seconds()
	// x clamps to the plot: an alarm that began before the range starts at its left edge, not off the chart.
	x := func(t time.Time) float64 {
		f := t.Sub(from).Seconds() / span
		return r1(ch.X0 + math.Max(0, math.Min(1, f))*(ch.X1-ch.X0))
	}
	y := func(c float64) float64 { return r1(ch.Y1 - (c-ymin)/(ymax-ymin)*(ch.Y1-ch.Y0)) }
	if !band.IsZero() {
		top, bot := ch.Y0, ch.Y1
		if band.MaxC != nil {
			top = y(*band.MaxC)
		}
		if band.MinC != nil {
			bot = y(*band.MinC)
		}
		ch.Band = &box{X: ch.X0, Y: top, W: ch.X1 - ch.X0, H: r1(bot - top)}
	}
	for v := ymin; v <= ymax+1e-9; v += step {
		ch.YTicks = append(ch.YTicks, tick{Pos: y(v), Label: fmt.Sprintf("%g", math.Round(v*10)/10)})
	}
	var top, bot, mean []string
	for _, p := range points {
		px := x(p.Start.Add(every / 2))
		top = append(top, fmt.Sprintf("%g,%g", px, y(p.MaxC)))
		bot = append([]string{fmt.Sprintf("%g,%g", px, y(p.MinC))}, bot...)
		mean = append(mean, fmt.Sprintf("%g,%g", px, y(p.MeanC)))
		if len(points) == 1 {
			ch.Dots = append(ch.Dots, xy{px, y(p.MeanC)}) // one point draws no line; a dot shows it
		}
	}
	ch.Area, ch.Mean = strings.Join(append(top, bot...), " "), strings.Join(mean, " ")
	for i, a := range alarms {
		end := to
		if a.EndedAt != nil && a.EndedAt.Before(to) {
			end = *a.EndedAt
		}
		x0, x1 := x(a.StartedAt), x(end)
		w := math.Max(2, x1-x0) // a door open for a minute is still a visible mark on a week's chart
		ch.Alarms = append(ch.Alarms, mark{N: i + 1, X: x0, W: r1(w), LabelX: r1(x0 + w/2), Kind: string(a.Kind), Ongoing: a.EndedAt == nil})
	}
	// Times alone for a day; with the date beyond, or the week's ticks would repeat the same hours. In China
	// Standard Time, as every page shows it.
	layout := "15:04"
	if span > 36*3600 {
		layout = "1/2 15:04"
	}
	for _, f := range []float64{0, 0.25, 0.5, 0.75, 1} {
		t := from.Add(time.Duration(f * span * float64(time.Second)))
		ch.XTicks = append(ch.XTicks, tick{Pos: r1(ch.X0 + f*(ch.X1-ch.X0)), Label: t.In(web.CST).Format(layout)})
	}
	return ch
}
