package traceapi

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/trace"
)

//go:embed page.html.tmpl
var pageSrc string

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"sub":  func(v float64) float64 { return v - 4 },  // y-axis labels left of the plot
	"add":  func(v float64) float64 { return v + 14 }, // x-axis labels below it
	"subf": func(a, b float64) float64 { return a - b },
}).Parse(pageSrc))

// The public page is one small HTML document with inline CSS and an inline SVG chart: no script, no web fonts,
// no images to fetch, so it shows on a slow phone in one round trip.
const pageCSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func (m *Module) page(c *gin.Context) {
	r, err := m.d.Service.PublicReport(c.Request.Context(), c.Param("code"))
	if errs.Is(err, errs.NotFound) {
		m.notFound(c)
		return
	}
	if err != nil {
		m.pageError(c, err)
		return
	}
	body, err := m.render(r, lang(c))
	if err != nil {
		m.pageError(c, err)
		return
	}
	maxAge := 60
	if r.Custody.State == trace.Delivered {
		maxAge = 300
	}
	c.Header("Cache-Control", fmt.Sprintf("public, max-age=%d", maxAge))
	c.Header("Content-Security-Policy", pageCSP)
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Referrer-Policy", "no-referrer")
	c.Data(http.StatusOK, "text/html; charset=utf-8", body)
}

// render returns the page of a report in a language. The service hands out the same report for a delivered
// lot until something it shows changes, so the page rendered from it is kept with it: rendering costs a
// millisecond of CPU, ten times what the rest of a warm view does.
func (m *Module) render(r *trace.Report, lang string) ([]byte, error) {
	key := renderKey{lot: r.Lot.ID, lang: lang}
	if p, ok := m.pages.Get(key); ok && p.report == r {
		return p.body, nil
	}
	var b bytes.Buffer
	if err := pageTmpl.ExecuteTemplate(&b, "page", newView(r, lang, m.d.Service.URIs)); err != nil {
		return nil, err
	}
	if r.Custody.State == trace.Delivered {
		m.pages.Add(key, renderedPage{report: r, body: b.Bytes()})
	}
	return b.Bytes(), nil
}

type renderKey struct {
	lot  int64
	lang string
}

// renderedPage is a page and the report it shows; the report's identity says whether the page is current.
type renderedPage struct {
	report *trace.Report
	body   []byte
}

func (m *Module) notFound(c *gin.Context) {
	var b bytes.Buffer
	_ = pageTmpl.ExecuteTemplate(&b, "notfound", struct{ Lang string }{lang(c)})
	c.Header("Content-Security-Policy", pageCSP)
	c.Header("Cache-Control", "no-store")
	c.Abort()
	c.Data(http.StatusNotFound, "text/html; charset=utf-8", b.Bytes())
}

func (m *Module) pageError(c *gin.Context, err error) {
	c.Error(err) //nolint:errcheck // recorded for the access log
	m.d.Service.Log.Error("trace: public page failed", "path", c.Request.URL.Path, "err", err)
	c.Abort()
	c.Data(http.StatusInternalServerError, "text/plain; charset=utf-8",
		[]byte("暂时无法显示溯源信息，请稍后再试。\nThe traceability page is unavailable at the moment; please try again later.\n"))
}

// --- view model

type view struct {
	Lang, Other, OtherLabel string
	T                       labels
	Code                    string
	Product                 string
	ProductAlt              string
	Variety                 string
	Grade                   int
	Kg                      int64
	Base, County            string
	Harvest                 string
	Certs                   []string
	CertificateNo           string
	CertBasis, CertIssuer   string
	CertDate                string
	Verdict                 verdictView
	Timeline                []step
	Chart                   *chartView
	Excursions              []excView
	QR                      string
	Generated               string
}

type verdictView struct {
	Class, Text        string
	Band               string
	MKT, InBand        string
	OutMinutes, Excurs int
	HasStats           bool
}

type step struct {
	When, Title, Detail, Class string
	Leg                        string
	Handover                   string
	HandoverBad                bool
}

type excView struct {
	N                     int
	From, To, Peak, Where string
	Minutes               int
}

