// Package marketapi is the 菜篮子 market's pages under /market, for the people of produce bases and buyers
// (signed in through package web, as /plan and /ops are) and for the coordinators. A base posts, changes and
// withdraws its offers, answers the allocations a run proposed, follows its orders, registers the lot that
// ships an order and prints a sheet of QR labels for its packages. A buyer posts and changes its demands,
// answers allocations, follows its orders to each lot's traceability page and records the receipt. The
// coordinators see everything and start matching runs. Chinese first with English beside, made for a phone
// first, no script.
//
// Who sees what is the domains' rule (matching.Store and trace.Service: an organisation its own records, staff
// everything); this package only translates forms to their calls and their answers to pages. The API under
// /api/v1 calls the same methods with the same principal, so a page can never show or do more than the API
// would: a rule written here instead would be a second rule to keep in step. The few checks made here only
// choose what a page offers (a link, a form), or keep a person off a page that has nothing for its role.
//
// Every value a person typed reaches the page through html/template, which escapes it for where it lands (text,
// attribute, URL); the one template.HTML is the labels' QR code, which this package draws itself.
package marketapi

import (
	"context"
	"embed"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/api/web"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
	"github.com/suilong/suilong/matching"
	"github.com/suilong/suilong/trace"
)

//go:embed templates/*.html.tmpl
var templateFS embed.FS

// Deps are the module's collaborators.
type Deps struct {
	// Site is the session, CSRF and layout shared with /plan and /ops, so one sign-in serves them all.
	Site *web.Site
	// Matching and Trace are the domain services themselves, not the API: they take the caller's principal
	// and apply its scope, which is what makes the pages safe to write as plain translations.
	Matching *matching.Store
	Trace    *trace.Service
	Auth     *auth.Store // the bases a coordinator records certificates for
}

// Module serves the /market pages.
type Module struct {
	d     Deps
	pages *web.Renderer
}

// New returns the module.
func New(d Deps) *Module { return &Module{d: d, pages: d.Site.NewRenderer(templateFS, funcs)} }

// The role tests below decide what a page offers (a link, a form, a button); whether the call is allowed is
// still the domain's answer to it, so a form posted by hand by the wrong role is refused all the same.
func isBase(p auth.Principal) bool  { return p.Role == auth.RoleBase }
func isBuyer(p auth.Principal) bool { return p.Role == auth.RoleBuyer }
func staffOrBase(p auth.Principal) bool {
	return p.Staff() || isBase(p)
}
func staffOrBuyer(p auth.Principal) bool { return p.Staff() || isBuyer(p) }

// allowed admits the people who trade (bases, buyers) and those who run the market (coordinators, admins).
// Carriers and gateways have nothing to do here: RequireSession shows them that these pages are not their
// role's (403), and sends a carrier who opens /market on to /ops, its own start page.
func allowed(p auth.Principal) bool { return p.Staff() || isBase(p) || isBuyer(p) }

// section is the market pages' header; each role sees the links to what it may do. A link's For hides a page
// that would only answer the role with a refusal (a buyer's offers, a base's runs): the page itself still
// refuses, through the domain, whoever types its address.
var section = web.Section{
	Brand: web.Brand{ZH: "菜篮子产销对接", EN: "Vegetable Basket market", Href: "/market"},
	Links: []web.Link{
		{Key: "home", Href: "/market", ZH: "首页", EN: "Start"},
		{Key: "offers", Href: "/market/offers", ZH: "供应", EN: "Offers", For: staffOrBase},
		{Key: "demands", Href: "/market/demands", ZH: "需求", EN: "Demands", For: staffOrBuyer},
		{Key: "allocations", Href: "/market/allocations", ZH: "撮合结果", EN: "Allocations"},
		{Key: "orders", Href: "/market/orders", ZH: "订单", EN: "Orders"},
		{Key: "rounds", Href: "/market/rounds", ZH: "交易轮次", EN: "Rounds"},
		{Key: "standing", Href: "/market/standing", ZH: "常备需求", EN: "Standing", For: staffOrBuyer},
		{Key: "certificates", Href: "/market/certificates", ZH: "菜篮子证书", EN: "Certificates", For: staffOrBase},
		{Key: "runs", Href: "/market/runs", ZH: "撮合运行", EN: "Runs", For: auth.Principal.Staff},
		{Href: "/plan", ZH: "方案跟踪", EN: "Plan", For: auth.Principal.Staff},
	},
}

