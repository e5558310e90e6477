package planapi

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/plan"
	"github.com/suilong/suilong/plan/tree"
)

//go:embed templates/*.html.tmpl
var templateFS embed.FS

var pages = template.Must(template.New("pages").Funcs(template.FuncMap{
	"pct":         func(p plan.Progress) int { return p.Percent() },
	"pctf":        func(v float64) int { return int(math.Round(v)) },
	"statusZH":    func(s plan.Status) string { return s.ZH() },
	"statusEN":    func(s plan.Status) string { return s.EN() },
	"kindZH":      plan.KindZH,
	"kindEN":      plan.KindEN,
	"date":        dateText,
	"when":        func(t time.Time) string { return t.In(plan.CST).Format("2006-01-02 15:04") },
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
}).ParseFS(templateFS, "templates/*.html.tmpl"))

// The pages are plain HTML with inline CSS: no script at all, so the policy forbids every script, and forms
// may only post back to this site.
const pageCSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

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

// Page is what every page's layout needs.
type Page struct {
	Title      string
	User       *auth.User
	CSRF       string
	Standalone bool // the report served by the API: no navigation
	Nav        string
	Generated  string
}

func (m *Module) base(c *gin.Context, title, nav string) Page {
	b := Page{Title: title, Nav: nav, Generated: m.d.Plan.Store.Now().In(plan.CST).Format("2006-01-02 15:04")}
	if u, ok := c.Get("user"); ok {
		uu := u.(auth.User)
		b.User = &uu
	}
	if s, ok := c.Get("session"); ok {
		b.CSRF = s.(auth.Session).CSRF
	}
	return b
}

func (m *Module) render(c *gin.Context, status int, name string, data any) {
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, name, data); err != nil {
		m.d.Log.Error("plan: page failed to render", "page", name, "err", err)
		c.Abort()
		c.Data(http.StatusInternalServerError, "text/plain; charset=utf-8", []byte("页面暂时无法显示，请稍后再试。\nThe page cannot be shown at the moment; please try again later.\n"))
		return
	}
	c.Header("Content-Security-Policy", pageCSP)
	c.Header("Cache-Control", "no-store")
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Referrer-Policy", "same-origin")
	c.Data(status, "text/html; charset=utf-8", b.Bytes())
}

type errorView struct {
	Page
	Status    int
	Message   string
	MessageEN string
}

// pageError shows an error page; internal errors are logged and shown without their cause.
func (m *Module) pageError(c *gin.Context, err error) {
	status := http.StatusInternalServerError
	zh, en := "出错了，请稍后再试。", "Something went wrong; please try again later."
	switch errs.CodeOf(err) {
	case errs.NotFound:
		status, zh, en = http.StatusNotFound, "未找到该页面或条目。", errs.As(err).Message
	case errs.Forbidden:
		status, zh, en = http.StatusForbidden, "无权执行此操作。", errs.As(err).Message
	case errs.Unprocessable, errs.Invalid:
		status, zh, en = http.StatusUnprocessableEntity, "请求有误。", err.Error()
	default:
		m.d.Log.Error("plan: page failed", "path", c.Request.URL.Path, "err", err)
	}
	c.Abort()
	m.render(c, status, "error", errorView{Page: m.base(c, "出错了 Error", ""), Status: status, Message: zh, MessageEN: en})
}

// --- sessions and sign-in

func (m *Module) secure(r *http.Request) bool { return m.d.SecureCookies || r.TLS != nil }

func (m *Module) setCookie(c *gin.Context, name, value, path string, maxAge int) {
	http.SetCookie(c.Writer, &http.Cookie{Name: name, Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, Secure: m.secure(c.Request), SameSite: http.SameSiteLaxMode})
}

// session returns the request's live session, if any.
func (m *Module) session(c *gin.Context) (auth.Session, auth.User, bool) {
	ck, err := c.Request.Cookie(CookieName)
	if err != nil || ck.Value == "" {
		return auth.Session{}, auth.User{}, false
	}
	sess, u, err := m.d.Auth.SessionByToken(c.Request.Context(), ck.Value)
	if err != nil {
		if !errs.Is(err, errs.Unauthorized) {
			m.d.Log.Error("plan: session lookup failed", "err", err)
		}
		m.setCookie(c, CookieName, "", "/", -1)
		return auth.Session{}, auth.User{}, false
	}
	return sess, u, true
}

