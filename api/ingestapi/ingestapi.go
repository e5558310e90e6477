// Package ingestapi is the HTTP side of cold-chain ingest: the registry of gateways (with their MQTT
// credentials, shown once), assets and sensors; an asset's readings, downsampled in InfluxDB; alarms and their
// acknowledgement; the dead letter. It translates HTTP to calls of package ingest and holds no rules.
//
// Who may do what: admins and coordinators manage the registry, see and acknowledge alarms and read the dead
// letter; bases and buyers may look at the assets that carried their lots, and at their readings for the
// periods in which they did (to follow their shipments; ingest.Fleet holds the rule); gateway keys may do none
// of this.
package ingestapi

import (
	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/ingest"
)

// Module serves the ingest routes; every rule of who may do what is ingest.Service's.
type Module struct {
	s          *ingest.Service
	hookSecret string
}

// New returns the module. hookSecret is what an external broker sends to ask about clients (brokerhook.go);
// empty turns that hook off.
func New(s *ingest.Service, hookSecret string) *Module { return &Module{s: s, hookSecret: hookSecret} }

// Routes registers the routes under /api/v1, and the broker's hook, which the broker's secret authenticates
// rather than an API key. The resource names are DESIGN.md "HTTP contract"'s (gateways, assets, sensors,
// assets/{id}/readings, alarms + /{id}/ack); the hook serves "Past one machine": an external broker takes its
// gateways' credentials and ACLs from the registry.
func (m *Module) Routes(v1 *gin.RouterGroup, root *gin.Engine) {
	hook := root.Group("/api/v1/mqtt", m.brokerOnly)
	hook.POST("/auth", m.brokerAuth)
	hook.POST("/acl", m.brokerACL)

	v1.GET("/gateways", m.listGateways)
	v1.POST("/gateways", m.createGateway)
	v1.GET("/gateways/:id", m.getGateway)
	v1.PATCH("/gateways/:id", m.updateGateway)
	v1.DELETE("/gateways/:id", m.deleteGateway)
	v1.POST("/gateways/:id/credentials", m.resetCredentials)

	v1.GET("/assets", m.listAssets)
	v1.POST("/assets", m.createAsset)
	v1.GET("/assets/:id", m.getAsset)
	v1.PATCH("/assets/:id", m.updateAsset)
	v1.DELETE("/assets/:id", m.deleteAsset)
	v1.GET("/assets/:id/readings", m.readings)

	v1.GET("/sensors", m.listSensors)
	v1.POST("/sensors", m.createSensor)
	v1.GET("/sensors/:id", m.getSensor)
	v1.PATCH("/sensors/:id", m.updateSensor)
	v1.DELETE("/sensors/:id", m.deleteSensor)

	v1.GET("/alarms", m.listAlarms)
	v1.GET("/alarms/:id", m.getAlarm)
	v1.POST("/alarms/:id/ack", m.ackAlarm)

	v1.GET("/dead-letters", m.listDeadLetters)
}

// list answers a list request: the page asked for, from fn.
func list[T any](c *gin.Context, fn func(ingest.Page) ([]T, int, error)) {
	rest.ListPage(c, fn)
}
