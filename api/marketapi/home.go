package marketapi

import (
	"context"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/api/web"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/pg"
	"github.com/suilong/suilong/matching"
)

// place is a county or a market a lane joins, for the forms' choices.
type place struct{ Slug, Name string }

// choices are what the offer and demand forms offer: the products and the places lanes join. The places come
// from the lanes because a lane is what a run matches along: an offer from a county no lane leaves would
// only ever come back unmatched (no_lane), so the form does not offer it.
type choices struct {
	Products     []matching.Product
	Origins      []place
	Destinations []place
	productZH    map[string]string
}

// lanePages bounds how many pages of lanes the forms read (7 counties × 4 markets is one page). Every market
// page reads them, so a runaway lanes table must not make every page slow; 20 pages of 500 is far beyond
// the plan's network.
const lanePages = 20

func (m *Module) choices(ctx context.Context) (choices, error) {
	var ch choices
	prods, _, err := m.d.Matching.Products(ctx, matching.Page{Limit: pg.MaxLimit})
	if err != nil {
		return ch, err
	}
	ch.Products, ch.productZH = prods, map[string]string{}
	for _, p := range prods {
		ch.productZH[p.Name] = p.NameZH
	}
	seenO, seenD := map[string]bool{}, map[string]bool{}
	page := matching.Page{Limit: pg.MaxLimit}
	for range lanePages {
		lanes, _, err := m.d.Matching.Lanes(ctx, matching.LaneFilter{Page: page})
		if err != nil {
			return ch, err
		}
		for _, l := range lanes {
			if !seenO[l.Origin] {
				seenO[l.Origin] = true
				ch.Origins = append(ch.Origins, place{l.Origin, nameOr(l.OriginName, l.Origin)})
			}
			if !seenD[l.Destination] {
				seenD[l.Destination] = true
				ch.Destinations = append(ch.Destinations, place{l.Destination, nameOr(l.DestinationName, l.Destination)})
			}
		}
		if len(lanes) < pg.MaxLimit {
			break
		}
		page.After = pg.Cursor(lanes[len(lanes)-1].PageKey()...)
	}
	return ch, nil
}

// ProductZH is a product's Chinese name, or its code when it has none.
func (ch choices) ProductZH(name string) string { return nameOr(ch.productZH[name], name) }

type homeView struct {
	web.Page
	Role      auth.Role
	Staff     bool
	Base      bool
	Buyer     bool
	Open      int // the caller's open offers (base) or demands (buyer), or all open ones (staff)
	OpenOther int // staff: open demands
	ToAnswer  []matching.Allocation
	Placed    []matching.Order
	Runs      []matching.Run
	Rounds    []matching.Round       // open rounds (staff) or those taking records now
	Due       []matching.Certificate // certificates expiring soon or expired (bases: their own)
	Ch        choices
}

func (m *Module) homePage(c *gin.Context) {
	ctx, p := c.Request.Context(), rest.Principal(c)
	v := homeView{Page: m.page(c, "菜篮子产销对接 Market", "home"), Role: p.Role, Staff: p.Staff(), Base: isBase(p), Buyer: isBuyer(p)}
	var err error
	if v.Ch, err = m.choices(ctx); err != nil {
		m.fail(c, err)
		return
	}
	// Only the counts are wanted (the lists have their own pages), so one row is read; the domain scopes the
	// count: a base's own open offers, every open one for staff.
	open := matching.Filter{Status: matching.StatusOpen, Page: matching.Page{Limit: 1}}
	if v.Staff || v.Base {
		if _, v.Open, err = m.d.Matching.Offers(ctx, p, open); err != nil {
			m.fail(c, err)
			return
		}
	}
	if v.Buyer || v.Staff {
		n := 0
		if _, n, err = m.d.Matching.Demands(ctx, p, open); err != nil {
			m.fail(c, err)
			return
		}
		if v.Staff {
			v.OpenOther = n
		} else {
			v.Open = n
		}
	}
	// Staff answer nothing (the domain refuses them: only the two parties decide), so their start page has no
	// box of allocations waiting.
	if !v.Staff {
		if v.ToAnswer, err = m.toAnswer(ctx, p); err != nil {
			m.fail(c, err)
			return
		}
	}
	if v.Placed, _, err = m.d.Matching.Orders(ctx, p, matching.OrderFilter{Status: matching.OrderPlaced, Page: matching.Page{Limit: 10}}); err != nil {
		m.fail(c, err)
		return
	}
	if v.Staff {
		if v.Runs, _, err = m.d.Matching.Runs(ctx, p, matching.Page{Limit: 5}); err != nil {
			m.fail(c, err)
			return
		}
	}
	// A coordinator runs the rounds, so it sees every open one, those not yet taking records too; a base or
	// buyer sees those it can post into now.
	rf := matching.RoundFilter{Accepting: !v.Staff, Page: matching.Page{Limit: 10}}
	if v.Staff {
		rf.Status = matching.RoundOpen
	}
	if v.Rounds, _, err = m.d.Matching.Rounds(ctx, p, rf); err != nil {
		m.fail(c, err)
		return
	}
	// A buyer holds no certificate; where its demand requires cailanzi-base, the runs check the bases' for it.
	if v.Staff || v.Base {
		if v.Due, err = m.dueCertificates(c); err != nil {
			m.fail(c, err)
			return
		}
	}
	m.render(c, http.StatusOK, "market-home", v)
}

// toAnswer are the proposed allocations waiting for the caller's own answer. The domain has already kept
// them to the caller's side; those it has answered are left out, as they now wait for the other side.
func (m *Module) toAnswer(ctx context.Context, p auth.Principal) ([]matching.Allocation, error) {
	all, _, err := m.d.Matching.Allocations(ctx, p, matching.AllocationFilter{Status: matching.AllocProposed, Page: matching.Page{Limit: pg.MaxLimit}})
	var out []matching.Allocation
	for _, a := range all {
		if mine(p, a) == nil {
			out = append(out, a)
		}
	}
	return out, err
}

// mine is the caller's own answer to an allocation (nil: not yet, or not a party). An organisation is a base
// or a buyer, never both, so its id matches at most one side.
func mine(p auth.Principal, a matching.Allocation) *matching.Decision {
	switch p.OrgID {
	case a.BaseOrgID:
		return a.BaseDecision
	case a.BuyerOrgID:
		return a.BuyerDecision
	}
	return nil
}

// words are the statuses of offers, demands, allocations and orders in either language. A status without
// words here shows as its code, so one the domain adds later still shows, if only in English.
func words(s any, en bool) string {
	w := map[string][2]string{
		"open": {"开放中", "open"}, "withdrawn": {"已撤回", "withdrawn"}, "proposed": {"待双方确认", "proposed"},
		"ordered": {"已成交", "ordered"}, "declined": {"已拒绝", "declined"}, "placed": {"待发货/运输中", "placed"},
		"delivered": {"已收货", "delivered"}, "accepted": {"已接受", "accepted"}, "lapsed": {"逾期未答复", "lapsed"},
	}[fmt.Sprint(s)]
	if w[0] == "" {
		return fmt.Sprint(s)
	}
	if en {
		return w[1]
	}
	return w[0]
}

// decisionWords says a side's answer: accepted, declined, or waiting.
func decisionWords(d *matching.Decision) string {
	if d == nil {
		return "未答复 not yet answered"
	}
	return words(*d, false) + " " + words(*d, true)
}
