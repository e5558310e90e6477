package matchingapi

import (
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/matching"
)

// standingRoutes are buyers' standing demands: each becomes a demand in every round it fits until paused.
// Coordinators read them all; only the buyer changes its own.
func (m *Module) standingRoutes(v1 *gin.RouterGroup) {
	v1.GET("/standing-demands", members, m.listStanding)
	v1.POST("/standing-demands", members, m.createStanding)
	v1.GET("/standing-demands/:id", members, m.getStanding)
	v1.PATCH("/standing-demands/:id", members, m.updateStanding)
	v1.DELETE("/standing-demands/:id", members, m.deleteStanding)
	v1.POST("/standing-demands/:id/pause", members, m.pauseStanding(true))
	v1.POST("/standing-demands/:id/resume", members, m.pauseStanding(false))
}

func (m *Module) listStanding(c *gin.Context) {
	rest.ListPage(c, func(p rest.PageReq) ([]matching.StandingDemand, int, error) {
		return m.d.Store.StandingDemands(c, rest.Principal(c), page(p))
	})
}

func (m *Module) createStanding(c *gin.Context) {
	var req matching.NewStandingDemand
	if err := rest.Bind(c, &req); err != nil {
		rest.Problem(c, err)
		return
	}
	sd, err := m.d.Store.CreateStandingDemand(c, rest.Principal(c), req)
	if err == nil {
		c.Header("Location", fmt.Sprintf("/api/v1/standing-demands/%d", sd.ID))
	}
	rest.Reply(c, http.StatusCreated, sd, err)
}

func (m *Module) getStanding(c *gin.Context) {
	rest.WithID(c, func(id int64) {
		doc, err := m.d.Store.StandingDemand(c, rest.Principal(c), id)
		rest.Reply(c, http.StatusOK, doc, err)
	})
}

func (m *Module) updateStanding(c *gin.Context) {
	rest.WithID(c, func(id int64) {
		var req matching.StandingDemandUpdate
		if err := rest.Bind(c, &req); err != nil {
			rest.Problem(c, err)
			return
		}
		doc, err := m.d.Store.UpdateStandingDemand(c, rest.Principal(c), id, req)
		rest.Reply(c, http.StatusOK, doc, err)
	})
}

// deleteStanding really deletes (204): the demands it made stay in their rounds, no longer linked to it.
func (m *Module) deleteStanding(c *gin.Context) {
	rest.WithID(c, func(id int64) {
		if err := m.d.Store.DeleteStandingDemand(c, rest.Principal(c), id); err != nil {
			rest.Problem(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	})
}

// pauseStanding is a route of its own (StandingDemandUpdate has no paused field); pausing twice is harmless.
func (m *Module) pauseStanding(paused bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		rest.WithID(c, func(id int64) {
			doc, err := m.d.Store.PauseStandingDemand(c, rest.Principal(c), id, paused)
			rest.Reply(c, http.StatusOK, doc, err)
		})
	}
}
