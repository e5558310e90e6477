package marketapi

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/api/web"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/matching"
)

// weekday is one day a standing demand may be delivered on (ISO numbering, China time). The domain reads
// the weekdays in China time too: a Monday delivery in Guangzhou is a Monday there, whatever UTC says.
type weekday struct {
	N      int
	ZH, EN string
}

var weekdays = []weekday{{1, "周一", "Mon"}, {2, "周二", "Tue"}, {3, "周三", "Wed"}, {4, "周四", "Thu"}, {5, "周五", "Fri"},
	{6, "周六", "Sat"}, {7, "周日", "Sun"}}

func weekdayCodes() []string {
	out := make([]string, len(weekdays))
	for i, w := range weekdays {
		out[i] = strconv.Itoa(w.N)
	}
	return out
}

// days reads the weekday boxes; none checked is any day.
func (f *form) days() []int {
	out := []int{}
	for _, s := range f.list("weekdays", weekdayCodes()) {
		n, _ := strconv.Atoi(s)
		out = append(out, n)
	}
	return out
}

// date is an optional YYYY-MM-DD the domain checks; nil when empty.
func (f *form) date(k string) *string {
	if s := f.V(k); s != "" {
		return &s
	}
	return nil
}

type standingListView struct {
	web.Page
	List     []matching.StandingDemand
	Total    int
	Next     string
	CanPost  bool
	Form     *form
	Ch       choices
	Weekdays []weekday
	Done     string
}

func (m *Module) standingList(c *gin.Context) {
	f := newForm()
	f.Values["min_grade"] = "2"
	m.showStandingList(c, http.StatusOK, f)
}

func (m *Module) showStandingList(c *gin.Context, status int, f *form) {
	ctx, p := c.Request.Context(), rest.Principal(c)
	// A base has no standing demands (the domain refuses its list too, 403).
	if !staffOrBuyer(p) {
		m.fail(c, errs.E(errs.Forbidden, "standing demands are the buyers'"))
		return
	}
	v := standingListView{Page: m.page(c, "常备需求 Standing demands", "standing"), CanPost: isBuyer(p), Form: f, Weekdays: weekdays,
		Done: c.Query("done")}
	var err error
	if v.List, v.Total, err = m.d.Matching.StandingDemands(ctx, p, listPage(c)); err != nil {
		m.fail(c, err)
		return
	}
	v.Next = nextCursor(v.List)
	if v.Ch, err = m.choices(ctx); err != nil {
		m.fail(c, err)
		return
	}
	m.render(c, status, "market-standing-list", v)
}

func (m *Module) standingCreate(c *gin.Context) {
	f := postedForm(c)
	n := matching.NewStandingDemand{Product: f.V("product"), MinGrade: int(f.int("min_grade")), QuantityKg: f.int("quantity_kg"),
		MaxPricePerKg: f.fen("max_price_per_kg"), Destination: f.V("destination"), Weekdays: f.days(),
		ValidFrom: f.date("valid_from"), ValidUntil: f.date("valid_until"),
		RequiredCertifications: f.list("required_certifications", certCodes()), Note: f.V("note")}
	sd, err := m.d.Matching.CreateStandingDemand(c.Request.Context(), rest.Principal(c), n)
	if f.refused(err) {
		m.showStandingList(c, http.StatusUnprocessableEntity, f)
		return
	}
	if err != nil {
		m.fail(c, err)
		return
	}
	done(c, "/market/standing/"+strconv.FormatInt(sd.ID, 10)+"?done=posted-standing")
}

type standingView struct {
	web.Page
	S        matching.StandingDemandDoc
	CanEdit  bool
	Form     *form
	Ch       choices
	Weekdays []weekday
	Done     string
}

func standingForm(sd matching.StandingDemand) *form {
	f := newForm()
	f.Values["min_grade"] = strconv.Itoa(sd.MinGrade)
	f.Values["quantity_kg"] = strconv.FormatInt(sd.QuantityKg, 10)
	f.Values["max_price_per_kg"] = sd.MaxPricePerKg.String()
	f.Values["destination"], f.Values["note"] = sd.Destination, sd.Note
	if sd.ValidFrom != nil {
		f.Values["valid_from"] = *sd.ValidFrom
	}
	if sd.ValidUntil != nil {
		f.Values["valid_until"] = *sd.ValidUntil
	}
	f.Multi["weekdays"], f.Multi["required_certifications"] = map[string]bool{}, map[string]bool{}
	for _, d := range sd.Weekdays {
		f.Multi["weekdays"][strconv.Itoa(d)] = true
	}
	for _, c := range sd.RequiredCertifications {
		f.Multi["required_certifications"][c] = true
	}
	return f
}