func newView(r *trace.Report, lang string, u trace.URIs) *view {
	en := lang == "en"
	v := &view{Lang: lang, T: zh, Other: "?lang=en", OtherLabel: "English", Code: r.Lot.Code}
	if en {
		v.T, v.Other, v.OtherLabel = enL, "?lang=zh", "中文"
	}
	l := r.Lot
	v.Product, v.ProductAlt = l.ProductZH, productEN(l.Product)
	if v.Product == "" || en {
		v.Product, v.ProductAlt = productEN(l.Product), l.ProductZH
	}
	v.Variety, v.Grade, v.Kg, v.Base, v.County, v.CertificateNo = l.Variety, l.Grade, l.QuantityKg, l.BaseName, l.County, l.CertificateNo
	v.Harvest = fmtTime(l.HarvestedAt, en, true)
	if c := l.Certificate; c.Basis != "" {
		v.CertBasis, v.CertIssuer = c.Basis.NameZH(), c.Issuer
		if en {
			v.CertBasis = c.Basis.NameEN()
		}
		if c.Date != nil {
			v.CertDate = fmtTime(c.Date.Time, en, true)
		}
	}
	for _, c := range l.Certifications {
		if en {
			v.Certs = append(v.Certs, c.NameEN())
		} else {
			v.Certs = append(v.Certs, c.NameZH())
		}
	}
	cp := r.Compliance
	vd := cp.Verdict
	v.Verdict = verdictView{Text: vd.ZH, Band: cp.Band.String(), OutMinutes: cp.OutOfBandMinutes, Excurs: len(cp.Excursions)}
	if en {
		v.Verdict.Text = vd.EN
	}
	switch vd.Code {
	case trace.Compliant:
		v.Verdict.Class = "ok"
	case trace.Excursions:
		v.Verdict.Class = "bad"
	case trace.Incomplete:
		v.Verdict.Class = "warn"
	case trace.HandoverOutOfBand:
		v.Verdict.Class = "bad"
	default:
		v.Verdict.Class = "info"
	}
	if cp.MKTC != nil {
		v.Verdict.MKT = fmt.Sprintf("%.1f °C", *cp.MKTC)
		v.Verdict.HasStats = true
	}
	if cp.InBandPct != nil {
		v.Verdict.InBand = fmt.Sprintf("%.1f%%", *cp.InBandPct)
	}
	legOf := map[int64]int{}
	for i, g := range r.Custody.Legs {
		legOf[g.LoadID] = i
	}
	for _, e := range r.Events {
		s := step{When: fmtTime(e.At, en, false), Class: string(e.Kind)}
		s.Title, s.Detail = stepText(e, en, r.Lot)
		if i, ok := legOf[e.ID]; ok {
			s.Leg = legSummary(r, i, en)
		}
		if e.HandoverTempC != nil {
			s.Handover, s.HandoverBad = handoverText(*e.HandoverTempC, e.MeasuredBy, cp.Band, en)
		}
		v.Timeline = append(v.Timeline, s)
	}
	for i, x := range cp.Excursions {
		where := r.Custody.Legs[x.Leg].AssetName
		peak := fmt.Sprintf("%.1f °C", x.PeakC)
		v.Excursions = append(v.Excursions, excView{N: i + 1, From: fmtTime(x.Start, en, false), To: x.End.In(trace.CST).Format("15:04"),
			Minutes: x.Minutes, Peak: peak, Where: where})
	}
	v.Chart = newChart(r, en)
	// Relative: the page works whatever host it was reached on.
	v.QR = "/t/" + l.Code + "/qr.svg"
	v.Generated = fmtTime(r.GeneratedAt, en, false)
	return v
}

func stepText(e trace.Event, en bool, l trace.Lot) (string, string) {
	asset := e.AssetName
	if e.AssetCity != "" {
		asset += " · " + e.AssetCity
	}
	pick := func(z, e string) string {
		if en {
			return e
		}
		return z
	}
	switch {
	case e.Kind == trace.Harvest:
		return pick("采收", "Harvested"), l.BaseName + " · " + l.County
	case e.Kind == trace.Load && e.AssetKind == trace.ColdStore:
		return pick("入库冷藏", "Into cold storage"), asset
	case e.Kind == trace.Load:
		return pick("装车起运", "Loaded onto a reefer truck"), asset
	case e.Kind == trace.Unload && e.AssetKind == trace.ColdStore:
		return pick("出库", "Out of cold storage"), asset
	case e.Kind == trace.Unload:
		return pick("卸车", "Unloaded from the truck"), asset
	case e.Kind == trace.Receive:
		return pick("到货验收", "Received by the buyer"), e.Location
	}
	return string(e.Kind), ""
}

// handoverText is the temperature measured at a handover, and whether it was outside the band.
func handoverText(temp float64, by string, band trace.Band, en bool) (string, bool) {
	bad := !band.IsZero() && !band.Contains(temp)
	if en {
		t := fmt.Sprintf("Measured at hand-over: %.1f °C (by %s)", temp, by)
		if bad {
			t += " — outside " + band.String()
		}
		return t, bad
	}
	t := fmt.Sprintf("交接实测温度 %.1f °C（测量人：%s）", temp, by)
	if bad {
		t += " — 超出 " + band.String()
	}
	return t, bad
}

