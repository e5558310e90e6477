// Package notifyapi is the HTTP side of notifications: the notification-channels and notification-rules
// resources of an organisation, and the delivery log. It translates HTTP to calls of package notify, which
// decides who may do what: admins and coordinators manage every organisation's notifications, carriers, bases
// and buyers their own, gateway keys none. Channel secrets and robot URLs are never in an answer.
package notifyapi

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/notify"
)

// Module serves the notification routes.
type Module struct{ s *notify.Service }

// New returns the module.
func New(s *notify.Service) *Module { return &Module{s: s} }

// owners are the roles that own alarms worth hearing about (their assets' or their lots'). Gateway keys are
// left out: a key stored on a truck must not be able to redirect where alarms go.
var owners = rest.RequireRole(auth.RoleAdmin, auth.RoleCoordinator, auth.RoleCarrier, auth.RoleBase, auth.RoleBuyer)

// Routes registers the routes under /api/v1: notification-channels and notification-rules are DESIGN.md "People
// act on the cold chain"'s names; the delivery log is ours, the record that each alarm reached someone.
func (m *Module) Routes(v1 *gin.RouterGroup, _ *gin.Engine) {
	g := v1.Group("", owners)
	g.GET("/notification-channels", m.listChannels)
	g.POST("/notification-channels", m.createChannel)
	g.GET("/notification-channels/:id", m.getChannel)
	g.PATCH("/notification-channels/:id", m.updateChannel)
	g.DELETE("/notification-channels/:id", m.deleteChannel)

	g.GET("/notification-rules", m.listRules)
	g.POST("/notification-rules", m.createRule)
	g.GET("/notification-rules/:id", m.getRule)
	g.PATCH("/notification-rules/:id", m.updateRule)
	g.DELETE("/notification-rules/:id", m.deleteRule)

	g.GET("/notification-deliveries", m.listDeliveries)
	g.GET("/notification-deliveries/:id/attempts", m.attempts)
}

// orgFilter reads ?org_id= (admins and coordinators: one organisation's records; others see only theirs).
// notify.Service ignores it for everyone else rather than refusing it, so a client written against a staff
// key works unchanged with its own organisation's key.
func orgFilter(c *gin.Context) (int64, bool) {
	s := c.Query("org_id")
	if s == "" {
		return 0, true
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		rest.Problem(c, rest.BadQuery("org_id", "must be an organisation id"))
		return 0, false
	}
	return id, true
}

func (m *Module) listChannels(c *gin.Context) {
	org, ok := orgFilter(c)
	if !ok {
		return
	}
	rest.ListPage(c, func(p rest.PageReq) ([]notify.Channel, int, error) {
		return m.s.Channels(c.Request.Context(), rest.Principal(c), org, p)
	})
}

// ChannelCreated is the answer to a channel's creation: the channel, and the webhook secret the platform chose
// when none was given (shown this once). The receiver needs it to check X-Suilong-Signature; later answers
// leave it out (secret_set says one exists), so whoever can read channels cannot forge signed alarms.
type ChannelCreated struct {
	Channel notify.Channel `json:"channel"`
	Secret  string         `json:"secret,omitempty"`
}

func (m *Module) createChannel(c *gin.Context) {
	var in notify.ChannelInput
	if err := rest.Bind(c, &in); err != nil {
		rest.Problem(c, err)
		return
	}
	ch, secret, err := m.s.CreateChannel(c.Request.Context(), rest.Principal(c), in)
	rest.Reply(c, http.StatusCreated, ChannelCreated{Channel: ch, Secret: secret}, err)
}

func (m *Module) getChannel(c *gin.Context) {
	rest.WithID(c, func(id int64) {
		ch, err := m.s.Channel(c.Request.Context(), rest.Principal(c), id)
		rest.Reply(c, http.StatusOK, ch, err)
	})
}

func (m *Module) updateChannel(c *gin.Context) {
	rest.WithID(c, func(id int64) {
		var in notify.ChannelInput
		if err := rest.Bind(c, &in); err != nil {
			rest.Problem(c, err)
			return
		}
		ch, err := m.s.UpdateChannel(c.Request.Context(), rest.Principal(c), id, in)
		rest.Reply(c, http.StatusOK, ch, err)
	})
}

func (m *Module) deleteChannel(c *gin.Context) {
	rest.WithID(c, func(id int64) {
		if err := m.s.DeleteChannel(c.Request.Context(), rest.Principal(c), id); err != nil {
			rest.Problem(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	})
}

func (m *Module) listRules(c *gin.Context) {
	org, ok := orgFilter(c)
	if !ok {
		return
	}
	rest.ListPage(c, func(p rest.PageReq) ([]notify.Rule, int, error) {
		return m.s.Rules(c.Request.Context(), rest.Principal(c), org, p)
	})
}

func (m *Module) createRule(c *gin.Context) {
	var in notify.RuleInput
	if err := rest.Bind(c, &in); err != nil {
		rest.Problem(c, err)
		return
	}
	r, err := m.s.CreateRule(c.Request.Context(), rest.Principal(c), in)
	rest.Reply(c, http.StatusCreated, r, err)
}

func (m *Module) getRule(c *gin.Context) {
	rest.WithID(c, func(id int64) {
		r, err := m.s.Rule(c.Request.Context(), rest.Principal(c), id)
		rest.Reply(c, http.StatusOK, r, err)
	})
}

func (m *Module) updateRule(c *gin.Context) {
	rest.WithID(c, func(id int64) {
		var in notify.RuleInput
		if err := rest.Bind(c, &in); err != nil {
			rest.Problem(c, err)
			return
		}
		r, err := m.s.UpdateRule(c.Request.Context(), rest.Principal(c), id, in)
		rest.Reply(c, http.StatusOK, r, err)
	})
}

func (m *Module) deleteRule(c *gin.Context) {
	rest.WithID(c, func(id int64) {
		if err := m.s.DeleteRule(c.Request.Context(), rest.Principal(c), id); err != nil {
			rest.Problem(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	})
}

func (m *Module) listDeliveries(c *gin.Context) {
	var f notify.DeliveryFilter
	for name, dst := range map[string]*int64{"channel_id": &f.ChannelID} {
		if s := c.Query(name); s != "" {
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil || v <= 0 {
				rest.Problem(c, rest.BadQuery(name, "must be a positive integer"))
				return
			}
			*dst = v
		}
	}
	if s := c.Query("alarm_id"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v <= 0 {
			rest.Problem(c, rest.BadQuery("alarm_id", "must be a positive integer"))
			return
		}
		f.AlarmIDs = []int64{v}
	}
	f.Status = c.Query("status") // checked by notify, which names the statuses it knows
	rest.ListPage(c, func(p rest.PageReq) ([]notify.Delivery, int, error) {
		return m.s.Deliveries(c.Request.Context(), rest.Principal(c), f, p)
	})
}

// attempts answers with the whole list in an items envelope: a delivery is tried a bounded number of times
// (notify's MaxAttempts), and someone debugging a webhook wants every attempt's status and error at once.
func (m *Module) attempts(c *gin.Context) {
	rest.WithID(c, func(id int64) {
		a, err := m.s.Attempts(c.Request.Context(), rest.Principal(c), id)
		rest.Reply(c, http.StatusOK, gin.H{"items": a}, err)
	})
}
