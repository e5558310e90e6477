package marketapi

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/api/web"
	"github.com/suilong/suilong/matching"
	"github.com/suilong/suilong/trace"
)

type offersView struct {
	web.Page
	Offers  []matching.Offer
	Total   int
	Next    string // the cursor of the next page ("" on the last)
	CanPost bool
	Form    *form
	Ch      choices
	Rounds  []matching.Round // the rounds taking offers now, for the form's selector
	Lots    []trace.Lot      // the base's lots, one of which the offer may name
	Done    string
}

// offersPage is a base's own offers with the form to post one, or every base's for a coordinator, who reads
// only. A buyer is refused (403) by the domain's list, not here.
func (m *Module) offersPage(c *gin.Context) {
	f := newForm()
	f.Values["grade"] = "1"
	// A round's page links here with its id, so that the offer goes into that round without a second choice.
	f.Values["round_id"] = c.Query("round_id")
	m.showOffers(c, http.StatusOK, f)
}

func (m *Module) showOffers(c *gin.Context, status int, f *form) {
	ctx, p := c.Request.Context(), rest.Principal(c)
	// Only a base posts offers (the domain refuses anyone else), so only a base is shown the form.
	v := offersView{Page: m.page(c, "供应 Offers", "offers"), CanPost: isBase(p), Form: f, Done: c.Query("done")}
	var err error
	if v.Offers, v.Total, err = m.d.Matching.Offers(ctx, p, matching.Filter{Page: listPage(c)}); err != nil {
		m.fail(c, err)
		return
	}
	v.Next = nextCursor(v.Offers)
	if v.Ch, err = m.choices(ctx); err != nil {
		m.fail(c, err)
		return
	}
	// The selectors are read only for the form that shows them, so a coordinator's list costs no more reads.
	if v.CanPost {
		if v.Rounds, err = m.roundChoices(c); err != nil {
			m.fail(c, err)
			return
		}
		if v.Lots, err = m.ownLots(c); err != nil {
			m.fail(c, err)
			return
		}
	}
	m.render(c, status, "market-offers", v)
}

// offerCreate posts the form as the caller's offer. The caller's organisation is the domain's to take from
// the principal; nothing in the form can name another base.
func (m *Module) offerCreate(c *gin.Context) {
	f := postedForm(c)
	n := matching.NewOffer{Product: f.V("product"), Grade: int(f.int("grade")), QuantityKg: f.int("quantity_kg"),
		MinPricePerKg: f.fen("min_price_per_kg"), Origin: f.V("origin"), HarvestedAt: f.time("harvested_at"),
		AvailableFrom: f.time("available_from"), Certifications: f.list("certifications", certCodes()), Note: f.V("note"),
		LotID: f.lotID(), RoundID: f.roundID()}
	o, err := m.d.Matching.CreateOffer(c.Request.Context(), rest.Principal(c), n)
	if f.refused(err) {
		m.showOffers(c, http.StatusUnprocessableEntity, f)
		return
	}
	if err != nil {
		m.fail(c, err)
		return
	}
	done(c, "/market/offers?done=posted#offer-"+strconv.FormatInt(o.ID, 10))
}

type offerView struct {
	web.Page
	O       matching.Offer
	CanEdit bool
	Form    *form
	Ch      choices
	Lots    []trace.Lot
	Done    string
}

// offerForm fills the change form from the offer as it stands, so that saving without touching a field
// sends back what is there and changes nothing.
func offerForm(o matching.Offer) *form {
	f := newForm()
	f.Values["grade"] = strconv.Itoa(o.Grade)
	f.Values["quantity_kg"] = strconv.FormatInt(o.QuantityKg, 10)
	f.Values["min_price_per_kg"] = o.MinPricePerKg.String()
	f.Values["origin"] = o.Origin
	f.Values["harvested_at"] = local(o.HarvestedAt)
	f.Values["available_from"] = local(o.AvailableFrom)
	f.Values["note"] = o.Note
	if o.LotID != nil {
		f.Values["lot_id"] = strconv.FormatInt(*o.LotID, 10)
	}
	f.Multi["certifications"] = map[string]bool{}
	for _, c := range o.Certifications {
		f.Multi["certifications"][c] = true
	}
	return f
}

func (m *Module) offerPage(c *gin.Context) {
	o, ok := pathRecord(m, c, "offer", m.d.Matching.Offer)
	if !ok {
		return
	}
	m.showOffer(c, http.StatusOK, o, offerForm(o))
}