// Routes registers the pages on root.
//
// Everything sits behind RequireSession: a person signed out goes to /login and comes back, and every POST
// must carry the session's CSRF token (the forms' hidden csrf field), checked there before any handler runs,
// so that another site's form, or another session's token, changes nothing (403). The handlers here therefore
// never look at the token. GET never changes anything, so links, reloads and the redirects after a change are
// safe to follow. Each change is a POST with its verb in the path (withdraw, cancel, accept), because an HTML
// form has only GET and POST and these pages run no script.
func (m *Module) Routes(_ *gin.RouterGroup, root *gin.Engine) {
	g := root.Group("/market", m.d.Site.RequireSession(section, allowed))
	g.GET("", m.homePage)
	g.GET("/offers", m.offersPage)
	g.POST("/offers", m.offerCreate)
	g.GET("/offers/:id", m.offerPage)
	g.POST("/offers/:id", m.offerUpdate)
	g.POST("/offers/:id/withdraw", m.offerWithdraw)
	g.GET("/demands", m.demandsPage)
	g.POST("/demands", m.demandCreate)
	g.GET("/demands/:id", m.demandPage)
	g.POST("/demands/:id", m.demandUpdate)
	g.POST("/demands/:id/withdraw", m.demandWithdraw)
	g.GET("/allocations", m.allocationsPage)
	g.POST("/allocations/:id/:answer", m.allocationAnswer)
	g.GET("/orders", m.ordersPage)
	g.GET("/orders/:id", m.orderPage)
	g.POST("/orders/:id/lots", m.lotCreate)
	g.POST("/lots/:id/receive", m.lotReceive)
	g.GET("/lots/:id/labels", m.labelsPage)
	g.GET("/runs", m.runsPage)
	g.POST("/runs", m.runStart)
	g.GET("/runs/:id", m.runPage)
	g.GET("/rounds", m.roundsPage)
	g.POST("/rounds", m.roundCreate)
	g.GET("/rounds/:id", m.roundPage)
	g.POST("/rounds/:id", m.roundUpdate)
	g.POST("/rounds/:id/cancel", m.roundCancel)
	g.POST("/rounds/:id/runs", m.roundFollowUp)
	g.GET("/rounds/:id/report", m.reportPage)
	g.GET("/rounds/:id/report.csv", m.reportCSV)
	g.GET("/standing", m.standingList)
	g.POST("/standing", m.standingCreate)
	g.GET("/standing/:id", m.standingPage)
	g.POST("/standing/:id", m.standingUpdate)
	g.POST("/standing/:id/:action", m.standingAction)
	g.GET("/certificates", m.certificatesPage)
	g.POST("/certificates", m.certificateCreate)
	g.GET("/bases/:org/certificates/:id", m.certificatePage)
	g.POST("/bases/:org/certificates/:id", m.certificateUpdate)
	g.GET("/lots/:id", m.lotPage)
	g.POST("/lots/:id/inspections", m.inspectionCreate)
}

func (m *Module) page(c *gin.Context, title, nav string) web.Page {
	return m.d.Site.Page(c, section, title, nav)
}

// fail shows the domain's refusal as the section's error page: not found 404, forbidden 403, conflict 409,
// invalid 422; anything else is logged and shown as 500 without its cause, which may name tables or hosts.
func (m *Module) fail(c *gin.Context, err error) { m.pages.Error(c, section, err) }

func (m *Module) render(c *gin.Context, status int, name string, v any) {
	m.pages.Render(c, status, name, v)
}

// id is the request's numeric :id; another string is a record that does not exist. It is a 404 rather than
// a 400 because to the person it is the same as any other address that leads nowhere, and it is the same
// answer the domain gives for another organisation's record, so that ids cannot be probed.
func id(c *gin.Context, what string) (int64, error) {
	v, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || v <= 0 {
		return 0, errs.E(errs.NotFound, "%s %q not found", what, c.Param("id"))
	}
	return v, nil
}

// pathRecord reads the record the path's :id names, through the domain's get as the caller may see it; a
// malformed id or a refusal is shown as the section's error page (false), as id and fail show them.
func pathRecord[T any](m *Module, c *gin.Context, what string, get func(context.Context, auth.Principal, int64) (T, error)) (T, bool) {
	rid, err := id(c, what)
	if err == nil {
		var r T
		if r, err = get(c.Request.Context(), rest.Principal(c), rid); err == nil {
			return r, true
		}
	}
	m.fail(c, err)
	var zero T
	return zero, false
}

// listed is how many records a list page shows; the next page is asked for by the last one's key (keyset, as
// the API's lists: a page deep in a long list costs what the first one does).
const listed = 50

// listPage is the page of a list page's request: the first, or the one after the ?after= cursor.
func listPage(c *gin.Context) matching.Page {
	return matching.Page{Limit: listed, After: c.Query("after")}
}

// nextCursor is the ?after= of the page after items, "" when items is the last page (shorter than a page).
func nextCursor[T interface{ PageKey() []any }](items []T) string {
	if len(items) < listed {
		return ""
	}
	return pg.Cursor(items[len(items)-1].PageKey()...)
}

// done sends the browser on after a change (POST, redirect, GET), with what was done for the notice. 303 makes
// the browser GET the new address, so a reload shows the page again instead of posting the form twice. The
// notice ("done" in market.html.tmpl) has words for the keys used here and shows any other value as escaped
// text, so a crafted ?done= link can put no markup on the page.
func done(c *gin.Context, to string) { c.Redirect(http.StatusSeeOther, to) }
