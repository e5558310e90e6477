package marketapi

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/api/web"
	"github.com/suilong/suilong/matching"
)

type demandsView struct {
	web.Page
	Demands []matching.Demand
	Total   int
	Next    string
	CanPost bool
	Form    *form
	Ch      choices
	Rounds  []matching.Round // the rounds taking demands now, for the form's selector
	Done    string
}

// demandsPage is a buyer's own demands with the form to post one, or every buyer's for a coordinator, who
// reads only; the domain's list refuses a base (403). It mirrors offersPage on the other side of the market.
func (m *Module) demandsPage(c *gin.Context) {
	f := newForm()
	f.Values["min_grade"] = "2"
	// Preset from a round's page, as for offers.
	f.Values["round_id"] = c.Query("round_id")
	m.showDemands(c, http.StatusOK, f)
}

func (m *Module) showDemands(c *gin.Context, status int, f *form) {
	ctx, p := c.Request.Context(), rest.Principal(c)
	// Only a buyer posts demands (the domain refuses anyone else), so only a buyer is shown the form.
	v := demandsView{Page: m.page(c, "需求 Demands", "demands"), CanPost: isBuyer(p), Form: f, Done: c.Query("done")}
	var err error
	if v.Demands, v.Total, err = m.d.Matching.Demands(ctx, p, matching.Filter{Page: listPage(c)}); err != nil {
		m.fail(c, err)
		return
	}
	v.Next = nextCursor(v.Demands)
	if v.Ch, err = m.choices(ctx); err != nil {
		m.fail(c, err)
		return
	}
	if v.CanPost {
		if v.Rounds, err = m.roundChoices(c); err != nil {
			m.fail(c, err)
			return
		}
	}
	m.render(c, status, "market-demands", v)
}

// demandCreate posts the form as the caller's demand. An empty deliver-by is sent as nil, not refused here:
// in a round the domain takes the round's, in the open pool it names the field.
func (m *Module) demandCreate(c *gin.Context) {
	f := postedForm(c)
	n := matching.NewDemand{Product: f.V("product"), MinGrade: int(f.int("min_grade")), QuantityKg: f.int("quantity_kg"),
		MaxPricePerKg: f.fen("max_price_per_kg"), Destination: f.V("destination"), DeliverBy: f.time("deliver_by"),
		RequiredCertifications: f.list("required_certifications", certCodes()), RequireInspection: f.V("require_inspection") != "",
		Note: f.V("note"), RoundID: f.roundID()}
	d, err := m.d.Matching.CreateDemand(c.Request.Context(), rest.Principal(c), n)
	if f.refused(err) {
		m.showDemands(c, http.StatusUnprocessableEntity, f)
		return
	}
	if err != nil {
		m.fail(c, err)
		return
	}
	done(c, "/market/demands?done=posted#demand-"+strconv.FormatInt(d.ID, 10))
}

type demandView struct {
	web.Page
	D       matching.Demand
	CanEdit bool
	Form    *form
	Ch      choices
	Rounds  []matching.Round // none: a demand stays in the round it was posted into
	Done    string
}

// demandForm fills the change form from the demand as it stands, as offerForm does.
func demandForm(d matching.Demand) *form {
	f := newForm()
	f.Values["min_grade"] = strconv.Itoa(d.MinGrade)
	f.Values["quantity_kg"] = strconv.FormatInt(d.QuantityKg, 10)
	f.Values["max_price_per_kg"] = d.MaxPricePerKg.String()
	f.Values["destination"] = d.Destination
	f.Values["deliver_by"] = local(d.DeliverBy)
	f.Values["note"] = d.Note
	f.Multi["required_certifications"] = map[string]bool{}
	if d.RequireInspection {
		f.Multi["require_inspection"] = map[string]bool{"on": true}
	}
	for _, c := range d.RequiredCertifications {
		f.Multi["required_certifications"][c] = true
	}
	return f
}

func (m *Module) demandPage(c *gin.Context) {
	d, ok := pathRecord(m, c, "demand", m.d.Matching.Demand)
	if !ok {
		return
	}
	m.showDemand(c, http.StatusOK, d, demandForm(d))
}

func (m *Module) showDemand(c *gin.Context, status int, d matching.Demand, f *form) {
	ch, err := m.choices(c.Request.Context())
	if err != nil {
		m.fail(c, err)
		return
	}
	// Only the demand's buyer changes it (the domain refuses a coordinator, 403), and a withdrawn demand is
	// final, so neither is shown a form.
	m.render(c, status, "market-demand", demandView{Page: m.page(c, "需求 #"+strconv.FormatInt(d.ID, 10)+" Demand", "demands"), D: d,
		CanEdit: rest.Principal(c).OrgID == d.OrgID && d.Status == matching.StatusOpen, Form: f, Ch: ch, Done: c.Query("done")})
}

func (m *Module) demandUpdate(c *gin.Context) {
	ctx, p := c.Request.Context(), rest.Principal(c)
	// Read first, as in offerUpdate: another buyer's demand is a 404 before the form is looked at.
	d, ok := pathRecord(m, c, "demand", m.d.Matching.Demand)
	if !ok {
		return
	}
	did := d.ID
	f := postedForm(c)
	// Every field is sent; the price and the deliver-by cannot be emptied (see offerUpdate).
	grade, qty := int(f.int("min_grade")), f.int("quantity_kg")
	dest, note := f.V("destination"), f.V("note")
	u := matching.DemandUpdate{MinGrade: &grade, QuantityKg: &qty, MaxPricePerKg: f.requiredFen("max_price_per_kg", f.fen("max_price_per_kg")),
		Destination: &dest, DeliverBy: f.keptTime("deliver_by", d.DeliverBy), Note: &note}
	certs := f.list("required_certifications", certCodes())
	// The same codes in another order are no new terms, as for offers.
	if sameSet(certs, d.RequiredCertifications) {
		certs = d.RequiredCertifications
	}
	u.RequiredCertifications = &certs
	// A checkbox left unchecked is not posted at all, so its absence is the answer "no".
	inspect := f.V("require_inspection") != ""
	u.RequireInspection = &inspect
	if _, err := m.d.Matching.UpdateDemand(ctx, p, did, u); err != nil {
		if f.refused(err) {
			m.showDemand(c, http.StatusUnprocessableEntity, d, f)
			return
		}
		m.fail(c, err)
		return
	}
	done(c, "/market/demands/"+strconv.FormatInt(did, 10)+"?done=saved")
}

// demandWithdraw takes the demand out of the pool, with offerWithdraw's rules: the buyer's word alone.
func (m *Module) demandWithdraw(c *gin.Context) {
	did, err := id(c, "demand")
	if err != nil {
		m.fail(c, err)
		return
	}
	if _, err := m.d.Matching.WithdrawDemand(c.Request.Context(), rest.Principal(c), did); err != nil {
		m.fail(c, err)
		return
	}
	done(c, "/market/demands/"+strconv.FormatInt(did, 10)+"?done=withdrawn")
}
