package matchingapi

import (
	"bytes"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/matching"
)

// roundRoutes are the trading rounds (docs/market.md): coordinators open, change, cancel and re-run them;
// bases and buyers read them to post into them, and read the report of their own part.
func (m *Module) roundRoutes(v1 *gin.RouterGroup) {
	v1.GET("/rounds", members, m.listRounds)
	v1.POST("/rounds", staff, m.createRound)
	v1.GET("/rounds/:id", members, m.getRound)
	v1.PATCH("/rounds/:id", staff, m.updateRound)
	// DELETE cancels and answers the round (200): it stays on record, its offers and demands move to the open pool.
	v1.DELETE("/rounds/:id", staff, m.cancelRound)
	v1.POST("/rounds/:id/cancel", staff, m.cancelRound)
	v1.POST("/rounds/:id/runs", staff, m.runRound)
	v1.GET("/rounds/:id/report", members, m.roundReport)
	v1.GET("/rounds/:id/report.csv", members, m.roundReportCSV)
}

func (m *Module) listRounds(c *gin.Context) {
	rest.ListPage(c, func(p rest.PageReq) ([]matching.Round, int, error) {
		f := matching.RoundFilter{Status: matching.RoundStatus(c.Query("status")), Page: page(p)}
		switch f.Status {
		case "", matching.RoundOpen, matching.RoundClosed, matching.RoundCancelled:
		default:
			return nil, 0, rest.BadQuery("status", "must be open, closed or cancelled")
		}
		switch c.Query("accepting") {
		case "", "false":
		case "true":
			f.Accepting = true
		default:
			return nil, 0, rest.BadQuery("accepting", "must be true or false")
		}
		return m.d.Store.Rounds(c, rest.Principal(c), f)
	})
}

func (m *Module) createRound(c *gin.Context) {
	var req matching.NewRound
	if err := rest.Bind(c, &req); err != nil {
		rest.Problem(c, err)
		return
	}
	r, err := m.d.Store.CreateRound(c, rest.Principal(c), req)
	if err == nil {
		c.Header("Location", fmt.Sprintf("/api/v1/rounds/%d", r.ID))
	}
	rest.Reply(c, http.StatusCreated, r, err)
}

func (m *Module) getRound(c *gin.Context) {
	rest.WithID(c, func(id int64) {
		r, err := m.d.Store.Round(c, rest.Principal(c), id)
		rest.Reply(c, http.StatusOK, r, err)
	})
}

func (m *Module) updateRound(c *gin.Context) {
	rest.WithID(c, func(id int64) {
		var req matching.RoundUpdate
		if err := rest.Bind(c, &req); err != nil {
			rest.Problem(c, err)
			return
		}
		r, err := m.d.Store.UpdateRound(c, rest.Principal(c), id, req)
		rest.Reply(c, http.StatusOK, r, err)
	})
}

func (m *Module) cancelRound(c *gin.Context) {
	rest.WithID(c, func(id int64) {
		r, err := m.d.Store.CancelRound(c, rest.Principal(c), id)
		rest.Reply(c, http.StatusOK, r, err)
	})
}

// runRound is a follow-up run only: the run at the close happens by itself (DESIGN.md "Market cycles"), so the
// store answers 409 before the close. An empty body takes the round's price rule and a fresh answer window.
func (m *Module) runRound(c *gin.Context) {
	rest.WithID(c, func(id int64) {
		var req matching.FollowUp
		// The body is optional, as for POST /matching/runs.
		if c.Request.ContentLength != 0 {
			if err := rest.Bind(c, &req); err != nil && !isEmptyBody(err) {
				rest.Problem(c, err)
				return
			}
		}
		run, err := m.d.Store.RunRound(c, rest.Principal(c), id, req)
		rest.Reply(c, http.StatusCreated, run, err)
	})
}

// roundReport is open to members but scoped by the store: a base or buyer gets only its own line and never
// the surplus, which would disclose the other side's prices (scope "own").
func (m *Module) roundReport(c *gin.Context) {
	rest.WithID(c, func(id int64) {
		rep, err := m.d.Store.RoundReport(c, rest.Principal(c), id)
		rest.Reply(c, http.StatusOK, rep, err)
	})
}

func (m *Module) roundReportCSV(c *gin.Context) {
	rest.WithID(c, func(id int64) {
		rep, err := m.d.Store.RoundReport(c, rest.Principal(c), id)
		if err != nil {
			rest.Problem(c, err)
			return
		}
		// Into a buffer first, so a failure is a problem response, not a 200 with half a file. The BOM
		// (WriteCSV) is for spreadsheets on Chinese Windows, which read BOM-less UTF-8 as GBK. The file is
		// named by id, never by the round's name: user text has no place in a header.
		var b bytes.Buffer
		if err := rep.WriteCSV(&b); err != nil {
			rest.Problem(c, err)
			return
		}
		c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="round-%d-report.csv"`, id))
		c.Data(http.StatusOK, "text/csv; charset=utf-8", b.Bytes())
	})
}
