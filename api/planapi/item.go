package planapi

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/api/web"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/plan"
)

type statusOption struct {
	Value    plan.Status
	Selected bool
}

// itemView is an item's page: its text, tracking form, annual entries, updates and audit, so that one page
// answers a coordinator's "where does this measure stand, and who said so".
type itemView struct {
	web.Page
	D        *plan.ItemDetail
	Statuses []statusOption
	Years    []int // the plan's years (plan.FirstYear…LastYear): annual entries may be planned ahead
	Today    string
	// Form is what was typed, keyed "form.field", so a rejected form comes back as the person left it
	// instead of making them type a long note again.
	Form map[string]string
	Errs []errs.FieldError
	// Failed names the form the errors belong to: the page has several, and only that one shows them.
	Failed string
	Saved  string
	Year   int
}

func (m *Module) itemView(c *gin.Context, code string) (*itemView, error) {
	d, _, err := m.d.Plan.Detail(c.Request.Context(), rest.Principal(c), code)
	if err != nil {
		return nil, err
	}
	v := &itemView{Page: m.page(c, d.Code+" "+d.Label(), "dashboard"), D: d, Today: m.d.Plan.Store.Today().String(),
		Form: map[string]string{}, Saved: c.Query("saved"), Year: m.d.Plan.Store.Today().Year()}
	for _, s := range plan.Statuses {
		v.Statuses = append(v.Statuses, statusOption{Value: s, Selected: s == d.Tracking.Status})
	}
	for y := plan.FirstYear; y <= plan.LastYear; y++ {
		v.Years = append(v.Years, y)
	}
	return v, nil
}

func (m *Module) itemPage(c *gin.Context) {
	v, err := m.itemView(c, c.Param("code"))
	if err != nil {
		m.pageError(c, err)
		return
	}
	m.pages.Render(c, http.StatusOK, "item", v)
}

// formFailed shows the item page again with what was typed and what is wrong, changing nothing.
func (m *Module) formFailed(c *gin.Context, form string, err error) {
	if !errs.Is(err, errs.Unprocessable) && !errs.Is(err, errs.Invalid) {
		// Not the person's typing (forbidden, gone, or our fault): redisplaying the form would not help.
		m.pageError(c, err)
		return
	}
	v, verr := m.itemView(c, c.Param("code"))
	if verr != nil {
		m.pageError(c, verr)
		return
	}
	v.Failed = form
	if e := errs.As(err); e != nil {
		v.Errs = e.Fields
		if len(v.Errs) == 0 {
			// A rejection without fields must still be shown next to the form, or nothing would explain it.
			v.Errs = []errs.FieldError{{Field: form, Message: e.Message}}
		}
	}
	_ = c.Request.ParseForm()
	for k, vals := range c.Request.PostForm {
		if k != "csrf" && len(vals) > 0 { // the token comes fresh from the session, never from the post
			v.Form[form+"."+k] = vals[0]
		}
	}
	m.pages.Render(c, http.StatusUnprocessableEntity, "item", v)
}

// saved answers a successful form with 303 to the item page (post/redirect/get): reloading the page then
// shows it again rather than posting the update twice. The anchor brings the person back to the part they
// edited, and ?saved= makes the page say it was saved.
func (m *Module) saved(c *gin.Context, what, anchor string) {
	c.Redirect(http.StatusSeeOther, "/plan/items/"+url.PathEscape(c.Param("code"))+"?saved="+what+"#"+anchor)
}

// trackingSubmit turns the tracking form into a patch of every field, since the form always shows and posts
// them all: an emptied target date clears it and an emptied progress means "roll it up from the children"
// (null in the API), which is how a coordinator hands progress back to the measures below.
func (m *Module) trackingSubmit(c *gin.Context) {
	opt := func(s string) plan.Opt[string] { return plan.Opt[string]{Set: true, V: s} }
	pt := plan.TrackingPatch{
		LeadGuangzhou: opt(c.PostForm("lead_guangzhou")),
		LeadLongyan:   opt(c.PostForm("lead_longyan")),
		Status:        opt(c.PostForm("status")),
		TargetDate:    plan.Opt[string]{Set: true, V: strings.TrimSpace(c.PostForm("target_date")), Null: strings.TrimSpace(c.PostForm("target_date")) == ""},
		Progress:      plan.Opt[int]{Set: true, Null: true},
	}
	// People type "60%" as often as "60"; the range check stays plan's, so the API and the page say the same.
	if s := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(c.PostForm("progress")), "%")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			m.formFailed(c, "tracking", &errs.Error{Code: errs.Unprocessable, Message: "validation failed",
				Fields: []errs.FieldError{{Field: "progress", Message: "must be a whole number from 0 to 100, or empty to roll it up"}}})
			return
		}
		pt.Progress = plan.Opt[int]{Set: true, V: n}
	}
	if _, _, err := m.d.Plan.UpdateTracking(c.Request.Context(), rest.Principal(c), c.Param("code"), pt); err != nil {
		m.formFailed(c, "tracking", err)
		return
	}
	m.saved(c, "tracking", "tracking")
}

func (m *Module) updateSubmit(c *gin.Context) {
	n := plan.NewUpdate{Date: c.PostForm("date"), Note: c.PostForm("note")}
	// One evidence link a line, as the form asks; blank lines are the textarea's, not missing links. Whether each
	// is an http(s) address is plan's check, so a javascript: link never reaches the page's href.
	for _, l := range strings.Split(c.PostForm("links"), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			n.Links = append(n.Links, l)
		}
	}
	if _, err := m.d.Plan.AddUpdate(c.Request.Context(), rest.Principal(c), c.Param("code"), n); err != nil {
		m.formFailed(c, "update", err)
		return
	}
	m.saved(c, "update", "updates")
}

func (m *Module) annualSubmit(c *gin.Context) {
	year, err := strconv.Atoi(c.PostForm("year"))
	if err != nil {
		year = 0 // reported by the validation, by name
	}
	n := plan.NewAnnual{Year: year, Planned: c.PostForm("planned"), Done: c.PostForm("done") != "", Note: c.PostForm("note")}
	if _, err := m.d.Plan.AddAnnual(c.Request.Context(), rest.Principal(c), c.Param("code"), n); err != nil {
		m.formFailed(c, "annual", err)
		return
	}
	m.saved(c, "annual", "annual")
}

func (m *Module) annualEditSubmit(c *gin.Context) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		// The id is in the path, not typed into the form: a bad one is a page that does not exist.
		m.pageError(c, errs.E(errs.NotFound, "annual entry %q not found", c.Param("id")))
		return
	}
	planned, note, done := c.PostForm("planned"), c.PostForm("note"), c.PostForm("done") != ""
	form := fmt.Sprintf("annual-%d", id) // each entry's row is its own form; errors show on that row
	if _, err := m.d.Plan.UpdateAnnual(c.Request.Context(), rest.Principal(c), c.Param("code"), id, plan.AnnualPatch{Planned: &planned, Note: &note, Done: &done}); err != nil {
		m.formFailed(c, form, err)
		return
	}
	m.saved(c, "annual", form)
}
