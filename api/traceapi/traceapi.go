// Package traceapi is the HTTP side of traceability: lots and their custody events for bases and buyers
// (/api/v1/lots…), the lot's report as JSON and as an EPCIS 2.0 document, and the public pages a consumer
// reaches from the QR code on the package (/t/{code}, its QR code as SVG and PNG, and the GS1 Digital Link
// path /01/{gtin}/10/{code} that redirects to the page). It translates HTTP to calls of package trace.
package traceapi

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/trace"
)

// Deps are the module's collaborators and settings.
type Deps struct {
	Service *trace.Service
	// PublicRate and PublicBurst limit the public pages per client IP (requests per second, burst).
	PublicRate  float64
	PublicBurst int
}

// Module serves the trace routes.
type Module struct {
	d       Deps
	limiter *rest.Limiter
}

// New returns the module.
func New(d Deps) *Module {
	if d.PublicRate <= 0 {
		d.PublicRate = 2
	}
	if d.PublicBurst <= 0 {
		d.PublicBurst = 20
	}
	return &Module{d: d, limiter: rest.NewLimiter(rate.Limit(d.PublicRate), d.PublicBurst)}
}

var (
	viewers = rest.RequireRole(auth.RoleAdmin, auth.RoleCoordinator, auth.RoleBase, auth.RoleBuyer)
	bases   = rest.RequireRole(auth.RoleBase)
)

// Routes registers the API under /api/v1 and the public pages on root.
func (m *Module) Routes(v1 *gin.RouterGroup, root *gin.Engine) {
	v1.POST("/lots", bases, m.createLot)
	v1.GET("/lots", viewers, m.listLots)
	v1.GET("/lots/:id", viewers, m.getLot)
	v1.GET("/lots/:id/events", viewers, m.listEvents)
	v1.POST("/lots/:id/events", viewers, m.addEvent)
	v1.GET("/lots/:id/trace", viewers, m.traceJSON)
	v1.GET("/lots/:id/epcis", viewers, m.epcis)

	pub := root.Group("", limit(m.limiter))
	pub.GET("/t/:code", m.page)
	pub.GET("/t/:code/qr.svg", m.qrSVG)
	pub.GET("/t/:code/qr.png", m.qrPNG)
	pub.GET("/01/:gtin/10/:code", m.digitalLink)
}

// LotDoc is a lot with its public addresses.
type LotDoc struct {
	trace.Lot
	URI      string `json:"uri"`
	PageURL  string `json:"page_url"`
	QRSVGURL string `json:"qr_svg_url"`
	QRPNGURL string `json:"qr_png_url"`
}

func (m *Module) doc(l trace.Lot) LotDoc {
	u := m.d.Service.URIs
	return LotDoc{Lot: l, URI: u.Lot(&l), PageURL: u.Page(l.Code), QRSVGURL: u.QR(l.Code, "svg"), QRPNGURL: u.QR(l.Code, "png")}
}

func (m *Module) createLot(c *gin.Context) {
	var req trace.NewLot
	if err := rest.Bind(c, &req); err != nil {
		rest.Problem(c, err)
		return
	}
	l, err := m.d.Service.CreateLot(c.Request.Context(), rest.Principal(c), req)
	if err != nil {
		rest.Problem(c, err)
		return
	}
	d := m.doc(l)
	c.Header("Location", "/api/v1/lots/"+strconv.FormatInt(l.ID, 10))
	c.JSON(http.StatusCreated, d)
}

func (m *Module) listLots(c *gin.Context) {
	rest.ListPageAs(c, func(p rest.PageReq) ([]trace.Lot, int, error) {
		return m.d.Service.Lots(c.Request.Context(), rest.Principal(c),
			trace.LotFilter{Product: c.Query("product"), Limit: p.Limit, Offset: p.Offset, After: p.After})
	}, m.doc)
}

