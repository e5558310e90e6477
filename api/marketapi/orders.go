package marketapi

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/api/web"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
	"github.com/suilong/suilong/matching"
	"github.com/suilong/suilong/trace"
)

type ordersView struct {
	web.Page
	Status matching.OrderStatus
	Orders []matching.Order
	Total  int
	Next   string
	Ch     choices
}

// ordersPage lists the orders the domain lets the caller see: a base's those of its offers, a buyer's those of
// its demands, a coordinator's all.
func (m *Module) ordersPage(c *gin.Context) {
	ctx, p := c.Request.Context(), rest.Principal(c)
	// The domain filters by whatever status it is given, so a mistyped one would list nothing and look like
	// "no orders"; it is refused instead.
	st := matching.OrderStatus(c.Query("status"))
	if st != "" && st != matching.OrderPlaced && st != matching.OrderDelivered {
		m.fail(c, &errs.Error{Code: errs.Invalid, Message: "status must be placed or delivered"})
		return
	}
	v := ordersView{Page: m.page(c, "订单 Orders", "orders"), Status: st}
	var err error
	if v.Orders, v.Total, err = m.d.Matching.Orders(ctx, p, matching.OrderFilter{Status: st, Page: listPage(c)}); err != nil {
		m.fail(c, err)
		return
	}
	v.Next = nextCursor(v.Orders)
	if v.Ch, err = m.choices(ctx); err != nil {
		m.fail(c, err)
		return
	}
	m.render(c, http.StatusOK, "market-orders", v)
}

// shipment is a lot that ships an order, with whether and when its buyer received it.
type shipment struct {
	trace.Lot
	ReceivedAt *time.Time
	Events     int
}

// orderView is an order's page. IsBase and IsBuyer are the order's parties only: a coordinator reads the order
// but ships and receives nothing, so it gets neither form.
type orderView struct {
	web.Page
	O         matching.Order
	Lots      []shipment
	IsBase    bool // the caller is the order's base: it registers lots and prints labels
	IsBuyer   bool // the caller is the order's buyer: it records receipts
	LotForm   *form
	Receive   map[int64]*form // the receipt form of each lot not yet received
	Certs     []string        // the certifications a lot of this order may carry
	Ch        choices
	Done      string
	TracePage string // the public traceability page's address prefix (/t/)
}

func (m *Module) orderPage(c *gin.Context) {
	oid, err := id(c, "order")
	if err != nil {
		m.fail(c, err)
		return
	}
	m.showOrder(c, http.StatusOK, oid, nil, 0)
}

// showOrder shows an order; failed (with lotID for a receipt) is the form that was refused, shown again.
func (m *Module) showOrder(c *gin.Context, status int, oid int64, failed *form, lotID int64) {
	ctx, p := c.Request.Context(), rest.Principal(c)
	o, err := m.d.Matching.Order(ctx, p, oid)
	if err != nil {
		m.fail(c, err)
		return
	}
	v := orderView{Page: m.page(c, "订单 #"+strconv.FormatInt(o.ID, 10)+" Order", "orders"), O: o, IsBase: p.OrgID == o.BaseOrgID,
		IsBuyer: p.OrgID == o.BuyerOrgID, Receive: map[int64]*form{}, Certs: certCodes(), Done: c.Query("done")}
	if v.Ch, err = m.choices(ctx); err != nil {
		m.fail(c, err)
		return
	}
	// Trace scopes the lots as it does everywhere; the order's two parties see all of the order's, as each
	// lot registered for the order names its base and its buyer.
	lots, _, err := m.d.Trace.Lots(ctx, p, trace.LotFilter{OrderID: &o.ID, Limit: pg.MaxLimit})
	if err != nil {
		m.fail(c, err)
		return
	}
	for _, l := range lots {
		evs, err := m.d.Trace.Events(ctx, p, l.ID)
		if err != nil {
			m.fail(c, err)
			return
		}
		s := shipment{Lot: l, Events: len(evs)}
		for _, e := range evs {
			if e.Kind == trace.Receive {
				at := e.At
				s.ReceivedAt = &at
			}
		}
		// A receipt form for each lot still under way, filled with what is most likely true: received now,
		// at the order's market. The form refused, if any, replaces its own lot's defaults only.
		if v.IsBuyer && s.ReceivedAt == nil {
			f := newForm()
			f.Values["at"] = local(m.d.Site.Now())
			f.Values["location"] = destName(v.Ch, o.Destination)
			if failed != nil && lotID == l.ID {
				f = failed
			}
			v.Receive[l.ID] = f
		}
		v.Lots = append(v.Lots, s)
	}
	// lotID 0 marks the refused form as the lot form; a refused receipt leaves the lot form at its defaults.
	if v.IsBase {
		v.LotForm = failed
		if failed == nil || lotID != 0 {
			if v.LotForm, err = m.lotDefaults(c, o, v.Ch); err != nil {
				m.fail(c, err)
				return
			}
		}
	}
	m.render(c, status, "market-order", v)
}

// lotDefaults fills the lot form from the order and its offer: what the base most likely ships.
func (m *Module) lotDefaults(c *gin.Context, o matching.Order, ch choices) (*form, error) {
	f := newForm()
	f.Values["quantity_kg"] = strconv.FormatInt(o.QuantityKg, 10)
	f.Values["base_name"] = o.BaseName
	f.Values["county"] = originName(ch, o.Origin)
	f.Values["grade"] = "1"
	f.Values["harvested_at"] = local(m.d.Site.Now())
	f.Multi["certifications"] = map[string]bool{}
	// Without the offer, the order's own facts are defaults enough; the form is only a suggestion.
	off, err := m.d.Matching.Offer(c.Request.Context(), rest.Principal(c), o.OfferID)
	if errs.Is(err, errs.NotFound) {
		return f, nil
	}
	if err != nil {
		return nil, err
	}
	f.Values["grade"] = strconv.Itoa(off.Grade)
	// The offer has no variety of its own: its note (labelled "variety, packing") is where a base says it.
	f.Values["variety"] = off.Note
	// An offer may announce a harvest still to come, but trace refuses a lot harvested more than ten minutes
	// ahead, so such a time would be a fault before the first try; now is proposed instead.
	if !off.HarvestedAt.After(m.d.Site.Now()) {
		f.Values["harvested_at"] = local(off.HarvestedAt)
	}
	// Only the certifications a lot can carry: trace knows a fixed list, matching any code.
	for _, c := range off.Certifications {
		if trace.Certification(c).Valid() {
			f.Multi["certifications"][c] = true
		}
	}
	return f, nil
}

// originName is the county's name as the lanes give it, Chinese first ("上杭县 Shanghang" → "上杭县").
func originName(ch choices, slug string) string {
	for _, o := range ch.Origins {
		if o.Slug == slug {
			zh, _, _ := strings.Cut(o.Name, " ")
			return zh
		}
	}
	return slug
}

// destName is the market's name as the lanes give it, Chinese first, as originName does for counties.
func destName(ch choices, slug string) string {
	for _, d := range ch.Destinations {
		if d.Slug == slug {
			zh, _, _ := strings.Cut(d.Name, " ")
			return zh
		}
	}
	return slug
}

// DestName is the order's market, for the page.
func (v orderView) DestName() string { return destName(v.Ch, v.O.Destination) }

// OriginName is the order's county, for the page.
func (v orderView) OriginName() string { return originName(v.Ch, v.O.Origin) }
