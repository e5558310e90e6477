// Package planapi is the HTTP side of plan tracking: the JSON API under /api/v1/plan for other systems
// (bearer key or the web session), and the coordinators' server-rendered pages under /plan (signed in through
// package web). It translates HTTP to calls of package plan.
package planapi

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/api/web"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/plan"
)

// Deps are the module's collaborators.
type Deps struct {
	// Plan holds the rules (who may read and change, validation, the audit log); handlers here only translate
	// HTTP to its calls, as DESIGN.md "Layout" wants of api/.
	Plan *plan.Service
	// Site is the signed-in web: sessions, sign-in, the pages' layout.
	Site *web.Site
}

// Module serves the plan routes: the API and the coordinators' pages.
type Module struct {
	d     Deps
	pages *web.Renderer
}

// New returns the module.
func New(d Deps) *Module {
	return &Module{d: d, pages: d.Site.NewRenderer(templateFS, pageFuncs)}
}

// staff turns away every other role before a handler runs, so a base's or buyer's key gets 403 without
// learning whether an item code exists. Tracking (lead departments, risks, delays) is the coordinators' working
// record, not for bases, buyers or gateways; plan.Service checks the same rule again (plan.CanRead) because the
// pages reach it without this middleware.
var staff = rest.RequireRole(auth.RoleAdmin, auth.RoleCoordinator)

// Routes registers the API under /api/v1 and the pages on root. The names are DESIGN.md "HTTP contract"'s
// (plan, plan/items/{code}, /updates, plan/dashboard, plan/export.csv, plan/report?year=), checked by tests;
// annual and audit serve "Plan"'s annual work-plan entries (年度工作计划) and the record of who changed what.
func (m *Module) Routes(v1 *gin.RouterGroup, root *gin.Engine) {
	g := v1.Group("/plan", staff)
	g.GET("", m.getPlan)
	g.GET("/dashboard", m.getDashboard)
	g.GET("/export.csv", m.exportCSV)
	g.GET("/report", m.getReport)
	g.GET("/items/:code", m.getItem)
	g.PATCH("/items/:code", m.patchItem)
	g.GET("/items/:code/updates", m.listUpdates)
	g.POST("/items/:code/updates", m.postUpdate)
	g.GET("/items/:code/annual", m.listAnnual)
	g.POST("/items/:code/annual", m.postAnnual)
	g.PATCH("/items/:code/annual/:id", m.patchAnnual)
	g.GET("/items/:code/audit", m.listAudit)
	m.pageRoutes(root)
}

// getPlan answers with the whole tree in one document, unpaginated, as DESIGN.md "Plan" asks: another system
// mirrors the plan with one request and every item's full text.
func (m *Module) getPlan(c *gin.Context) {
	pl, err := m.d.Plan.Plan(c.Request.Context(), rest.Principal(c))
	if err != nil {
		rest.Problem(c, err)
		return
	}
	c.JSON(http.StatusOK, pl)
}

func (m *Module) getDashboard(c *gin.Context) {
	d, err := m.d.Plan.Dashboard(c.Request.Context(), rest.Principal(c))
	if err != nil {
		rest.Problem(c, err)
		return
	}
	c.JSON(http.StatusOK, d)
}

func (m *Module) getItem(c *gin.Context) {
	d, _, err := m.d.Plan.Detail(c.Request.Context(), rest.Principal(c), c.Param("code"))
	if err != nil {
		rest.Problem(c, err)
		return
	}
	c.JSON(http.StatusOK, d)
}

// trackingResp is the answer to a PATCH: the new state and what changed. Changes lists only fields whose value
// really moved (a field sent with its current value is not audited), so a client can tell a no-op from an edit.
type trackingResp struct {
	Code     string        `json:"code"`
	Tracking plan.Tracking `json:"tracking"`
	Changes  []plan.Change `json:"changes"`
}

func (m *Module) patchItem(c *gin.Context) {
	var pt plan.TrackingPatch
	if err := rest.Bind(c, &pt); err != nil {
		rest.Problem(c, err)
		return
	}
	t, ch, err := m.d.Plan.UpdateTracking(c.Request.Context(), rest.Principal(c), c.Param("code"), pt)
	if err != nil {
		rest.Problem(c, err)
		return
	}
	if ch == nil {
		ch = []plan.Change{} // [] rather than null: clients iterate it without a nil check
	}
	c.JSON(http.StatusOK, trackingResp{Code: c.Param("code"), Tracking: t, Changes: ch})
}

func (m *Module) listUpdates(c *gin.Context) {
	rest.ListPage(c, func(p rest.PageReq) ([]plan.Update, int, error) {
		return m.d.Plan.Updates(c.Request.Context(), rest.Principal(c), c.Param("code"), p)
	})
}