func (m *Module) lot(c *gin.Context) (trace.Lot, bool) {
	id, err := rest.ID(c, "id")
	if err == nil {
		var l trace.Lot
		if l, err = m.d.Service.Lot(c.Request.Context(), rest.Principal(c), id); err == nil {
			return l, true
		}
	}
	rest.Problem(c, err)
	return trace.Lot{}, false
}

func (m *Module) getLot(c *gin.Context) {
	if l, ok := m.lot(c); ok {
		c.JSON(http.StatusOK, m.doc(l))
	}
}

func (m *Module) listEvents(c *gin.Context) {
	l, ok := m.lot(c)
	if !ok {
		return
	}
	evs, err := m.d.Service.Events(c.Request.Context(), rest.Principal(c), l.ID)
	if err != nil {
		rest.Problem(c, err)
		return
	}
	rest.List(c, evs, len(evs), rest.PageReq{Limit: len(evs)})
}

func (m *Module) addEvent(c *gin.Context) {
	id, err := rest.ID(c, "id")
	if err != nil {
		rest.Problem(c, err)
		return
	}
	var req trace.NewEvent
	if err := rest.Bind(c, &req); err != nil {
		rest.Problem(c, err)
		return
	}
	e, err := m.d.Service.AddEvent(c.Request.Context(), rest.Principal(c), id, req)
	if err != nil {
		rest.Problem(c, err)
		return
	}
	c.JSON(http.StatusCreated, e)
}

// TraceDoc is a lot's report with the lot's addresses.
type TraceDoc struct {
	*trace.Report
	Lot LotDoc `json:"lot"`
}

func (m *Module) traceJSON(c *gin.Context) {
	l, ok := m.lot(c)
	if !ok {
		return
	}
	r, err := m.d.Service.Report(c.Request.Context(), rest.Principal(c), l.ID)
	if err != nil {
		rest.Problem(c, err)
		return
	}
	c.JSON(http.StatusOK, TraceDoc{Report: r, Lot: m.doc(r.Lot)})
}

func (m *Module) epcis(c *gin.Context) {
	l, ok := m.lot(c)
	if !ok {
		return
	}
	r, err := m.d.Service.Report(c.Request.Context(), rest.Principal(c), l.ID)
	if err != nil {
		rest.Problem(c, err)
		return
	}
	b, err := trace.EPCIS(r, m.d.Service.URIs)
	if err != nil {
		rest.Problem(c, errs.Wrap(errs.Internal, err, "encode EPCIS"))
		return
	}
	c.Header("Content-Disposition", `inline; filename="lot-`+r.Lot.Code+`.epcis.jsonld"`)
	c.Data(http.StatusOK, trace.EPCISContentType, b)
}

// digitalLink resolves the GS1 Digital Link URI of a lot with a GTIN to its page.
func (m *Module) digitalLink(c *gin.Context) {
	code, ok := trace.NormalizeCode(c.Param("code"))
	gtin, err := trace.NormalizeGTIN(c.Param("gtin"))
	if !ok || err != nil {
		m.notFound(c)
		return
	}
	l, err := m.d.Service.Store.LotByCode(c.Request.Context(), code)
	if err != nil || l.GTIN != gtin {
		if err != nil && !errs.Is(err, errs.NotFound) {
			m.pageError(c, err)
			return
		}
		m.notFound(c)
		return
	}
	c.Redirect(http.StatusFound, "/t/"+l.Code)
}

// limit answers 429 to a client over its share of the public pages.
func limit(l *rest.Limiter) gin.HandlerFunc {
	return func(c *gin.Context) {
		if l.Allow(c.ClientIP(), time.Now()) { // the connection's address unless it is a trusted proxy (api.Options.TrustedProxies)
			c.Next()
			return
		}
		c.Header("Retry-After", "5")
		c.Abort()
		c.Data(http.StatusTooManyRequests, "text/plain; charset=utf-8",
			[]byte("请求过于频繁，请稍后再试。\nToo many requests; please try again in a few seconds.\n"))
	}
}

func lang(c *gin.Context) string {
	if strings.HasPrefix(strings.ToLower(c.Query("lang")), "en") {
		return "en"
	}
	return "zh"
}
