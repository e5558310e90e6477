// Package traceapi is the HTTP side of traceability: lots and their custody events for bases and buyers
// (/api/v1/lots…), the lot's report as JSON and as an EPCIS 2.0 document, and the public pages a consumer
// reaches from the QR code on the package (/t/{code}, its QR code as SVG and PNG, and the GS1 Digital Link
// path /01/{gtin}/10/{code} that redirects to the page). It translates HTTP to calls of package trace.
package traceapi

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/trace"
	"github.com/suilong/suilong/trace/epcisschema"
)

// Deps are the module's collaborators and settings.
type Deps struct {
	Service *trace.Service
	// PublicRate and PublicBurst limit the public pages per client IP (requests per second, burst). The pages
	// need no sign-in, so this is what stands between them and a scraper sweeping codes; the defaults (2/s,
	// burst 20) let a shopper open a page, its QR code and the record without noticing.
	PublicRate  float64
	PublicBurst int
	// Schema validates captured EPCIS documents; nil turns capture off (GS1's schema is not configured).
	Schema *epcisschema.Schema
}

// Module serves the trace routes.
type Module struct {
	d       Deps
	limiter *rest.Limiter
	pages   *lru.Cache[renderKey, renderedPage]
}

// New returns the module.
func New(d Deps) *Module {
	if d.PublicRate <= 0 {
		d.PublicRate = 2
	}
	if d.PublicBurst <= 0 {
		d.PublicBurst = 20
	}
	pages, _ := lru.New[renderKey, renderedPage](2048) // two languages of the reports the service keeps
	return &Module{d: d, limiter: rest.NewLimiter(rate.Limit(d.PublicRate), d.PublicBurst), pages: pages}
}

// The roles that may reach each route at all. Which lots a viewer sees is trace.Service's rule (staff: all;
// a base the lots it registered, a buyer the lots it buys); someone else's lot answers 404, not 403, so
// ids do not tell which lots exist. Gateways have no business with lots. Only a base registers harvest lots,
// and captured EPCIS comes from the systems of bases and buyers about their own lots.
var (
	viewers  = rest.RequireRole(auth.RoleAdmin, auth.RoleCoordinator, auth.RoleBase, auth.RoleBuyer)
	bases    = rest.RequireRole(auth.RoleBase)
	partners = rest.RequireRole(auth.RoleBase, auth.RoleBuyer)
)

// Routes registers the API under /api/v1 and the public pages on root. The names are DESIGN.md's: "HTTP
// contract" (lots, /events, /trace, /epcis; /t/{lot_code} and its qr.svg), "Recall and records" (/t/{code}/report,
// report.json, epcis/capture). The public routes share one per-IP limiter rather than one each, so a client
// cannot multiply its share by asking for the QR codes instead of the pages.
func (m *Module) Routes(v1 *gin.RouterGroup, root *gin.Engine) {
	v1.POST("/lots", bases, m.createLot)
	v1.GET("/lots", viewers, m.listLots)
	v1.GET("/lots/:id", viewers, m.getLot)
	v1.GET("/lots/:id/events", viewers, m.listEvents)
	v1.POST("/lots/:id/events", viewers, m.addEvent)
	v1.GET("/lots/:id/trace", viewers, m.traceJSON)
	v1.GET("/lots/:id/epcis", viewers, m.epcis)
	v1.POST("/epcis/capture", partners, m.capture)

	pub := root.Group("", limit(m.limiter))
	pub.GET("/t/:code", m.page)
	pub.GET("/t/:code/qr.svg", m.qrSVG)
	pub.GET("/t/:code/qr.png", m.qrPNG)
	pub.GET("/t/:code/report", m.recordPage)
	pub.GET("/t/:code/report.json", m.recordJSON)
	pub.GET("/01/:gtin/10/:code", m.digitalLink)
}

