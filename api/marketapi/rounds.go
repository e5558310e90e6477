package marketapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/api/web"
	"github.com/suilong/suilong/matching"
)

type roundsView struct {
	web.Page
	Accepting bool // the tab of rounds taking offers and demands now
	Rounds    []matching.Round
	Total     int
	Next      string
	Staff     bool
	Base      bool
	Form      *form
	Rules     []priceRule
	Ch        choices
	Done      string
}

// roundsPage lists rounds: for bases and buyers first those taking records now (?all=1 for every round); a
// coordinator also opens one here.
func (m *Module) roundsPage(c *gin.Context) {
	f := newForm()
	now := m.d.Site.Now()
	f.Values["opens_at"] = local(now)
	f.Values["price_rule"] = string(matching.PriceMidpoint)
	m.showRounds(c, http.StatusOK, f)
}

func (m *Module) showRounds(c *gin.Context, status int, f *form) {
	ctx, p := c.Request.Context(), rest.Principal(c)
	v := roundsView{Page: m.page(c, "交易轮次 Rounds", "rounds"), Staff: p.Staff(), Base: isBase(p), Form: f, Rules: priceRules,
		Done: c.Query("done")}
	// A base or buyer comes here to post, so it sees first the rounds it can post into; a coordinator runs
	// them all and sees every one.
	v.Accepting = !v.Staff && c.Query("all") == ""
	var err error
	if v.Rounds, v.Total, err = m.d.Matching.Rounds(ctx, p, matching.RoundFilter{Accepting: v.Accepting,
		Page: listPage(c)}); err != nil {
		m.fail(c, err)
		return
	}
	v.Next = nextCursor(v.Rounds)
	if v.Ch, err = m.choices(ctx); err != nil {
		m.fail(c, err)
		return
	}
	m.render(c, status, "market-rounds", v)
}

// roundCreate opens a round; the domain refuses anyone but a coordinator (403). Times are typed and read in
// China time: the round closes when the people of both cities expect it to.
func (m *Module) roundCreate(c *gin.Context) {
	f := postedForm(c)
	ch, err := m.choices(c.Request.Context())
	if err != nil {
		m.fail(c, err)
		return
	}
	n := matching.NewRound{Name: f.V("name"), OpensAt: f.time("opens_at"), ClosesAt: f.time("closes_at"),
		Products: f.list("products", ch.productNames()), Destinations: f.list("destinations", ch.destinationSlugs()),
		DeliverFrom: f.time("deliver_from"), DeliverBy: f.time("deliver_by"), AnswerBy: f.time("answer_by"),
		PriceRule: matching.PriceRule(f.V("price_rule")), Note: f.V("note")}
	r, err := m.d.Matching.CreateRound(c.Request.Context(), rest.Principal(c), n)
	if f.refused(err) {
		m.showRounds(c, http.StatusUnprocessableEntity, f)
		return
	}
	if err != nil {
		m.fail(c, err)
		return
	}
	done(c, "/market/rounds/"+strconv.FormatInt(r.ID, 10)+"?done=opened")
}

type roundView struct {
	web.Page
	R       matching.Round
	Runs    []matching.Run
	Role    string
	Staff   bool
	CanEdit bool // open and not yet past its close: a coordinator changes or cancels it
	Form    *form
	Follow  *form
	Rules   []priceRule
	Ch      choices
	Done    string
	Own     *matching.RoundReport // a base's or buyer's own line of the report
}

func roundForm(r matching.Round) *form {
	f := newForm()
	f.Values["name"], f.Values["note"] = r.Name, r.Note
	f.Values["opens_at"], f.Values["closes_at"] = local(r.OpensAt), local(r.ClosesAt)
	f.Values["deliver_from"], f.Values["deliver_by"], f.Values["answer_by"] = local(r.DeliverFrom), local(r.DeliverBy), local(r.AnswerBy)
	f.Values["price_rule"] = string(r.PriceRule)
	f.Multi["products"], f.Multi["destinations"] = map[string]bool{}, map[string]bool{}
	for _, p := range r.Products {
		f.Multi["products"][p] = true
	}
	for _, d := range r.Destinations {
		f.Multi["destinations"][d] = true
	}
	return f
}

func (m *Module) roundPage(c *gin.Context) {
	r, ok := pathRecord(m, c, "round", m.d.Matching.Round)
	if !ok {
		return
	}
	m.showRound(c, http.StatusOK, r, roundForm(r), newForm())
}

func (m *Module) showRound(c *gin.Context, status int, r matching.Round, f, follow *form) {
	ctx, p := c.Request.Context(), rest.Principal(c)
	v := roundView{Page: m.page(c, "交易轮次 "+r.Name+" Round", "rounds"), R: r, Role: string(p.Role), Staff: p.Staff(), Form: f, Follow: follow,
		Rules: priceRules, Done: c.Query("done")}
	// Past its close a round may still show as open until its run has happened, but the domain refuses any
	// change then (409), so the form goes at the close itself.
	v.CanEdit = v.Staff && r.Status == matching.RoundOpen && m.d.Site.Now().Before(r.ClosesAt)
	var err error
	if v.Ch, err = m.choices(ctx); err != nil {
		m.fail(c, err)
		return
	}
	// Runs are the coordinators' (the domain refuses anyone else); a base or buyer sees instead its own line
	// of the report, once there is one to see.
	if v.Staff {
		for _, rid := range r.RunIDs {
			run, err := m.d.Matching.GetRun(ctx, p, rid)
			if err != nil {
				m.fail(c, err)
				return
			}
			v.Runs = append(v.Runs, run)
		}
	} else if r.Status == matching.RoundClosed {
		rep, err := m.d.Matching.RoundReport(ctx, p, r.ID)
		if err != nil {
			m.fail(c, err)
			return
		}
		v.Own = &rep
	}
	m.render(c, status, "market-round", v)
}

