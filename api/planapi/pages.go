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
		{Href: "/api/v1/plan/export.csv", ZH: "导出 CSV", EN: "Export"},
		{Href: "/market", ZH: "菜篮子产销对接", EN: "Market"},
	},
}

func (m *Module) page(c *gin.Context, title, nav string) web.Page {
	return m.d.Site.Page(c, section, title, nav)
}

func (m *Module) pageError(c *gin.Context, err error) { m.pages.Error(c, section, err) }

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

func principal(c *gin.Context) auth.Principal {
	p, _ := auth.FromContext(c.Request.Context())
	return p
}
