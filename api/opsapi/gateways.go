package opsapi

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/api/web"
	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/internal/pg"
	"github.com/suilong/suilong/notify"
)

// deadView is the dead letter summed by reason and gateway: a gateway's owner needs to know what to fix
// (ingest.AdviceFor says how), not to read every rejected message.
type deadView struct {
	web.Page
	Since  string
	Groups []ingest.DeadLetterGroup
	Total  int
}

// sinces are the windows the page offers, a fixed set so that no URL asks to sum the dead letter of all time.
var sinces = map[string]time.Duration{"24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour}

func (m *Module) deadLettersPage(c *gin.Context) {
	since := c.DefaultQuery("since", "24h")
	d, ok := sinces[since]
	if !ok {
		since, d = "24h", sinces["24h"]
	}
	groups, err := m.d.Console.DeadLetterGroups(c.Request.Context(), rest.Principal(c), m.d.Now().Add(-d))
	if err != nil {
		m.fail(c, err)
		return
	}
	v := deadView{Page: m.page(c, "异常数据 Dead letters", "dead"), Since: since, Groups: groups}
	for _, g := range groups {
		v.Total += g.Count
	}
	m.pages.Render(c, http.StatusOK, "ops-dead", v)
}

type gatewaysView struct {
	web.Page
	Gateways []ingest.GatewayStatus
	// Reset is the gateway whose new credentials this answer shows, once.
	Reset    string
	Password string
	// Topics are the reset gateway's MQTT topics, beside its new password, so the person configuring the
	// device has everything it needs on one screen.
	Topics [3]string
}

func (m *Module) gatewaysPage(c *gin.Context) { m.gateways(c, "", "") }

func (m *Module) gateways(c *gin.Context, reset, pw string) {
	gws, err := m.d.Console.Gateways(c.Request.Context(), rest.Principal(c))
	if err != nil {
		m.fail(c, err)
		return
	}
	v := gatewaysView{Page: m.page(c, "网关 Gateways", "gateways"), Gateways: gws, Reset: reset, Password: pw,
		Topics: [3]string{ingest.TopicReadings + reset, ingest.TopicStatus + reset, ingest.TopicCommands + reset}}
	m.pages.Render(c, http.StatusOK, "ops-gateways", v)
}

// resetSubmit gives the gateway a new MQTT password and shows it on the answer only (never stored in clear,
// never shown again); the broker drops the gateway's connection made with the old one.
//
// The answer is the page itself, not a redirect: the password must not travel in a URL or be kept for a later
// request. Posting again makes another password, which is what pressing the button means.
func (m *Module) resetSubmit(c *gin.Context) {
	id := c.Param("id")
	pw, err := m.d.Console.ResetGateway(c.Request.Context(), rest.Principal(c), id)
	if err != nil {
		m.fail(c, err)
		return
	}
	// Logged with who did it (never the password): a reset cuts the gateway off until it is reconfigured.
	m.d.Site.Log().Info("ops: gateway credentials reset", "gateway", id, "by", rest.Principal(c).Actor())
	m.gateways(c, id, pw)
}

type channelsView struct {
	web.Page
	Channels []notify.Channel
	Rules    []notify.Rule
	Names    map[int64]string
	RuleName map[int64]string
}

func (m *Module) channelsPage(c *gin.Context) {
	ctx, p := c.Request.Context(), rest.Principal(c)
	v := channelsView{Page: m.page(c, "通知 Notifications", "channels"), Names: map[int64]string{}, RuleName: map[int64]string{}}
	if m.d.Notify != nil {
		var err error
		// One page of 500: an organisation keeps a few channels and rules, and the API pages them for the
		// rest (notification-channels, notification-rules).
		if v.Channels, _, err = m.d.Notify.Channels(ctx, p, 0, pg.Page{Limit: 500}); err != nil {
			m.fail(c, err)
			return
		}
		if v.Rules, _, err = m.d.Notify.Rules(ctx, p, 0, pg.Page{Limit: 500}); err != nil {
			m.fail(c, err)
			return
		}
	}
	for _, ch := range v.Channels {
		v.Names[ch.ID] = ch.Name
	}
	for _, r := range v.Rules {
		name := r.Name
		if name == "" {
			name = "#" + itoa(r.ID) // rules need no name, but an escalation must point at something readable
		}
		v.RuleName[r.ID] = name
	}
	m.pages.Render(c, http.StatusOK, "ops-channels", v)
}