// requireSession lets signed-in coordinators through and sends everyone else to the sign-in page, to come back
// where they were going.
func (m *Module) requireSession(c *gin.Context) {
	sess, u, ok := m.session(c)
	if !ok {
		next := c.Request.URL.RequestURI()
		if c.Request.Method != http.MethodGet {
			next = c.Request.URL.Path
		}
		c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(next))
		c.Abort()
		return
	}
	c.Set("session", sess)
	c.Set("user", u)
	c.Request = c.Request.WithContext(auth.WithPrincipal(c.Request.Context(), u.Principal()))
	if c.Request.Method == http.MethodPost {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, 1<<20)
		if !sess.CSRFMatches(c.PostForm("csrf")) {
			c.Abort()
			m.render(c, http.StatusForbidden, "error", errorView{Page: m.base(c, "安全校验失败 CSRF check failed", ""), Status: http.StatusForbidden,
				Message:   "安全校验失败：表单已过期或来自其他网站，未做任何更改。请返回页面刷新后重试。",
				MessageEN: "Security check failed: the form is stale or came from another site. Nothing was changed; go back, reload the page and try again."})
			return
		}
	}
	c.Next()
}

// safeNext keeps the after-sign-in redirect on this site's plan pages (no open redirect).
func safeNext(next string) string {
	if (strings.HasPrefix(next, "/plan") || strings.HasPrefix(next, "/api/v1/plan")) && !strings.ContainsAny(next, "\\\r\n") {
		return next
	}
	return "/plan"
}

// Sign-in is protected against login CSRF by a double-submit token: a random value in a cookie scoped to
// /login and the same value in the form.
const loginCookie = "suilong_login"

type loginView struct {
	Page
	Username  string
	Next      string
	Token     string
	Error     string
	ErrorEN   string
	SignedOut bool
}

func newToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (m *Module) loginPage(c *gin.Context) {
	if _, _, ok := m.session(c); ok {
		c.Redirect(http.StatusSeeOther, safeNext(c.Query("next")))
		return
	}
	m.showLogin(c, http.StatusOK, loginView{Next: safeNext(c.Query("next")), SignedOut: c.Query("out") != ""})
}

func (m *Module) showLogin(c *gin.Context, status int, v loginView) {
	v.Page = m.base(c, "登录 Sign in", "")
	v.Token = newToken()
	m.setCookie(c, loginCookie, v.Token, "/login", 3600)
	m.render(c, status, "login", v)
}

func (m *Module) loginSubmit(c *gin.Context) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, 64<<10)
	v := loginView{Username: strings.TrimSpace(c.PostForm("username")), Next: safeNext(c.PostForm("next"))}
	// The client's address as the trusted proxies tell it (SUILONG_TRUSTED_PROXIES; with none, the connection's
	// own: an X-Forwarded-For from anyone else is ignored, since a guesser would simply vary it), and the account.
	now := time.Now()
	if !m.login.Allow(c.ClientIP(), now) || !m.accounts.Allow(strings.ToLower(v.Username), now) {
		c.Header("Retry-After", "60")
		m.signins.WithLabelValues("rate_limited").Inc()
		v.Error, v.ErrorEN = "尝试次数过多，请一分钟后再试。", "Too many attempts; please wait a minute and try again."
		m.showLogin(c, http.StatusTooManyRequests, v)
		return
	}
	ck, err := c.Request.Cookie(loginCookie)
	form := c.PostForm("csrf")
	if err != nil || form == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(form)) != 1 {
		m.signins.WithLabelValues("stale_form").Inc()
		v.Error, v.ErrorEN = "登录表单已过期，请重新输入。", "The sign-in form had expired; please enter your details again."
		m.showLogin(c, http.StatusForbidden, v)
		return
	}
	u, err := m.d.Auth.CheckPassword(c.Request.Context(), v.Username, c.PostForm("password"))
	if errs.Is(err, errs.Unauthorized) {
		m.signins.WithLabelValues("wrong_password").Inc()
		m.d.Log.Info("plan: sign-in refused", "username", v.Username, "client", c.ClientIP())
		v.Error, v.ErrorEN = "用户名或密码错误。", "Wrong username or password."
		m.showLogin(c, http.StatusUnauthorized, v)
		return
	}
	if err != nil {
		m.pageError(c, err)
		return
	}
	// A new session on every sign-in, and the old one (if any) ended: no session fixation.
	if old, err := c.Request.Cookie(CookieName); err == nil && old.Value != "" {
		_ = m.d.Auth.DeleteSession(c.Request.Context(), old.Value)
	}
	token, _, err := m.d.Auth.CreateSession(c.Request.Context(), u.ID, m.d.Sessions, c.Request.UserAgent())
	if err != nil {
		m.pageError(c, err)
		return
	}
	m.signins.WithLabelValues("ok").Inc()
	m.d.Log.Info("plan: signed in", "user", u.Username, "org", u.OrgName, "client", c.ClientIP())
	m.setCookie(c, CookieName, token, "/", 0)
	m.setCookie(c, loginCookie, "", "/login", -1)
	c.Redirect(http.StatusSeeOther, v.Next)
}

