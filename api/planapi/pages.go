package planapi

import (
	"embed"
	"html/template"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/web"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/plan"
	"github.com/suilong/suilong/plan/tree"
)

//go:embed templates/*.html.tmpl
var templateFS embed.FS

// pageFuncs return plain strings and let html/template escape them in context: item texts, notes and lead
// departments are typed by people, so no helper here returns template.HTML. itemURL and sectionURL path-escape
// codes although the seed's (T4.6, G2) need none, so a link never depends on that. lastDay shows a report
// period's exclusive end (1 January next) as the last day in it, which is what readers expect ("… – 12-31").
var pageFuncs = template.FuncMap{
	"pct":         func(p plan.Progress) int { return p.Percent() },
	"pctf":        func(v float64) int { return int(math.Round(v)) },
	"statusZH":    func(s plan.Status) string { return s.ZH() },
	"statusEN":    func(s plan.Status) string { return s.EN() },
	"kindZH":      plan.KindZH,
	"kindEN":      plan.KindEN,
	"date":        dateText,
	"excerpt":     plan.Excerpt,
	"fieldZH":     fieldZH,
	"itemURL":     func(code string) string { return "/plan/items/" + url.PathEscape(code) },
	"sectionURL":  func(code string) string { return "/plan/domains/" + url.PathEscape(code) },
	"val":         formValue,
	"isTask":      func(k tree.Kind) bool { return k == tree.KindTask },
	"progressSet": func(p *int) string { return optInt(p) },
	"reported":    func(p plan.Progress) bool { return p.Reported() },
	"ordered":     ordered,
	"day":         func(t time.Time) string { return plan.DateOf(t).String() },
	"lastDay":     func(t time.Time) string { return plan.DateOf(t.Add(-time.Nanosecond)).String() },
	"auditValue":  auditValue,
	"eqInt":       func(a, b int) bool { return a == b },
}

type statusCount struct {
	S plan.Status
	N int
}

// ordered lists status counts in the order of plan.Statuses (a template ranges over a map by key).
func ordered(m map[plan.Status]int) []statusCount {
	out := make([]statusCount, 0, len(plan.Statuses))
	for _, s := range plan.Statuses {
		out = append(out, statusCount{s, m[s]})
	}
	return out
}

// dateText shows an unset date as a dash: an empty table cell reads as a rendering fault, "—" as "none set".
func dateText(d plan.Date) string {
	if d.IsZero() {
		return "—"
	}
	return d.String()
}

func optInt(p *int) string {
	if p == nil {
		return ""
	}
	return strconv.Itoa(*p)
}

// fieldNames are the Chinese names of the API's field names. Validation errors and the audit log name fields as
// the API does (so one message serves both); the pages show the Chinese first, for coordinators who do not
// read the English names.
var fieldNames = map[string]string{
	"lead_guangzhou": "广州牵头单位",
	"lead_longyan":   "龙岩牵头单位",
	"status":         "状态",
	"progress":       "进度",
	"target_date":    "目标日期",
	"planned":        "年度计划",
	"done":           "是否完成",
	"note":           "备注",
	"year":           "年度",
	"date":           "日期",
	"links":          "佐证链接",
	"updates":        "进展更新",
	"annual":         "年度计划",
}

// fieldZH names an audit field in Chinese: "annual[3].done" → "年度计划 #3 · 是否完成".
func fieldZH(f string) string {
	head, rest, _ := strings.Cut(f, ".")
	name, idx, hasIdx := strings.Cut(head, "[")
	out := fieldNames[name]
	if out == "" {
		out = name
	}
	if hasIdx {
		out += " #" + strings.TrimSuffix(idx, "]")
	}
	if rest != "" {
		if zh := fieldNames[rest]; zh != "" {
			out += " · " + zh
		} else {
			out += " · " + rest
		}
	}
	return out
}

// auditValue shows a status in the audit log as the pages name it; other values as they are.
func auditValue(field, v string) string {
	if v == "" {
		return "—"
	}
	if st := plan.Status(v); field == "status" && st.Valid() {
		return st.ZH() + " " + st.EN()
	}
	return v
}

// formValue prefers what was typed (a rejected form) over the stored value, even an empty string the person
// cleared on purpose: falling back to the stored value would undo their edit on the screen.
func formValue(form map[string]string, key, def string) string {
	if v, ok := form[key]; ok {
		return v
	}
	return def
}

// section is the plan pages' header.
var section = web.Section{
	Brand: web.Brand{ZH: "对口合作实施方案跟踪", EN: "plan tracking", Href: "/plan"},
	Links: []web.Link{
		{Key: "dashboard", Href: "/plan", ZH: "总览", EN: "Dashboard"},
		{Key: "report", Href: "/plan/report", ZH: "年度通报", EN: "Annual report"},
		// The export is the API route itself: the session cookie authenticates it, and one CSV serves both.
		{Href: "/api/v1/plan/export.csv", ZH: "导出 CSV", EN: "Export"},
		{Href: "/market", ZH: "菜篮子产销对接", EN: "Market"},
		{Href: "/market/rounds", ZH: "交易轮次", EN: "Rounds"},
	},
}

func (m *Module) page(c *gin.Context, title, nav string) web.Page {
	return m.d.Site.Page(c, section, title, nav)
}

func (m *Module) pageError(c *gin.Context, err error) { m.pages.Error(c, section, err) }

// pageRoutes serves the coordinators' dashboard. RequireSession sends the signed-out to sign in and back, lets
// only staff through (others get a 403 page, or their own start page instead of /plan) and checks every POST's
// CSRF token, so the handlers below need not.
func (m *Module) pageRoutes(root *gin.Engine) {
	p := root.Group("/plan", m.d.Site.RequireSession(section, auth.Principal.Staff))
	p.GET("", m.dashboardPage)
	p.GET("/domains/:code", m.domainPage)
	p.GET("/items/:code", m.itemPage)
	p.POST("/items/:code", m.trackingSubmit)
	p.POST("/items/:code/updates", m.updateSubmit)
	p.POST("/items/:code/annual", m.annualSubmit)
	p.POST("/items/:code/annual/:id", m.annualEditSubmit)
	p.GET("/report", m.reportPage)
}
