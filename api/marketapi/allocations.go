package marketapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/api/web"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/matching"
)

// allocTab is one status of allocations the page lists.
type allocTab struct {
	Status matching.AllocStatus
	On     bool
}

type allocationsView struct {
	web.Page
	Tabs        []allocTab
	Status      matching.AllocStatus
	Allocations []matching.Allocation
	Total       int
	Next        string
	Party       bool // the caller answers allocations (a base or a buyer; staff only watch: the domain refuses them)
	Me          int64
	Ch          choices
	Done        string
	Now         time.Time // past an allocation's answer_by its buttons go: the answer would be refused (409)
}

var allocStatuses = []matching.AllocStatus{matching.AllocProposed, matching.AllocOrdered, matching.AllocDeclined, matching.AllocLapsed,
	matching.AllocWithdrawn}

func (m *Module) allocationsPage(c *gin.Context) {
	ctx, p := c.Request.Context(), rest.Principal(c)
	// Proposed first: those are what waits for an answer. An unknown status is refused below rather than
	// passed on, where it would list nothing and look like nothing to answer.
	st := matching.AllocStatus(c.DefaultQuery("status", string(matching.AllocProposed)))
	v := allocationsView{Page: m.page(c, "撮合结果 Allocations", "allocations"), Status: st, Party: !p.Staff(), Me: p.OrgID, Done: c.Query("done"),
		Now: m.d.Site.Now()}
	known := false
	for _, s := range allocStatuses {
		v.Tabs = append(v.Tabs, allocTab{s, s == st})
		known = known || s == st
	}
	if !known {
		m.fail(c, &errs.Error{Code: errs.Invalid, Message: "status must be proposed, ordered, declined, lapsed or withdrawn"})
		return
	}
	var err error
	v.Allocations, v.Total, err = m.d.Matching.Allocations(ctx, p, matching.AllocationFilter{Status: st,
		Page: listPage(c)})
	if err != nil {
		m.fail(c, err)
		return
	}
	v.Next = nextCursor(v.Allocations)
	if v.Ch, err = m.choices(ctx); err != nil {
		m.fail(c, err)
		return
	}
	m.render(c, http.StatusOK, "market-allocations", v)
}

// Waiting reports whether the allocation waits for the caller's answer.
func (v allocationsView) Waiting(a matching.Allocation) bool {
	return a.Status == matching.AllocProposed && (v.Me == a.BaseOrgID || v.Me == a.BuyerOrgID) && v.MyAnswer(a) == nil && !v.Late(a)
}

// Late reports whether the allocation's answer deadline has passed (before the sweep has marked it lapsed).
// The page goes by the deadline, not by the status, because the domain does too: an answer after answer_by
// is refused (409) even while the allocation still shows as proposed.
func (v allocationsView) Late(a matching.Allocation) bool {
	return a.AnswerBy != nil && !v.Now.Before(*a.AnswerBy)
}

// MyAnswer is the caller's answer; TheirAnswer the other side's.
func (v allocationsView) MyAnswer(a matching.Allocation) *matching.Decision {
	if v.Me == a.BaseOrgID {
		return a.BaseDecision
	}
	return a.BuyerDecision
}

// TheirAnswer is the other side's answer.
func (v allocationsView) TheirAnswer(a matching.Allocation) *matching.Decision {
	if v.Me == a.BaseOrgID {
		return a.BuyerDecision
	}
	return a.BaseDecision
}

// IsBase reports whether the caller is the allocation's base.
func (v allocationsView) IsBase(a matching.Allocation) bool { return v.Me == a.BaseOrgID }

// allocationAnswer records the caller's accept or decline. The domain decides who may: an organisation that
// is no party gets 404, as for any record not its own, and a coordinator 403, since it can see the allocation
// but answers for nobody. An answer outside accept and decline is an address that does not exist (404).
func (m *Module) allocationAnswer(c *gin.Context) {
	aid, err := id(c, "allocation")
	if err != nil {
		m.fail(c, err)
		return
	}
	var d matching.Decision
	switch c.Param("answer") {
	case "accept":
		d = matching.Accepted
	case "decline":
		d = matching.Declined
	default:
		m.fail(c, errs.E(errs.NotFound, "no such answer %q: accept or decline", c.Param("answer")))
		return
	}
	a, order, err := m.d.Matching.Decide(c.Request.Context(), rest.Principal(c), aid, d)
	if err != nil {
		m.fail(c, err)
		return
	}
	// The second acceptance places the order; its page, where the base registers the lot, is the next step.
	if order != nil {
		done(c, "/market/orders/"+strconv.FormatInt(order.ID, 10)+"?done=placed")
		return
	}
	done(c, "/market/allocations?status="+string(a.Status)+"&done="+string(d)+"#allocation-"+strconv.FormatInt(aid, 10))
}