func (m *Module) postUpdate(c *gin.Context) {
	var n plan.NewUpdate
	if err := rest.Bind(c, &n); err != nil {
		rest.Problem(c, err)
		return
	}
	u, err := m.d.Plan.AddUpdate(c.Request.Context(), rest.Principal(c), c.Param("code"), n)
	if err != nil {
		rest.Problem(c, err)
		return
	}
	c.JSON(http.StatusCreated, u)
}

// listAnnual answers with the whole list in the list envelope: entries are planned by hand, a few per item for
// each year of a five-year plan, so paging them would only cost clients a second request.
func (m *Module) listAnnual(c *gin.Context) {
	as, err := m.d.Plan.Annual(c.Request.Context(), rest.Principal(c), c.Param("code"))
	if err != nil {
		rest.Problem(c, err)
		return
	}
	rest.List(c, as, len(as), rest.PageReq{Limit: len(as)})
}

func (m *Module) postAnnual(c *gin.Context) {
	var n plan.NewAnnual
	if err := rest.Bind(c, &n); err != nil {
		rest.Problem(c, err)
		return
	}
	a, err := m.d.Plan.AddAnnual(c.Request.Context(), rest.Principal(c), c.Param("code"), n)
	if err != nil {
		rest.Problem(c, err)
		return
	}
	c.JSON(http.StatusCreated, a)
}

func (m *Module) patchAnnual(c *gin.Context) {
	id, err := rest.ID(c, "id")
	if err != nil {
		rest.Problem(c, err)
		return
	}
	var pt plan.AnnualPatch
	if err := rest.Bind(c, &pt); err != nil {
		rest.Problem(c, err)
		return
	}
	a, err := m.d.Plan.UpdateAnnual(c.Request.Context(), rest.Principal(c), c.Param("code"), id, pt)
	if err != nil {
		rest.Problem(c, err)
		return
	}
	c.JSON(http.StatusOK, a)
}

func (m *Module) listAudit(c *gin.Context) {
	rest.ListPage(c, func(p rest.PageReq) ([]plan.AuditEntry, int, error) {
		return m.d.Plan.Audit(c.Request.Context(), rest.Principal(c), c.Param("code"), p)
	})
}

func (m *Module) exportCSV(c *gin.Context) {
	// Buffered rather than streamed: a failure half-way still becomes a problem+json with its status, not a
	// 200 with a truncated file that a spreadsheet would open without complaint.
	var b bytes.Buffer
	if err := m.d.Plan.WriteCSV(c.Request.Context(), rest.Principal(c), &b); err != nil {
		rest.Problem(c, err)
		return
	}
	// The date in the name keeps successive downloads apart in a coordinator's folder. no-store: the sheet
	// holds the coordinators' notes and must not stay in a shared office PC's or a proxy's cache.
	name := "suilong-plan-" + plan.DateOf(m.d.Plan.Store.Now()).String() + ".csv"
	c.Header("Content-Disposition", `attachment; filename="`+name+`"`)
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "text/csv; charset=utf-8", b.Bytes())
}

// reportYear parses ?year=, defaulting to this year. Errors: Unprocessable naming "year".
func (m *Module) reportYear(c *gin.Context) (int, error) {
	s := strings.TrimSpace(c.Query("year"))
	if s == "" {
		// This year in China (CST), not UTC: on 1 January before 08:00 the report is already the new year's.
		return m.d.Plan.Store.Now().In(plan.CST).Year(), nil
	}
	y, err := strconv.Atoi(s)
	if err != nil {
		return 0, &errs.Error{Code: errs.Unprocessable, Message: "bad year",
			Fields: []errs.FieldError{{Field: "year", Message: "must be a year such as 2025"}}}
	}
	return y, nil // whether the plan covers that year is plan.Report's rule, not ours
}

func (m *Module) getReport(c *gin.Context) {
	year, err := m.reportYear(c)
	if err != nil {
		rest.Problem(c, err)
		return
	}
	r, err := m.d.Plan.Report(c.Request.Context(), rest.Principal(c), year)
	if err != nil {
		rest.Problem(c, err)
		return
	}
	// One URL for both readers of 年度总结通报: systems asking for JSON get the data, while a coordinator who
	// opens the link in a browser gets the standalone page (no site header) to print or forward.
	if c.NegotiateFormat("text/html", "application/json") == "application/json" {
		c.JSON(http.StatusOK, r)
		return
	}
	m.pages.Render(c, http.StatusOK, "report", m.reportView(c, r, true))
}