func (m *Module) logout(c *gin.Context) {
	sess, _, ok := m.session(c)
	if !ok {
		c.Redirect(http.StatusSeeOther, "/login")
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, 64<<10)
	if !sess.CSRFMatches(c.PostForm("csrf")) {
		m.render(c, http.StatusForbidden, "error", errorView{Page: m.base(c, "安全校验失败 CSRF check failed", ""), Status: http.StatusForbidden,
			Message: "安全校验失败，未退出登录。", MessageEN: "Security check failed; you are still signed in."})
		return
	}
	ck, _ := c.Request.Cookie(CookieName)
	if err := m.d.Auth.DeleteSession(c.Request.Context(), ck.Value); err != nil {
		m.pageError(c, err)
		return
	}
	m.setCookie(c, CookieName, "", "/", -1)
	c.Redirect(http.StatusSeeOther, "/login?out=1")
}

// --- pages

func (m *Module) pageRoutes(root *gin.Engine) {
	root.GET("/login", m.loginPage)
	root.POST("/login", m.loginSubmit)
	root.POST("/logout", m.logout)
	p := root.Group("/plan", m.requireSession)
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

type dashboardView struct {
	Page
	D          *plan.Dashboard
	Year       int
	Reportable []int
}

func (m *Module) dashboardPage(c *gin.Context) {
	d, err := m.d.Plan.Dashboard(c.Request.Context(), principal(c))
	if err != nil {
		m.pageError(c, err)
		return
	}
	m.render(c, http.StatusOK, "dashboard", dashboardView{Page: m.base(c, "对口合作实施方案跟踪 Plan tracking", "dashboard"), D: d,
		Year: d.AsOf.Year(), Reportable: m.years()})
}

// years are the years a report can be had for.
func (m *Module) years() []int {
	var out []int
	for y := plan.FirstYear; y <= plan.LastYear && y <= m.d.Plan.Store.Now().In(plan.CST).Year(); y++ {
		out = append(out, y)
	}
	return out
}

type sectionView struct {
	Page
	Section *plan.Item
	KPIs    []plan.KPI
}

func (m *Module) domainPage(c *gin.Context) {
	d, pl, err := m.d.Plan.Detail(c.Request.Context(), principal(c), c.Param("code"))
	if err != nil {
		m.pageError(c, err)
		return
	}
	if d.Parent != "" {
		// Only top-level items have a section page; the others are items.
		c.Redirect(http.StatusSeeOther, "/plan/items/"+url.PathEscape(d.Code))
		return
	}
	_ = pl
	m.render(c, http.StatusOK, "section", sectionView{Page: m.base(c, d.Label()+" · "+plan.KindZH(d.Kind), "dashboard"), Section: d.Item, KPIs: d.KPIs})
}

type statusOption struct {
	Value    plan.Status
	Selected bool
}

type itemView struct {
	Page
	D        *plan.ItemDetail
	Statuses []statusOption
	Years    []int
	Today    string
	Form     map[string]string
	Errs     []errs.FieldError
	Failed   string
	Saved    string
	Year     int
}

func (m *Module) itemView(c *gin.Context, code string) (*itemView, error) {
	d, _, err := m.d.Plan.Detail(c.Request.Context(), principal(c), code)
	if err != nil {
		return nil, err
	}
	v := &itemView{Page: m.base(c, d.Code+" "+d.Label(), "dashboard"), D: d, Today: m.d.Plan.Store.Today().String(),
		Form: map[string]string{}, Saved: c.Query("saved"), Year: m.d.Plan.Store.Today().Year()}
	for _, s := range plan.Statuses {
		v.Statuses = append(v.Statuses, statusOption{Value: s, Selected: s == d.Tracking.Status})
	}
	for y := plan.FirstYear; y <= plan.LastYear; y++ {
		v.Years = append(v.Years, y)
	}
	return v, nil
}

func (m *Module) itemPage(c *gin.Context) {
	v, err := m.itemView(c, c.Param("code"))
	if err != nil {
		m.pageError(c, err)
		return
	}
	m.render(c, http.StatusOK, "item", v)
}

// formFailed shows the item page again with what was typed and what is wrong, changing nothing.
func (m *Module) formFailed(c *gin.Context, form string, err error) {
	if !errs.Is(err, errs.Unprocessable) && !errs.Is(err, errs.Invalid) {
		m.pageError(c, err)
		return
	}
	v, verr := m.itemView(c, c.Param("code"))
	if verr != nil {
		m.pageError(c, verr)
		return
	}
	v.Failed = form
	if e := errs.As(err); e != nil {
		v.Errs = e.Fields
		if len(v.Errs) == 0 {
			v.Errs = []errs.FieldError{{Field: form, Message: e.Message}}
		}
	}
	_ = c.Request.ParseForm()
	for k, vals := range c.Request.PostForm {
		if k != "csrf" && len(vals) > 0 {
			v.Form[form+"."+k] = vals[0]
		}
	}
	m.render(c, http.StatusUnprocessableEntity, "item", v)
}

func (m *Module) saved(c *gin.Context, what, anchor string) {
	c.Redirect(http.StatusSeeOther, "/plan/items/"+url.PathEscape(c.Param("code"))+"?saved="+what+"#"+anchor)
}

func (m *Module) trackingSubmit(c *gin.Context) {
	opt := func(s string) plan.Opt[string] { return plan.Opt[string]{Set: true, V: s} }
	pt := plan.TrackingPatch{
		LeadGuangzhou: opt(c.PostForm("lead_guangzhou")),
		LeadLongyan:   opt(c.PostForm("lead_longyan")),
		Status:        opt(c.PostForm("status")),
		TargetDate:    plan.Opt[string]{Set: true, V: strings.TrimSpace(c.PostForm("target_date")), Null: strings.TrimSpace(c.PostForm("target_date")) == ""},
		Progress:      plan.Opt[int]{Set: true, Null: true},
	}
	if s := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(c.PostForm("progress")), "%")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			m.formFailed(c, "tracking", &errs.Error{Code: errs.Unprocessable, Message: "validation failed",
				Fields: []errs.FieldError{{Field: "progress", Message: "must be a whole number from 0 to 100, or empty to roll it up"}}})
			return
		}
		pt.Progress = plan.Opt[int]{Set: true, V: n}
	}
	if _, _, err := m.d.Plan.UpdateTracking(c.Request.Context(), principal(c), c.Param("code"), pt); err != nil {
		m.formFailed(c, "tracking", err)
		return
	}
	m.saved(c, "tracking", "tracking")
}

