package traceapi

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"net/http"

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
	// A lot on its way changes as readings arrive, so shared caches keep its page a minute; a delivered lot's
	// changes only when late readings or a correction revise it, so five minutes. public: the page is the same
	// for everyone who has the code, and a shop's crowd scanning one lot should cost one render.
	maxAge := 60
	if r.Custody.State == trace.Delivered {
		maxAge = 300
	}
	c.Header("Cache-Control", fmt.Sprintf("public, max-age=%d", maxAge))
	c.Header("Content-Security-Policy", pageCSP)
	c.Header("X-Content-Type-Options", "nosniff")
	// The URL carries the lot code, the page's only key: no Referer may hand it to another site.
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
	// Only delivered lots are kept: a moving lot's report is new with every reading, and keeping its pages
	// would only push settled ones out of the cache.
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

// notFound is the one answer for every code that leads nowhere (malformed, unknown, GTIN of another product),
// so it tells a prober nothing; in the reader's language, since it is a shopper who typed or scanned the code.
func (m *Module) notFound(c *gin.Context) {
	var b bytes.Buffer
	_ = pageTmpl.ExecuteTemplate(&b, "notfound", struct{ Lang string }{lang(c)})
	c.Header("Content-Security-Policy", pageCSP)
	c.Header("Cache-Control", "no-store")
	c.Abort()
	c.Data(http.StatusNotFound, "text/html; charset=utf-8", b.Bytes())
}

// pageError answers the public with a plain apology and no cause (which may name tables or hosts); the cause
// goes to the log and, through c.Error, to the access log.
func (m *Module) pageError(c *gin.Context, err error) {
	c.Error(err) //nolint:errcheck // recorded for the access log
	m.d.Service.Log.Error("trace: public page failed", "path", c.Request.URL.Path, "err", err)
	c.Abort()
	c.Data(http.StatusInternalServerError, "text/plain; charset=utf-8",
		[]byte("暂时无法显示溯源信息，请稍后再试。\nThe traceability page is unavailable at the moment; please try again later.\n"))
}
