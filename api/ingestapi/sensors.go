package ingestapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/ingest"
)

// sensorReq is what a client may set on a new sensor; the creation time is the platform's.
type sensorReq struct {
	ID        string `json:"id"`
	GatewayID string `json:"gateway_id"`
	AssetID   string `json:"asset_id"`
	Name      string `json:"name"`
}

func (m *Module) listSensors(c *gin.Context) {
	list(c, func(p ingest.Page) ([]ingest.Sensor, int, error) {
		return m.s.Sensors(c, rest.Principal(c), ingest.SensorFilter{AssetID: c.Query("asset_id"), GatewayID: c.Query("gateway_id")}, p)
	})
}

func (m *Module) createSensor(c *gin.Context) {
	var req sensorReq
	if err := rest.Bind(c, &req); err != nil {
		rest.Problem(c, err)
		return
	}
	x, err := m.s.CreateSensor(c, rest.Principal(c), ingest.Sensor{ID: req.ID, GatewayID: req.GatewayID, AssetID: req.AssetID, Name: req.Name})
	rest.Reply(c, http.StatusCreated, x, err)
}

func (m *Module) getSensor(c *gin.Context) {
	x, err := m.s.Sensor(c, rest.Principal(c), c.Param("id"))
	rest.Reply(c, http.StatusOK, x, err)
}

func (m *Module) updateSensor(c *gin.Context) {
	var req ingest.SensorUpdate
	if err := rest.Bind(c, &req); err != nil {
		rest.Problem(c, err)
		return
	}
	x, err := m.s.UpdateSensor(c, rest.Principal(c), c.Param("id"), req)
	rest.Reply(c, http.StatusOK, x, err)
}

func (m *Module) deleteSensor(c *gin.Context) {
	if err := m.s.DeleteSensor(c, rest.Principal(c), c.Param("id")); err != nil {
		rest.Problem(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
