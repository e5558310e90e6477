// Package planapi is the HTTP side of plan tracking: the JSON API under /api/v1/plan for other systems
// (bearer key or the dashboard's session), and the coordinators' server-rendered pages (/login, /plan …) with
// their session cookie and CSRF protection. It translates HTTP to calls of package plan and internal/auth.
package planapi

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/plan"
)

// Deps are the module's collaborators and settings.
type Deps struct {
	Plan *plan.Service
	Auth *auth.Store
	// Sessions bounds the dashboard's sessions (zero: auth.DefaultSessionPolicy).
	Sessions auth.SessionPolicy
	// SecureCookies marks cookies Secure even when the request did not arrive over TLS (behind a proxy that
	// terminates https); requests over TLS get Secure cookies anyway.
	SecureCookies bool
	// LoginRate and LoginBurst limit sign-in attempts per client IP (per second, burst).
	LoginRate  float64
	LoginBurst int
	Log        *slog.Logger
	// Registry, when set, gets the module's metrics (sign-in attempts by outcome).
	Registry prometheus.Registerer
}

// Module serves the plan routes. It is also an api.Authenticator: the dashboard's session cookie authenticates
// /api/v1 requests, so that the pages' links to the API (the CSV export) work for a signed-in coordinator.
type Module struct {
	d     Deps
	login *rest.Limiter
	// accounts limits attempts per username too, so guesses spread over many addresses stay slow.
	accounts *rest.Limiter
	signins  *prometheus.CounterVec
}

// New returns the module.
func New(d Deps) *Module {
	if d.Sessions.Idle <= 0 || d.Sessions.Absolute <= 0 {
		d.Sessions = auth.DefaultSessionPolicy
	}
	if d.LoginRate <= 0 {
		d.LoginRate = 0.2 // one attempt every five seconds, after the burst
	}
	if d.LoginBurst <= 0 {
		d.LoginBurst = 10
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	m := &Module{d: d, login: rest.NewLimiter(rate.Limit(d.LoginRate), d.LoginBurst),
		accounts: rest.NewLimiter(rate.Every(time.Minute), 2*d.LoginBurst),
		signins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "suilong_plan_signins_total",
			Help: "Dashboard sign-in attempts by outcome (ok, wrong_password, stale_form, rate_limited); a rise in failures is someone guessing."},
			[]string{"outcome"})}
	if d.Registry != nil {
		if err := d.Registry.Register(m.signins); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				m.signins = are.ExistingCollector.(*prometheus.CounterVec)
			}
		}
	}
	return m
}

var staff = rest.RequireRole(auth.RoleAdmin, auth.RoleCoordinator)

// Routes registers the API under /api/v1 and the pages on root.
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

// CookieName is the dashboard's session cookie.
const CookieName = "suilong_session"

// CSRFHeader carries the session's CSRF token on state-changing API requests authenticated by the cookie.
const CSRFHeader = "X-CSRF-Token"

func safeMethod(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// Authenticate implements api.Authenticator: a live session cookie is a principal. A state-changing request
// that relies on the cookie must also carry the session's CSRF token in X-CSRF-Token (SameSite=Lax already keeps
// other sites' forms from sending the cookie; the token covers older browsers and same-site attackers).
func (m *Module) Authenticate(r *http.Request) (auth.Principal, bool, error) {
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return auth.Principal{}, false, nil
	}
	sess, u, err := m.d.Auth.SessionByToken(r.Context(), c.Value)
	if errs.Is(err, errs.Unauthorized) {
		return auth.Principal{}, false, nil
	}
	if err != nil {
		return auth.Principal{}, false, err
	}
	if !safeMethod(r.Method) && !sess.CSRFMatches(r.Header.Get(CSRFHeader)) {
		return auth.Principal{}, false, errs.E(errs.Forbidden, "requests signed in with the dashboard's cookie must send the session's CSRF token in %s", CSRFHeader)
	}
	return u.Principal(), true, nil
}

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

// trackingResp is the answer to a PATCH: the new state and what changed.
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
		ch = []plan.Change{}
	}
	c.JSON(http.StatusOK, trackingResp{Code: c.Param("code"), Tracking: t, Changes: ch})
}

func (m *Module) listUpdates(c *gin.Context) {
	page, err := rest.Page(c)
	if err != nil {
		rest.Problem(c, err)
		return
	}
	ups, total, err := m.d.Plan.Updates(c.Request.Context(), rest.Principal(c), c.Param("code"), page.Limit, page.Offset)
	if err != nil {
		rest.Problem(c, err)
		return
	}
	rest.List(c, ups, total, page)
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
	page, err := rest.Page(c)
	if err != nil {
		rest.Problem(c, err)
		return
	}
	es, total, err := m.d.Plan.Audit(c.Request.Context(), rest.Principal(c), c.Param("code"), page.Limit, page.Offset)
	if err != nil {
		rest.Problem(c, err)
		return
	}
	rest.List(c, es, total, page)
}

func (m *Module) exportCSV(c *gin.Context) {
	var b bytes.Buffer
	if err := m.d.Plan.WriteCSV(c.Request.Context(), rest.Principal(c), &b); err != nil {
		rest.Problem(c, err)
		return
	}
	name := "suilong-plan-" + plan.DateOf(m.d.Plan.Store.Now()).String() + ".csv"
	c.Header("Content-Disposition", `attachment; filename="`+name+`"`)
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "text/csv; charset=utf-8", b.Bytes())
}

// reportYear parses ?year=, defaulting to this year. Errors: Unprocessable naming "year".
func (m *Module) reportYear(c *gin.Context) (int, error) {
	s := strings.TrimSpace(c.Query("year"))
	if s == "" {
		return m.d.Plan.Store.Now().In(plan.CST).Year(), nil
	}
	y, err := strconv.Atoi(s)
	if err != nil {
		return 0, &errs.Error{Code: errs.Unprocessable, Message: "bad year",
			Fields: []errs.FieldError{{Field: "year", Message: "must be a year such as 2025"}}}
	}
	return y, nil
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
	if c.NegotiateFormat("text/html", "application/json") == "application/json" {
		c.JSON(http.StatusOK, r)
		return
	}
	m.render(c, http.StatusOK, "report", m.reportView(c, r, nil, true))
}