func legSummary(r *trace.Report, i int, en bool) string {
	g, lc := r.Custody.Legs[i], r.Compliance.Legs[i]
	var parts []string
	d := time.Duration(lc.Minutes) * time.Minute
	if g.Open {
		parts = append(parts, map[bool]string{false: "进行中 ", true: "ongoing, "}[en]+fmtDur(d, en))
	} else {
		parts = append(parts, fmtDur(d, en))
	}
	if lc.MinC != nil {
		parts = append(parts, fmt.Sprintf("%.1f–%.1f °C", *lc.MinC, *lc.MaxC))
	} else {
		parts = append(parts, map[bool]string{false: "无温度记录", true: "no temperature records"}[en])
	}
	if lc.Excursions > 0 {
		if en {
			parts = append(parts, fmt.Sprintf("%d excursion(s), %d min", lc.Excursions, lc.OutOfBandMinutes))
		} else {
			parts = append(parts, fmt.Sprintf("超标 %d 次 %d 分钟", lc.Excursions, lc.OutOfBandMinutes))
		}
	}
	return strings.Join(parts, " · ")
}

func fmtDur(d time.Duration, en bool) string {
	h, m := int(d.Hours()), int(d.Minutes())%60
	switch {
	case en && h >= 48:
		return fmt.Sprintf("%d days %d h", h/24, h%24)
	case en:
		return fmt.Sprintf("%d h %d min", h, m)
	case h >= 48:
		return fmt.Sprintf("%d 天 %d 小时", h/24, h%24)
	}
	return fmt.Sprintf("%d 小时 %d 分", h, m)
}

func fmtTime(t time.Time, en, dateOnly bool) string {
	t = t.In(trace.CST)
	switch {
	case dateOnly && en:
		return t.Format("2 Jan 2006")
	case dateOnly:
		return t.Format("2006年1月2日")
	case en:
		return t.Format("2 Jan 15:04")
	}
	return t.Format("1月2日 15:04")
}

// productEN turns a product slug (choy-sum) into words (Choy sum).
func productEN(slug string) string {
	s := strings.ReplaceAll(slug, "-", " ")
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// --- chart

// chartView is the SVG chart in its own coordinates (viewBox 0 0 W H).
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
	// Dates along the bottom: start, middle, end.
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

// --- words

type labels struct {
	Title, Lang, Site, Variety, Grade, Quantity, Base, County, Harvested, Certs, CertNo, NoCerts string
	Verdict, Band, MKT, InBand, Out, Excursions, Journey, Chart, Legend, Peak, Minutes           string
	Code, QR, Generated, About, Where                                                            string
	CertBasis, Record                                                                            string
}

var zh = labels{Title: "产品溯源", Lang: "zh-CN", Site: "穗龙 · 穗岩对口合作冷链溯源", Variety: "品种", Grade: "等级", Quantity: "批次重量",
	Base: "生产基地", County: "产地", Harvested: "采收日期", Certs: "认证", CertNo: "承诺达标合格证编号", NoCerts: "无",
	Verdict: "冷链结论", Band: "要求温度", MKT: "平均动力学温度 (MKT)", InBand: "达标时长占比", Out: "超标时长", Excursions: "温度超标记录",
	Journey: "运输与交接记录", Chart: "温度曲线", Legend: "浅蓝：允许温度范围；灰色带：最低–最高；线：平均；红色：超标",
	Peak: "峰值", Minutes: "分钟", Code: "批次码", QR: "二维码", Generated: "数据更新于",
	About: "温度数据由冷藏车与冷库的传感器自动采集，交接记录由基地与采购方登记。", Where: "位置",
	CertBasis: "合格证承诺依据", Record: "完整冷链记录（可打印）"}

var enL = labels{Title: "Product traceability", Lang: "en", Site: "Suilong · Guangzhou–Longyan cold-chain trace", Variety: "Variety",
	Grade: "Grade", Quantity: "Lot weight", Base: "Produce base", County: "Origin", Harvested: "Harvested", Certs: "Certifications",
	CertNo: "Compliance certificate (承诺达标合格证) no.", NoCerts: "none", Verdict: "Cold-chain verdict", Band: "Required",
	MKT: "Mean kinetic temperature", InBand: "Time in band", Out: "Out of band", Excursions: "Temperature excursions",
	Journey: "Journey and hand-overs", Chart: "Temperature", Legend: "Blue: allowed range; grey: min–max; line: mean; red: excursion",
	Peak: "Peak", Minutes: "min", Code: "Lot code", QR: "QR code", Generated: "Data as of",
	About: "Temperatures are recorded automatically by sensors in the reefer trucks and cold stores; hand-overs are recorded by the base and the buyer.",
	Where: "Where", CertBasis: "Certificate basis", Record: "Full cold-chain record (printable)"}
