package traceapi

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/trace"
)

//go:embed record.html.tmpl
var recordSrc string

var recordTmpl = template.Must(template.New("record").Funcs(template.FuncMap{
	"c": func(p *float64) string {
		if p == nil {
			return "—"
		}
		return fmt.Sprintf("%.1f °C", *p)
	},
	"when": func(t time.Time) string { return t.In(trace.CST).Format("2006-01-02 15:04") },
	"whenp": func(t *time.Time) string {
		if t == nil {
			return "—"
		}
		return t.In(trace.CST).Format("2006-01-02 15:04")
	},
	"hm":     func(t time.Time) string { return t.In(trace.CST).Format("15:04:05") },
	"sensor": trace.SensorLabel,
	"pct":    func(p *float64) string { return fmt.Sprintf("%.1f%%", *p) },
	"inc":    func(i int) int { return i + 1 },
}).Parse(recordSrc))

// recordView is the printable record: the record itself, its hash, and its readings grouped by day.
type recordView struct {
	R *trace.Record
	// SHA256 is of the exact bytes report.json serves (the JSON is deterministic), so an inspector can check
	// a downloaded copy against the printed page (DESIGN.md "Recall and records").
	SHA256 string
	Legs   []recordLegView
	En     bool
	// Basis names the 承诺达标合格证's basis in both languages whatever the page's: a printed record cannot
	// switch language for its reader.
	Basis string
}

type recordLegView struct {
	trace.RecordLeg
	Days []dayView
}

type dayView struct {
	Day      string
	Readings []trace.RecordReading
}

// record is public like the page (anyone with the code): it is what an inspector checks the lot against, and
// it is built from the public report, leaving out what the page leaves out (asset ids, for one).
func (m *Module) record(c *gin.Context) (*trace.Record, []byte, bool) {
	r, err := m.d.Service.PublicRecord(c.Request.Context(), c.Param("code"))
	if errs.Is(err, errs.NotFound) {
		m.notFound(c)
		return nil, nil, false
	}
	var b []byte
	if err == nil {
		b, err = r.JSON()
	}
	if err != nil {
		m.pageError(c, err)
		return nil, nil, false
	}
	return r, b, true
}

func (m *Module) recordJSON(c *gin.Context) {
	r, b, ok := m.record(c)
	if !ok {
		return
	}
	c.Header("Content-Disposition", `inline; filename="lot-`+r.Lot.Code+`.record.json"`)
	// The hash beside the bytes, so a script can check a download without the printed page.
	c.Header("X-Content-SHA256", trace.SHA256(b))
	c.Header("Cache-Control", "public, max-age=60")
	c.Data(http.StatusOK, "application/json", b)
}

func (m *Module) recordPage(c *gin.Context) {
	r, b, ok := m.record(c)
	if !ok {
		return
	}
	v := recordView{R: r, SHA256: trace.SHA256(b), En: lang(c) == "en"}
	if r.Certificate.Basis != "" {
		v.Basis = r.Certificate.Basis.NameZH() + " " + r.Certificate.Basis.NameEN()
	}
	for _, g := range r.Legs {
		lv := recordLegView{RecordLeg: g}
		for _, x := range g.Readings {
			// Days in China's calendar, the one the journey and its paperwork are dated in.
			day := x.At.In(trace.CST).Format("2006-01-02")
			if n := len(lv.Days); n == 0 || lv.Days[n-1].Day != day {
				lv.Days = append(lv.Days, dayView{Day: day})
			}
			d := &lv.Days[len(lv.Days)-1]
			d.Readings = append(d.Readings, x)
		}
		v.Legs = append(v.Legs, lv)
	}
	var out bytes.Buffer
	if err := recordTmpl.ExecuteTemplate(&out, "record", v); err != nil {
		m.pageError(c, err)
		return
	}
	c.Header("Cache-Control", "public, max-age=60")
	c.Header("Content-Security-Policy", pageCSP)
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Referrer-Policy", "no-referrer")
	c.Data(http.StatusOK, "text/html; charset=utf-8", out.Bytes())
}
