package marketapi

import (
	"html/template"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/suilong/suilong/api/traceapi"
	"github.com/suilong/suilong/api/web"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/trace"
)

// lotCreate registers the lot that ships an order: the base's harvest, linked to the order so that its buyer
// follows it. The product is the order's.
func (m *Module) lotCreate(c *gin.Context) {
	ctx, p := c.Request.Context(), principal(c)
	oid, err := id(c, "order")
	if err != nil {
		m.fail(c, err)
		return
	}
	o, err := m.d.Matching.Order(ctx, p, oid)
	if err != nil {
		m.fail(c, err)
		return
	}
	f := postedForm(c)
	n := trace.NewLot{Product: o.Product, Variety: f.V("variety"), Grade: int(f.int("grade")), QuantityKg: f.int("quantity_kg"),
		BaseName: f.V("base_name"), County: f.V("county"), CertificateNo: f.V("certificate_no"), OrderID: &o.ID}
	if t := f.time("harvested_at"); t != nil {
		n.HarvestedAt = *t
	}
	for _, c := range f.list("certifications", certCodes()) {
		n.Certifications = append(n.Certifications, trace.Certification(c))
	}
	l, err := m.d.Trace.CreateLot(ctx, p, n)
	if f.refused(err) {
		m.showOrder(c, http.StatusUnprocessableEntity, oid, f, 0)
		return
	}
	if err != nil {
		m.fail(c, err)
		return
	}
	done(c, "/market/orders/"+strconv.FormatInt(oid, 10)+"?done=lot#lot-"+l.Code)
}

// lotReceive records the buyer's receipt of a lot: its journey ends, and its order is delivered.
func (m *Module) lotReceive(c *gin.Context) {
	ctx, p := c.Request.Context(), principal(c)
	lid, err := id(c, "lot")
	if err != nil {
		m.fail(c, err)
		return
	}
	l, err := m.d.Trace.Lot(ctx, p, lid)
	if err != nil {
		m.fail(c, err)
		return
	}
	if l.OrderID == nil {
		m.fail(c, errs.E(errs.NotFound, "lot %d ships no order", lid))
		return
	}
	f := postedForm(c)
	n := trace.NewEvent{Kind: trace.Receive, Location: f.V("location"), Note: f.V("note"), HandoverTempC: f.float("handover_temp_c"),
		MeasuredBy: f.V("measured_by")}
	if t := f.time("at"); t != nil {
		n.At = *t
	}
	if _, err := m.d.Trace.AddEvent(ctx, p, lid, n); err != nil {
		if f.refused(err) {
			m.showOrder(c, http.StatusUnprocessableEntity, *l.OrderID, f, lid)
			return
		}
		m.fail(c, err)
		return
	}
	done(c, "/market/orders/"+strconv.FormatInt(*l.OrderID, 10)+"?done=received#lot-"+l.Code)
}

// A sheet of labels is A4 with 3 × 8 labels of 70 × 37 mm, the common self-adhesive sheet; more copies take
// more sheets.
const (
	labelsPerSheet = 24
	maxLabels      = 10 * labelsPerSheet
)

type labelsView struct {
	web.Page
	L      trace.Lot
	QR     template.HTML
	URI    string
	Copies int
	Labels []int
}

// labelsPage is the printable sheet of QR labels for a lot's packages: the QR code of its traceability page,
// the product, the lot code and the 合格证 number on each. Only the lot's base (and staff) print them.
func (m *Module) labelsPage(c *gin.Context) {
	ctx, p := c.Request.Context(), principal(c)
	lid, err := id(c, "lot")
	if err != nil {
		m.fail(c, err)
		return
	}
	l, err := m.d.Trace.Lot(ctx, p, lid)
	if err != nil {
		m.fail(c, err)
		return
	}
	if !p.Staff() && p.OrgID != l.OrgID {
		m.fail(c, errs.E(errs.Forbidden, "only the lot's base prints its labels"))
		return
	}
	copies := labelsPerSheet
	if s := c.Query("copies"); s != "" {
		if copies, err = strconv.Atoi(s); err != nil || copies < 1 || copies > maxLabels {
			m.fail(c, &errs.Error{Code: errs.Invalid, Message: "copies must be a whole number from 1 to " + strconv.Itoa(maxLabels)})
			return
		}
	}
	uri := m.d.Trace.URIs.Lot(&l)
	// Medium error correction, as the public QR code: it survives a smudged label and keeps the symbol small.
	q, err := qrcode.New(uri, qrcode.Medium)
	if err != nil {
		m.fail(c, err)
		return
	}
	v := labelsView{Page: m.page(c, "标签 Labels "+l.Code, "orders"), L: l, URI: uri, Copies: copies,
		// The SVG is ours, drawn from the bitmap: no user text is in it.
		QR: template.HTML(traceapi.QRSVG(q.Bitmap()))}
	v.Standalone = true
	v.Labels = make([]int, copies)
	m.render(c, http.StatusOK, "market-labels", v)
}
