package ingestapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/ingest"
)

// Credentials tell a gateway how to connect; the password is never shown again (only its hash is kept). The
// username is the gateway's id, and the topics carry it, because the broker's ACL ties a gateway to its own
// topics (DESIGN.md "MQTT contract": a gateway may publish only for its own sensors).
type Credentials struct {
	Username      string `json:"username"`
	Password      string `json:"password"`
	ReadingsTopic string `json:"readings_topic"`
	StatusTopic   string `json:"status_topic"`
	CommandsTopic string `json:"commands_topic"`
}

func credentials(id, pw string) Credentials {
	return Credentials{Username: id, Password: pw, ReadingsTopic: ingest.TopicReadings + id, StatusTopic: ingest.TopicStatus + id,
		CommandsTopic: ingest.TopicCommands + id}
}

// GatewayWithCredentials is the answer to a gateway's creation.
type GatewayWithCredentials struct {
	Gateway ingest.Gateway `json:"gateway"`
	MQTT    Credentials    `json:"mqtt"`
}

func (m *Module) listGateways(c *gin.Context) {
	list(c, func(p ingest.Page) ([]ingest.Gateway, int, error) { return m.s.Gateways(c, rest.Principal(c), p) })
}

func (m *Module) createGateway(c *gin.Context) {
	var req ingest.NewGateway
	if err := rest.Bind(c, &req); err != nil {
		rest.Problem(c, err)
		return
	}
	g, pw, err := m.s.CreateGateway(c, rest.Principal(c), req)
	c.Header("Cache-Control", "no-store") // the answer holds a password: no browser or proxy may keep it
	rest.Reply(c, http.StatusCreated, GatewayWithCredentials{Gateway: g, MQTT: credentials(g.ID, pw)}, err)
}

func (m *Module) getGateway(c *gin.Context) {
	g, err := m.s.Gateway(c, rest.Principal(c), c.Param("id"))
	rest.Reply(c, http.StatusOK, g, err)
}

func (m *Module) updateGateway(c *gin.Context) {
	var req ingest.GatewayUpdate
	if err := rest.Bind(c, &req); err != nil {
		rest.Problem(c, err)
		return
	}
	g, err := m.s.UpdateGateway(c, rest.Principal(c), c.Param("id"), req)
	rest.Reply(c, http.StatusOK, g, err)
}

func (m *Module) deleteGateway(c *gin.Context) {
	if err := m.s.DeleteGateway(c, rest.Principal(c), c.Param("id")); err != nil {
		rest.Problem(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// resetCredentials is how a lost password is replaced, since it cannot be shown again; the gateway's live
// sessions end at once.
func (m *Module) resetCredentials(c *gin.Context) {
	id := c.Param("id")
	pw, err := m.s.ResetCredentials(c, rest.Principal(c), id)
	c.Header("Cache-Control", "no-store")
	rest.Reply(c, http.StatusOK, credentials(id, pw), err)
}
