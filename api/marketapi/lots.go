package marketapi

import (
	"html/template"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/api/traceapi"
	"github.com/suilong/suilong/api/web"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/trace"
)

// lotCreate registers the lot that ships an order: the base's harvest, linked to the order so that its buyer
// follows it. The product is the order's.
//
// The order is read first, so a stranger's order is a 404 before the form is looked at; a buyer of the order
// gets through to the domain, which refuses it (only a base registers lots, 403). Trace then checks that the
// order is supplied by the caller's own base and records the order's buyer on the lot, which is what lets that
// buyer see it. The product is not a field: a lot of another product could not ship this order.
func (m *Module) lotCreate(c *gin.Context) {
	ctx, p := c.Request.Context(), rest.Principal(c)
	o, ok := pathRecord(m, c, "order", m.d.Matching.Order)
	if !ok {
		return
	}
	oid := o.ID
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
	ctx, p := c.Request.Context(), rest.Principal(c)
	// The lot is read first: trace answers 404 for a lot the caller cannot see, whoever's it is.
	l, ok := pathRecord(m, c, "lot", m.d.Trace.Lot)
	if !ok {
		return
	}
	lid := l.ID
	// The receipt form lives on the lot's order page, which is where a refused form is shown again and where
	// the browser goes next; a lot that ships no order has no such page here, so for this page it is not found.
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
	// Trace decides who may record the receipt (the buyer of the lot's order, or the lot's base) and refuses
	// an impossible journey (409, shown on the form); the receipt is what marks the order delivered.
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
// more sheets. maxLabels (ten sheets) bounds the page, which repeats the QR code in every label.
//
// The print CSS (labels.html.tmpl) is laid out for those sheets, not for the screen: the page margin is zero
// and the grid is three columns of exactly 70 mm and rows of 37 mm, so each label falls on a die-cut one
// (A4's 210 mm is exactly three columns; 8 × 37 mm leaves 1 mm of its 297). Every 24th label ends a page, and
// no label is split across two. The QR code is 30 mm, as much of the label's height as its padding leaves,
// with the text beside it sized in points, which print the same on every printer. The instructions,
// the copies field and the site's footer are left off the print (.noprint), and the page says to print at
// 100 %: a printer's "fit to page" would shrink the grid off the labels. On screen the same labels flow in as
// many columns as fit, so that a phone shows them too.
const (
	labelsPerSheet = 24
	maxLabels      = 10 * labelsPerSheet
)

// labelsView is the sheet; Labels is only the count of labels, as every label is the same.
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
	p := rest.Principal(c)
	l, ok := pathRecord(m, c, "lot", m.d.Trace.Lot)
	if !ok {
		return
	}
	var err error
	// This check is the page's own, as trace has no rule for labels: the buyer may read the lot, but the
	// labels go on the base's packages before they leave, so only the base (or a coordinator helping it)
	// prints them. It is a 403, not a 404: whoever gets here can see the lot already, so the answer tells
	// them nothing new, and a stranger has been answered 404 by Lot above.
	if !p.Staff() && p.OrgID != l.OrgID {
		m.fail(c, errs.E(errs.Forbidden, "only the lot's base prints its labels"))
		return
	}
	// copies comes from a GET form: it changes nothing stored, so it needs no CSRF token, and a bad value has
	// no typing worth keeping, hence an error page (422) rather than the form shown again.
	copies := labelsPerSheet
	if s := c.Query("copies"); s != "" {
		if copies, err = strconv.Atoi(s); err != nil || copies < 1 || copies > maxLabels {
			m.fail(c, &errs.Error{Code: errs.Invalid, Message: "copies must be a whole number from 1 to " + strconv.Itoa(maxLabels)})
			return
		}
	}
	// The QR code holds the lot's public address (its GS1 Digital Link when the lot has a GTIN), the same as
	// the traceability page's own QR code, so a label and that page lead to the same place.
	uri := m.d.Trace.URIs.Lot(&l)
	// Medium error correction, as the public QR code: it survives a smudged label and keeps the symbol small.
	q, err := qrcode.New(uri, qrcode.Medium)
	if err != nil {
		m.fail(c, err)
		return
	}
	v := labelsView{Page: m.page(c, "标签 Labels "+l.Code, "orders"), L: l, URI: uri, Copies: copies,
		// The SVG is ours, drawn from the bitmap: no user text is in it. It is inline rather than an <img>
		// so the sheet is one response however many labels it has, and it scales to 30 mm without blurring.
		QR: template.HTML(traceapi.QRSVG(q.Bitmap()))}
	// No site header: it would take the first row of labels.
	v.Standalone = true
	v.Labels = make([]int, copies)
	m.render(c, http.StatusOK, "market-labels", v)
}