func (m *Module) updateSubmit(c *gin.Context) {
	n := plan.NewUpdate{Date: c.PostForm("date"), Note: c.PostForm("note")}
	for _, l := range strings.Split(c.PostForm("links"), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			n.Links = append(n.Links, l)
		}
	}
	if _, err := m.d.Plan.AddUpdate(c.Request.Context(), principal(c), c.Param("code"), n); err != nil {
		m.formFailed(c, "update", err)
		return
	}
	m.saved(c, "update", "updates")
}

func (m *Module) annualSubmit(c *gin.Context) {
	year, err := strconv.Atoi(c.PostForm("year"))
	if err != nil {
		year = 0 // reported by the validation, by name
	}
	n := plan.NewAnnual{Year: year, Planned: c.PostForm("planned"), Done: c.PostForm("done") != "", Note: c.PostForm("note")}
	if _, err := m.d.Plan.AddAnnual(c.Request.Context(), principal(c), c.Param("code"), n); err != nil {
		m.formFailed(c, "annual", err)
		return
	}
	m.saved(c, "annual", "annual")
}

func (m *Module) annualEditSubmit(c *gin.Context) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		m.pageError(c, errs.E(errs.NotFound, "annual entry %q not found", c.Param("id")))
		return
	}
	planned, note, done := c.PostForm("planned"), c.PostForm("note"), c.PostForm("done") != ""
	form := fmt.Sprintf("annual-%d", id)
	if _, err := m.d.Plan.UpdateAnnual(c.Request.Context(), principal(c), c.Param("code"), id, plan.AnnualPatch{Planned: &planned, Note: &note, Done: &done}); err != nil {
		m.formFailed(c, form, err)
		return
	}
	m.saved(c, "annual", form)
}

type reportView struct {
	Page
	R     *plan.Report
	Years []int
}

func (m *Module) reportView(c *gin.Context, r *plan.Report, _ *auth.User, standalone bool) reportView {
	b := m.base(c, fmt.Sprintf("%d 年度总结通报 Annual report %d", r.Year, r.Year), "report")
	b.Standalone = standalone
	return reportView{Page: b, R: r, Years: m.years()}
}

func (m *Module) reportPage(c *gin.Context) {
	year, err := m.reportYear(c)
	if err == nil {
		var r *plan.Report
		if r, err = m.d.Plan.Report(c.Request.Context(), principal(c), year); err == nil {
			m.render(c, http.StatusOK, "report", m.reportView(c, r, nil, false))
			return
		}
	}
	m.pageError(c, err)
}
