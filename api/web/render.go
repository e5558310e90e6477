package web

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
)

//go:embed templates/*.html.tmpl
var templateFS embed.FS

// The pages are plain HTML with inline CSS: no script at all, so the policy forbids every script, and forms
// may only post back to this site.
const pageCSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// CST is the time zone pages show times in (UTC+8, both cities).
var CST = time.FixedZone("CST", 8*3600)

// Brand is the title of a section of the site (plan tracking, the console, the market), linking to its start.
type Brand struct{ ZH, EN, Href string }

// Link is one entry of a section's navigation; Key marks it current. For, when set, shows the link only to the
// people it admits (the console's link to the market pages is for coordinators, not carriers).
type Link struct {
	Key, Href, ZH, EN string
	On                bool
	For               func(auth.Principal) bool
}

// Section is what a module's pages share in their header.
type Section struct {
	Brand Brand
	Links []Link
}

// Page is what every page's layout needs; a module's view embeds it.
type Page struct {
	Title      string
	User       *auth.User
	CSRF       string
	Standalone bool // no header (a document printed or fetched on its own)
	Brand      Brand
	Links      []Link
	Nav        string
	Generated  string
	// Refresh, when positive, makes the page reload itself every so many seconds (a meta refresh: no script).
	Refresh int
}

// Page returns the layout's part of a page of the section, with the link nav marked current.
func (s *Site) Page(c *gin.Context, sec Section, title, nav string) Page {
	p := Page{Title: title, Brand: sec.Brand, Nav: nav, Generated: s.d.Now().In(CST).Format("2006-01-02 15:04")}
	if u, ok := c.Get(userKey); ok {
		uu := u.(auth.User)
		p.User = &uu
	}
	for _, l := range sec.Links {
		if l.For != nil && (p.User == nil || !l.For(p.User.Principal())) {
			continue
		}
		l.On = l.Key != "" && l.Key == nav
		p.Links = append(p.Links, l)
	}
	if ss, ok := c.Get(sessionKey); ok {
		p.CSRF = ss.(auth.Session).CSRF
	}
	return p
}

// Renderer renders a module's pages: the site's layout, error and sign-in templates plus the module's own.
type Renderer struct {
	site *Site
	t    *template.Template
}

// NewRenderer parses the module's templates (*.html.tmpl under templates/ of files; nil for none) on top of
// the site's, with the module's functions.
func (s *Site) NewRenderer(files fs.FS, funcs template.FuncMap) *Renderer {
	t := template.Must(template.New("pages").Funcs(template.FuncMap{
		"when": func(t time.Time) string { return t.In(CST).Format("2006-01-02 15:04") },
	}).Funcs(funcs).ParseFS(templateFS, "templates/*.html.tmpl"))
	if files != nil {
		t = template.Must(t.ParseFS(files, "templates/*.html.tmpl"))
	}
	return &Renderer{site: s, t: t}
}

// Render writes the named template with data as the page.
func (r *Renderer) Render(c *gin.Context, status int, name string, data any) {
	var b bytes.Buffer
	if err := r.t.ExecuteTemplate(&b, name, data); err != nil {
		r.site.d.Log.Error("web: page failed to render", "page", name, "err", err)
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

// Error shows an error page within the section; internal errors are logged and shown without their cause.
func (r *Renderer) Error(c *gin.Context, sec Section, err error) {
	status := http.StatusInternalServerError
	zh, en := "出错了，请稍后再试。", "Something went wrong; please try again later."
	switch errs.CodeOf(err) {
	case errs.NotFound:
		status, zh, en = http.StatusNotFound, "未找到该页面或条目。", errs.As(err).Message
	case errs.Forbidden:
		status, zh, en = http.StatusForbidden, "无权执行此操作。", errs.As(err).Message
	case errs.Conflict:
		status, zh, en = http.StatusConflict, "操作与当前状态冲突，未做任何更改。", errs.As(err).Message
	case errs.Unprocessable, errs.Invalid:
		status, zh, en = http.StatusUnprocessableEntity, "请求有误。", err.Error()
	default:
		r.site.d.Log.Error("web: page failed", "path", c.Request.URL.Path, "err", err)
	}
	c.Abort()
	r.message(c, sec, status, zh, en)
}

func (r *Renderer) message(c *gin.Context, sec Section, status int, zh, en string) {
	r.Render(c, status, "error", errorView{Page: r.site.Page(c, sec, "出错了 Error", ""), Status: status, Message: zh, MessageEN: en})
}