// roundUpdate changes a round before its close. Its times are sent on only when changed: left as shown, the
// delivery window and the answer deadline move with a new close, as the domain does for them.
func (m *Module) roundUpdate(c *gin.Context) {
	ctx, p := c.Request.Context(), rest.Principal(c)
	r, ok := pathRecord(m, c, "round", m.d.Matching.Round)
	if !ok {
		return
	}
	rid := r.ID
	f := postedForm(c)
	ch, err := m.choices(ctx)
	if err != nil {
		m.fail(c, err)
		return
	}
	was := roundForm(r)
	name, note, rule := f.V("name"), f.V("note"), matching.PriceRule(f.V("price_rule"))
	prods, dests := f.list("products", ch.productNames()), f.list("destinations", ch.destinationSlugs())
	u := matching.RoundUpdate{Name: &name, Note: &note, PriceRule: &rule, Products: &prods, Destinations: &dests}
	// A time shown to the minute and sent back as it was is no change (the round may hold seconds).
	changed := func(k string) *time.Time {
		if f.V(k) == was.V(k) {
			return nil
		}
		return f.requiredTime(k, f.time(k))
	}
	u.OpensAt, u.ClosesAt = changed("opens_at"), changed("closes_at")
	u.DeliverFrom, u.DeliverBy, u.AnswerBy = changed("deliver_from"), changed("deliver_by"), changed("answer_by")
	if _, err := m.d.Matching.UpdateRound(ctx, p, rid, u); err != nil {
		if f.refused(err) {
			m.showRound(c, http.StatusUnprocessableEntity, r, f, newForm())
			return
		}
		m.fail(c, err)
		return
	}
	done(c, "/market/rounds/"+strconv.FormatInt(rid, 10)+"?done=saved")
}

// roundCancel cancels a round before its run; its offers and demands move to the open pool rather than
// vanish, since their owners posted them to be matched.
func (m *Module) roundCancel(c *gin.Context) {
	rid, err := id(c, "round")
	if err != nil {
		m.fail(c, err)
		return
	}
	if _, err := m.d.Matching.CancelRound(c.Request.Context(), rest.Principal(c), rid); err != nil {
		m.fail(c, err)
		return
	}
	done(c, "/market/rounds/"+strconv.FormatInt(rid, 10)+"?done=cancelled")
}

// roundFollowUp starts a follow-up run of a closed round over what its runs left.
func (m *Module) roundFollowUp(c *gin.Context) {
	ctx, p := c.Request.Context(), rest.Principal(c)
	r, ok := pathRecord(m, c, "round", m.d.Matching.Round)
	if !ok {
		return
	}
	rid := r.ID
	f := postedForm(c)
	run, err := m.d.Matching.RunRound(ctx, p, rid, matching.FollowUp{PriceRule: matching.PriceRule(f.V("price_rule")), AnswerBy: f.time("answer_by")})
	if f.refused(err) {
		m.showRound(c, http.StatusUnprocessableEntity, r, roundForm(r), f)
		return
	}
	if err != nil {
		m.fail(c, err)
		return
	}
	done(c, "/market/runs/"+strconv.FormatInt(run.ID, 10)+"?done=started")
}

// roundChoices are the rounds taking offers and demands now, for the forms' round selector: a round not yet
// open or already closed would only refuse the post.
func (m *Module) roundChoices(c *gin.Context) ([]matching.Round, error) {
	rs, _, err := m.d.Matching.Rounds(c.Request.Context(), rest.Principal(c), matching.RoundFilter{Accepting: true, Page: matching.Page{Limit: 50}})
	return rs, err
}

// roundID reads the form's round selector: empty is the open pool.
func (f *form) roundID() *int64 {
	if f.V("round_id") == "" {
		return nil
	}
	v := f.int("round_id")
	return &v
}

func (ch choices) productNames() []string {
	out := make([]string, len(ch.Products))
	for i, p := range ch.Products {
		out[i] = p.Name
	}
	return out
}

func (ch choices) destinationSlugs() []string {
	out := make([]string, len(ch.Destinations))
	for i, d := range ch.Destinations {
		out[i] = d.Slug
	}
	return out
}

// DestZH is a market's name as the lanes give it.
func (ch choices) DestZH(slug string) string { return destName(ch, slug) }

// mustRound is the round of the path that the caller may read; false when the page's error was sent.
func (m *Module) mustRound(c *gin.Context) (matching.Round, bool) {
	rid, err := id(c, "round")
	var r matching.Round
	if err == nil {
		r, err = m.d.Matching.Round(c.Request.Context(), rest.Principal(c), rid)
	}
	if err != nil {
		m.fail(c, err)
		return r, false
	}
	return r, true
}