// LotDoc is a lot with its public addresses, so the base that registers a lot gets what to print on the
// package (the page, the QR code) without building URLs itself.
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
	c.Header("Location", "/api/v1/lots/"+strconv.FormatInt(l.ID, 10)) // the API resource; the page is in page_url
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
	// Whole, in the list envelope: a journey is a handful of events and makes sense only in full.
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
	// inline: a browser shows the document; saving it keeps a name that says which lot it is. The code is
	// generated by the platform (trace.NewCode), letters and digits only, so it is safe in the quoted name.
	c.Header("Content-Disposition", `inline; filename="lot-`+r.Lot.Code+`.epcis.jsonld"`)
	c.Data(http.StatusOK, trace.EPCISContentType, b)
}

// capture takes an EPCIS 2.0 document from a partner's system: validated against GS1's schema, its custody
// events recorded (trace.Service.Capture). 201 when it added events, 200 when it changed nothing.
func (m *Module) capture(c *gin.Context) {
	if m.d.Schema == nil {
		// 503, not 404: the route is part of the contract and works once an operator configures the schema,
		// which takes a deployment, hence an hour's Retry-After. Nothing unvalidated is ever recorded.
		c.Header("Retry-After", "3600")
		c.JSON(http.StatusServiceUnavailable, rest.ProblemDoc{Type: rest.ProblemType + "unavailable", Title: "Service Unavailable",
			Status: http.StatusServiceUnavailable, Code: "unavailable", Instance: c.Request.URL.Path,
			Detail: "EPCIS capture is off: GS1's EPCIS JSON schema is not configured on this platform (SUILONG_EPCIS_SCHEMA)"})
		return
	}
	// Read whole, since the schema validates the document as one, but never more than a byte past the limit:
	// that byte tells an oversized document from one exactly at the limit.
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, rest.MaxBody+1))
	if err == nil && len(body) > rest.MaxBody {
		err = errs.E(errs.Invalid, "the document is larger than %d bytes; send it in parts", rest.MaxBody)
	}
	if err == nil {
		if verr := m.d.Schema.Check(body); verr != nil {
			e := errs.E(errs.Unprocessable, "not a valid EPCIS 2.0 document (GS1's JSON schema): %s", verr.Error())
			e.Fields = []errs.FieldError{{Field: "(body)", Message: "does not validate against GS1's EPCIS JSON schema"}}
			err = e
		}
	}
	if err != nil {
		rest.Problem(c, err)
		return
	}
	res, err := m.d.Service.Capture(c.Request.Context(), rest.Principal(c), body)
	status := http.StatusCreated
	if res.Unchanged {
		status = http.StatusOK
	}
	rest.Reply(c, status, res, err)
}

// digitalLink resolves the GS1 Digital Link URI of a lot with a GTIN to its page.
func (m *Module) digitalLink(c *gin.Context) {
	code, ok := trace.NormalizeCode(c.Param("code"))
	gtin, err := trace.NormalizeGTIN(c.Param("gtin"))
	// Every failure below gets the same 404 page, so a probe cannot tell a malformed code from an unknown one
	// or from a lot of another product.
	if !ok || err != nil {
		m.notFound(c)
		return
	}
	// Public like the page itself (the code is the key), hence the unscoped lookup. The GTIN must match: a URI
	// names the product and the lot, and a label of another product must not resolve to this lot.
	l, err := m.d.Service.Store.LotByCode(c.Request.Context(), code)
	if err != nil || l.GTIN != gtin {
		if err != nil && !errs.Is(err, errs.NotFound) {
			m.pageError(c, err)
			return
		}
		m.notFound(c)
		return
	}
	// 302, not 301: the Digital Link URI on the package is the lasting identifier, and where it resolves is
	// ours to change; a browser must not remember the target for good.
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

// lang is Chinese unless ?lang= asks for English (DESIGN.md: Chinese with an English switch). It is read from
// the URL, not Accept-Language, so the switch is a plain link and a public cache, keyed on the URL, never serves
// one language's page to a reader of the other. Anything else is Chinese, never an error.
func lang(c *gin.Context) string {
	if strings.HasPrefix(strings.ToLower(c.Query("lang")), "en") {
		return "en"
	}
	return "zh"
}