func (m *Module) standingPage(c *gin.Context) {
	doc, ok := pathRecord(m, c, "standing demand", m.d.Matching.StandingDemand)
	if !ok {
		return
	}
	m.showStanding(c, http.StatusOK, doc, standingForm(doc.StandingDemand))
}

func (m *Module) showStanding(c *gin.Context, status int, doc matching.StandingDemandDoc, f *form) {
	ch, err := m.choices(c.Request.Context())
	if err != nil {
		m.fail(c, err)
		return
	}
	m.render(c, status, "market-standing", standingView{Page: m.page(c, "常备需求 #"+strconv.FormatInt(doc.ID, 10)+" Standing demand", "standing"),
		// Only its buyer changes it; another buyer never gets here (the domain answers 404).
		S: doc, CanEdit: rest.Principal(c).OrgID == doc.OrgID, Form: f, Ch: ch, Weekdays: weekdays, Done: c.Query("done")})
}

func (m *Module) standingUpdate(c *gin.Context) {
	ctx, p := c.Request.Context(), rest.Principal(c)
	doc, ok := pathRecord(m, c, "standing demand", m.d.Matching.StandingDemand)
	if !ok {
		return
	}
	sid := doc.ID
	f := postedForm(c)
	grade, qty := int(f.int("min_grade")), f.int("quantity_kg")
	dest, note, from, until := f.V("destination"), f.V("note"), f.V("valid_from"), f.V("valid_until")
	days, certs := f.days(), f.list("required_certifications", certCodes())
	if sameSet(certs, doc.RequiredCertifications) {
		certs = doc.RequiredCertifications
	}
	u := matching.StandingDemandUpdate{MinGrade: &grade, QuantityKg: &qty, MaxPricePerKg: f.requiredFen("max_price_per_kg", f.fen("max_price_per_kg")),
		Destination: &dest, Weekdays: &days, ValidFrom: &from, ValidUntil: &until, RequiredCertifications: &certs, Note: &note}
	if _, err := m.d.Matching.UpdateStandingDemand(ctx, p, sid, u); err != nil {
		if f.refused(err) {
			m.showStanding(c, http.StatusUnprocessableEntity, doc, f)
			return
		}
		m.fail(c, err)
		return
	}
	done(c, "/market/standing/"+strconv.FormatInt(sid, 10)+"?done=saved")
}

// standingAction pauses, resumes or deletes a standing demand.
func (m *Module) standingAction(c *gin.Context) {
	ctx, p := c.Request.Context(), rest.Principal(c)
	sid, err := id(c, "standing demand")
	if err != nil {
		m.fail(c, err)
		return
	}
	switch action := c.Param("action"); action {
	case "pause", "resume":
		_, err = m.d.Matching.PauseStandingDemand(ctx, p, sid, action == "pause")
		if err == nil {
			done(c, "/market/standing/"+strconv.FormatInt(sid, 10)+"?done="+action+"d")
			return
		}
	case "delete":
		if err = m.d.Matching.DeleteStandingDemand(ctx, p, sid); err == nil {
			done(c, "/market/standing?done=deleted")
			return
		}
	default:
		err = errs.E(errs.NotFound, "no such action %q", action)
	}
	m.fail(c, err)
}

// weekdaysOf names a standing demand's weekdays ("any day" when none).
func weekdaysOf(ds []int) string {
	if len(ds) == 0 {
		return "每天 any day"
	}
	zh, en := "", ""
	for i, d := range ds {
		if d < 1 || d > 7 {
			continue
		}
		if i > 0 {
			zh, en = zh+"、", en+", "
		}
		zh, en = zh+weekdays[d-1].ZH, en+weekdays[d-1].EN
	}
	return zh + " " + en
}