func (m *Module) showOffer(c *gin.Context, status int, o matching.Offer, f *form) {
	p := rest.Principal(c)
	ch, err := m.choices(c.Request.Context())
	if err != nil {
		m.fail(c, err)
		return
	}
	// Only the offer's base changes its terms; a coordinator may set only a priority bonus, which is the API's
	// and not on this page. A withdrawn offer is final (the domain answers any change with 409), so its page
	// has no form to fill in vain.
	v := offerView{Page: m.page(c, "供应 #"+strconv.FormatInt(o.ID, 10)+" Offer", "offers"), O: o,
		CanEdit: p.OrgID == o.OrgID && o.Status == matching.StatusOpen, Form: f, Ch: ch, Done: c.Query("done")}
	if v.CanEdit {
		if v.Lots, err = m.ownLots(c); err != nil {
			m.fail(c, err)
			return
		}
	}
	m.render(c, status, "market-offer", v)
}

func (m *Module) offerUpdate(c *gin.Context) {
	ctx, p := c.Request.Context(), rest.Principal(c)
	// The offer is read first: another base's is a 404 before anything posted is looked at, and a refused
	// form is shown again beside the offer as it still is.
	o, ok := pathRecord(m, c, "offer", m.d.Matching.Offer)
	if !ok {
		return
	}
	oid := o.ID
	f := postedForm(c)
	// The form shows every field, so every field is sent: one emptied on purpose is meant as empty. The
	// price and the harvest time cannot be empty, and nil would keep the old value without a word, so they
	// go through required*.
	grade, qty := int(f.int("grade")), f.int("quantity_kg")
	u := matching.OfferUpdate{Grade: &grade, QuantityKg: &qty, MinPricePerKg: f.requiredFen("min_price_per_kg", f.fen("min_price_per_kg")),
		HarvestedAt: f.keptTime("harvested_at", o.HarvestedAt)}
	if f.V("available_from") != local(o.AvailableFrom) {
		u.AvailableFrom = f.time("available_from")
	}
	origin, note := f.V("origin"), f.V("note")
	u.Origin, u.Note = &origin, &note
	certs := f.list("certifications", certCodes())
	if sameSet(certs, o.Certifications) {
		certs = o.Certifications // the same labels in another order are no change of terms
	}
	u.Certifications = &certs
	// 0 is the domain's word for "no lot"; it is sent only when a lot is or was named.
	lot := int64(0) // none chosen unnames the lot
	if l := f.lotID(); l != nil {
		lot = *l
	}
	if o.LotID != nil || lot != 0 {
		u.LotID = &lot
	}
	if _, err := m.d.Matching.UpdateOffer(ctx, p, oid, u); err != nil {
		if f.refused(err) {
			m.showOffer(c, http.StatusUnprocessableEntity, o, f)
			return
		}
		m.fail(c, err)
		return
	}
	done(c, "/market/offers/"+strconv.FormatInt(oid, 10)+"?done=saved")
}

// offerWithdraw takes the offer out of the pool. The domain refuses a coordinator (403), as withdrawing is
// the base's word, and another base gets 404; a second withdrawal is harmless, so a double click is too.
func (m *Module) offerWithdraw(c *gin.Context) {
	oid, err := id(c, "offer")
	if err != nil {
		m.fail(c, err)
		return
	}
	if _, err := m.d.Matching.WithdrawOffer(c.Request.Context(), rest.Principal(c), oid); err != nil {
		m.fail(c, err)
		return
	}
	done(c, "/market/offers/"+strconv.FormatInt(oid, 10)+"?done=withdrawn")
}

// ownLots are the base's latest lots, for the offer form's lot selector. Only its own, because the domain
// accepts only a lot of the offer's own base (any other is "not one of your lots"), and only the latest 50,
// newest first: an offer sells a harvest of now, not last season's.
func (m *Module) ownLots(c *gin.Context) ([]trace.Lot, error) {
	p := rest.Principal(c)
	ls, _, err := m.d.Trace.Lots(c.Request.Context(), p, trace.LotFilter{OrgID: &p.OrgID, Limit: 50})
	return ls, err
}

// lotID reads the form's lot selector: empty names no lot.
func (f *form) lotID() *int64 {
	if f.V("lot_id") == "" {
		return nil
	}
	v := f.int("lot_id")
	return &v
}

// sameSet reports whether two lists hold the same codes. The domain compares certification lists in order,
// so the form's order (see list) against the record's would read as a change of terms and withdraw the
// record's proposed allocations, which nobody asked for.
func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}
