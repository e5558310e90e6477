package traceapi

import (
	"fmt"
	"strings"
	"time"

	"github.com/suilong/suilong/trace"
)

// view is what a shopper reads on a phone after scanning the package (DESIGN.md "Public pages"): product,
// base and county, harvest, certifications, the custody timeline, the chart and a plain verdict. Every field is
// text for html/template to escape: base names, asset names and who measured a handover are typed by people.
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
	Inspection              *inspectionView
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

// inspectionView is the lot's latest 农残检测.
type inspectionView struct {
	Result, Class, Lab, Date, Report string
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
	// The Chinese name first with the English beside; the English first on the English page, or when the
	// product has no Chinese name, so the heading is never empty.
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
	if in := r.Inspection; in != nil {
		v.Inspection = &inspectionView{Result: v.T.Passed, Class: "ok", Lab: in.Lab, Date: fmtTime(in.TestedOn.Time, en, true),
			Report: in.ReportNumber}
		if in.Result != trace.InspectionPass {
			v.Inspection.Result, v.Inspection.Class = v.T.Failed, "bad"
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
	// The colour says what the shopper should conclude: green for a journey monitored in band throughout, red
	// when the cold chain was broken (an excursion, a handover measured out of band), amber when the record has
	// gaps, blue when there is nothing to judge yet (not shipped, no temperature requirement).
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
	// A leg's summary (duration, range, excursions) is shown under the load that began it.
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
	bad := !band.IsZero() && !band.Contains(temp) // a lot without a band cannot be out of it
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

// fmtDur counts in days past two days: a week's journey reads better as "6 days 3 h" than as "147 h".
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

// fmtTime writes China Standard Time, whatever the reader's or the server's zone: the times on the page must
// match the receipt and what the base and the buyer recorded. No year on times: a journey lasts days.
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
