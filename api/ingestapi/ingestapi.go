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
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/ingest/rules"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/coldchain"
)

// Deps are the module's collaborators. Publisher, SensorChanged and GatewayChanged may be nil.
type Deps struct {
	Store    *ingest.Store
	Readings ingest.Readings
	// Fleet decides who sees which assets and readings; nil: staff see everything, bases and buyers nothing.
	Fleet *ingest.Fleet
	// Publisher sends a gateway its configuration on coldchain/v1/commands/{id} and alarm changes on
	// coldchain/v1/alarms/{asset_id}.
	Publisher ingest.Publisher
	// SensorChanged and GatewayChanged tell a running ingest that the registry changed (cache, credentials).
	SensorChanged  func(id string)
	GatewayChanged func(id string)
	Now            func() time.Time
}

// Module serves the ingest routes.
type Module struct{ d Deps }

// New returns the module.
func New(d Deps) *Module {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Fleet == nil {
		d.Fleet = ingest.NewFleet(d.Store, d.Readings, nil)
		d.Fleet.Now = d.Now
	}
	return &Module{d: d}
}

var (
	staff   = rest.RequireRole(auth.RoleAdmin, auth.RoleCoordinator)
	viewers = rest.RequireRole(auth.RoleAdmin, auth.RoleCoordinator, auth.RoleBase, auth.RoleBuyer)
)

// Routes registers the routes under /api/v1.
func (m *Module) Routes(v1 *gin.RouterGroup, _ *gin.Engine) {
	v1.GET("/gateways", staff, m.listGateways)
	v1.POST("/gateways", staff, m.createGateway)
	v1.GET("/gateways/:id", staff, m.getGateway)
	v1.PATCH("/gateways/:id", staff, m.updateGateway)
	v1.DELETE("/gateways/:id", staff, m.deleteGateway)
	v1.POST("/gateways/:id/credentials", staff, m.resetCredentials)

	v1.GET("/assets", viewers, m.listAssets)
	v1.POST("/assets", staff, m.createAsset)
	v1.GET("/assets/:id", viewers, m.getAsset)
	v1.PATCH("/assets/:id", staff, m.updateAsset)
	v1.DELETE("/assets/:id", staff, m.deleteAsset)
	v1.GET("/assets/:id/readings", viewers, m.readings)

	v1.GET("/sensors", staff, m.listSensors)
	v1.POST("/sensors", staff, m.createSensor)
	v1.GET("/sensors/:id", staff, m.getSensor)
	v1.PATCH("/sensors/:id", staff, m.updateSensor)
	v1.DELETE("/sensors/:id", staff, m.deleteSensor)

	v1.GET("/alarms", staff, m.listAlarms)
	v1.GET("/alarms/:id", staff, m.getAlarm)
	v1.POST("/alarms/:id/ack", staff, m.ackAlarm)

	v1.GET("/dead-letters", staff, m.listDeadLetters)
}

func page(c *gin.Context) (rest.PageReq, ingest.Page, bool) {
	p, err := rest.Page(c)
	if err != nil {
		rest.Problem(c, err)
		return p, ingest.Page{}, false
	}
	return p, ingest.Page{Limit: p.Limit, Offset: p.Offset}, true
}

// --- gateways

// Credentials tell a gateway how to connect; the password is never shown again.
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

type createGatewayReq struct {
	ID                string `json:"id"`
	Name              string `json:"name"`
	SamplingIntervalS int    `json:"sampling_interval_s"`
}

// GatewayWithCredentials is the answer to a gateway's creation.
type GatewayWithCredentials struct {
	Gateway ingest.Gateway `json:"gateway"`
	MQTT    Credentials    `json:"mqtt"`
}

func (m *Module) listGateways(c *gin.Context) {
	rp, p, ok := page(c)
	if !ok {
		return
	}
	items, total, err := m.d.Store.Gateways(c, p)
	if err != nil {
		rest.Problem(c, err)
		return
	}
	rest.List(c, items, total, rp)
}

func (m *Module) createGateway(c *gin.Context) {
	var req createGatewayReq
	if err := rest.Bind(c, &req); err != nil {
		rest.Problem(c, err)
		return
	}
	org := rest.Principal(c).OrgID
	g, pw, err := m.d.Store.CreateGateway(c, ingest.Gateway{ID: req.ID, Name: req.Name, SamplingIntervalS: req.SamplingIntervalS, OrgID: &org}, false)
	if err != nil {
		rest.Problem(c, err)
		return
	}
	m.gatewayChanged(g.ID)
	m.pushConfig(c, g)
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, GatewayWithCredentials{Gateway: g, MQTT: credentials(g.ID, pw)})
}

func (m *Module) getGateway(c *gin.Context) {
	g, err := m.d.Store.Gateway(c, c.Param("id"))
	if err != nil {
		rest.Problem(c, err)
		return
	}
	c.JSON(http.StatusOK, g)
}

func (m *Module) updateGateway(c *gin.Context) {
	var req ingest.GatewayUpdate
	if err := rest.Bind(c, &req); err != nil {
		rest.Problem(c, err)
		return
	}
	g, err := m.d.Store.UpdateGateway(c, c.Param("id"), req)
	if err != nil {
		rest.Problem(c, err)
		return
	}
	if req.SamplingIntervalS != nil {
		m.pushConfig(c, g)
	}
	c.JSON(http.StatusOK, g)
}

// pushConfig publishes the gateway's configuration, retained, so it gets it whenever it (re)connects.
func (m *Module) pushConfig(ctx context.Context, g ingest.Gateway) {
	if m.d.Publisher == nil {
		return
	}
	b, _ := json.Marshal(map[string]any{"sampling_interval_s": g.SamplingIntervalS, "ts": m.d.Now().UTC().Format(time.RFC3339)})
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	_ = m.d.Publisher.Publish(pctx, ingest.TopicCommands+g.ID, b, 1, true)
}

func (m *Module) deleteGateway(c *gin.Context) {
	if err := m.d.Store.DeleteGateway(c, c.Param("id")); err != nil {
		rest.Problem(c, err)
		return
	}
	m.gatewayChanged(c.Param("id"))
	c.Status(http.StatusNoContent)
}

func (m *Module) resetCredentials(c *gin.Context) {
	id := c.Param("id")
	pw, err := m.d.Store.ResetGatewayPassword(c, id)
	if err != nil {
		rest.Problem(c, err)
		return
	}
	m.gatewayChanged(id)
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, credentials(id, pw))
}

func (m *Module) gatewayChanged(id string) {
	if m.d.GatewayChanged != nil {
		m.d.GatewayChanged(id)
	}
}

// --- assets

type assetReq struct {
	ID      string           `json:"id"`
	Kind    ingest.AssetKind `json:"kind"`
	Name    string           `json:"name"`
	City    string           `json:"city"`
	Band    ingest.Band      `json:"band"`
	Product string           `json:"product"`
}

func (m *Module) listAssets(c *gin.Context) {
	rp, p, ok := page(c)
	if !ok {
		return
	}
	kind := ingest.AssetKind(c.Query("kind"))
	if kind != "" && kind != ingest.KindTruck && kind != ingest.KindColdStore {
		rest.Problem(c, rest.BadQuery("kind", "must be truck or cold_store"))
		return
	}
	items, total, err := m.d.Fleet.Assets(c, rest.Principal(c), ingest.AssetFilter{Kind: kind, City: c.Query("city")}, p)
	if err != nil {
		rest.Problem(c, err)
		return
	}
	rest.List(c, items, total, rp)
}

func (m *Module) createAsset(c *gin.Context) {
	var req assetReq
	if err := rest.Bind(c, &req); err != nil {
		rest.Problem(c, err)
		return
	}
	org := rest.Principal(c).OrgID
	a, err := m.d.Store.CreateAsset(c, ingest.Asset{ID: req.ID, Kind: req.Kind, Name: req.Name, City: req.City, Band: req.Band,
		Product: req.Product, OrgID: &org})
	if err != nil {
		rest.Problem(c, err)
		return
	}
	c.JSON(http.StatusCreated, a)
}

func (m *Module) getAsset(c *gin.Context) {
	a, err := m.d.Fleet.Asset(c, rest.Principal(c), c.Param("id"))
	if err != nil {
		rest.Problem(c, err)
		return
	}
	c.JSON(http.StatusOK, a)
}

func (m *Module) updateAsset(c *gin.Context) {
	var req ingest.AssetUpdate
	if err := rest.Bind(c, &req); err != nil {
		rest.Problem(c, err)
		return
	}
	a, err := m.d.Store.UpdateAsset(c, c.Param("id"), req)
	if err != nil {
		rest.Problem(c, err)
		return
	}
	m.sensorsOfAssetChanged(c, a.ID)
	c.JSON(http.StatusOK, a)
}

func (m *Module) deleteAsset(c *gin.Context) {
	if err := m.d.Store.DeleteAsset(c, c.Param("id")); err != nil {
		rest.Problem(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// sensorsOfAssetChanged makes ingest re-read the placement (band) of the asset's sensors.
func (m *Module) sensorsOfAssetChanged(ctx context.Context, assetID string) {
	if m.d.SensorChanged == nil {
		return
	}
	xs, _, err := m.d.Store.Sensors(ctx, ingest.SensorFilter{AssetID: assetID}, ingest.Page{Limit: 500})
	if err != nil {
		return
	}
	for _, x := range xs {
		m.d.SensorChanged(x.ID)
	}
}

// Readings is the answer of GET /assets/{id}/readings.
type Readings struct {
	AssetID  string      `json:"asset_id"`
	SensorID string      `json:"sensor_id,omitempty"`
	From     time.Time   `json:"from"`
	To       time.Time   `json:"to"`
	Every    string      `json:"every"`
	EveryS   float64     `json:"every_s"`
	Band     ingest.Band `json:"band"`
	// Periods are the parts of [from, to) that the points summarise (ingest.AssetSeries).
	Periods []ingest.Span `json:"periods"`
	Points  []Point       `json:"points"`
}

// Point is one window of a readings answer.
type Point struct {
	Time  time.Time `json:"time"` // start of the window
	MinC  float64   `json:"min_c"`
	MeanC float64   `json:"mean_c"`
	MaxC  float64   `json:"max_c"`
	Count int       `json:"count"` // readings in the window
}

// parseEvery accepts Go durations ("30s", "5m", "1h") and days ("1d").
func parseEvery(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n <= 0 {
			return 0, rest.BadQuery("every", "must be a duration such as 30s, 5m, 1h or 1d")
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		return 0, rest.BadQuery("every", "must be a duration such as 30s, 5m, 1h or 1d")
	}
	return v, nil
}

func (m *Module) readings(c *gin.Context) {
	q := ingest.ReadingsQuery{SensorID: c.Query("sensor_id")}
	var err error
	if q.From, err = rest.QueryTime(c, "from"); err != nil {
		rest.Problem(c, err)
		return
	}
	if q.To, err = rest.QueryTime(c, "to"); err != nil {
		rest.Problem(c, err)
		return
	}
	if s := c.Query("every"); s != "" {
		if q.Every, err = parseEvery(s); err != nil {
			rest.Problem(c, err)
			return
		}
	}
	r, err := m.d.Fleet.AssetReadings(c, rest.Principal(c), c.Param("id"), q)
	if err != nil {
		rest.Problem(c, err)
		return
	}
	c.JSON(http.StatusOK, Readings{AssetID: r.Asset.ID, SensorID: r.SensorID, From: r.From.UTC(), To: r.To.UTC(), Every: r.Every.String(),
		EveryS: r.Every.Seconds(), Band: r.Asset.Band, Periods: r.Periods, Points: points(r.Points)})
}

func points(ws []coldchain.Window) []Point {
	out := make([]Point, len(ws))
	for i, w := range ws {
		out[i] = Point{Time: w.Start, MinC: w.MinC, MeanC: w.MeanC, MaxC: w.MaxC, Count: w.Count}
	}
	return out
}

// --- sensors

type sensorReq struct {
	ID        string `json:"id"`
	GatewayID string `json:"gateway_id"`
	AssetID   string `json:"asset_id"`
	Name      string `json:"name"`
}

func (m *Module) listSensors(c *gin.Context) {
	rp, p, ok := page(c)
	if !ok {
		return
	}
	items, total, err := m.d.Store.Sensors(c, ingest.SensorFilter{AssetID: c.Query("asset_id"), GatewayID: c.Query("gateway_id")}, p)
	if err != nil {
		rest.Problem(c, err)
		return
	}
	rest.List(c, items, total, rp)
}

func (m *Module) createSensor(c *gin.Context) {
	var req sensorReq
	if err := rest.Bind(c, &req); err != nil {
		rest.Problem(c, err)
		return
	}
	x, err := m.d.Store.CreateSensor(c, ingest.Sensor{ID: req.ID, GatewayID: req.GatewayID, AssetID: req.AssetID, Name: req.Name})
	if err != nil {
		rest.Problem(c, err)
		return
	}
	m.sensorChanged(x.ID)
	c.JSON(http.StatusCreated, x)
}

func (m *Module) getSensor(c *gin.Context) {
	x, err := m.d.Store.Sensor(c, c.Param("id"))
	if err != nil {
		rest.Problem(c, err)
		return
	}
	c.JSON(http.StatusOK, x)
}

func (m *Module) updateSensor(c *gin.Context) {
	var req ingest.SensorUpdate
	if err := rest.Bind(c, &req); err != nil {
		rest.Problem(c, err)
		return
	}
	x, err := m.d.Store.UpdateSensor(c, c.Param("id"), req)
	if err != nil {
		rest.Problem(c, err)
		return
	}
	m.sensorChanged(x.ID)
	c.JSON(http.StatusOK, x)
}

func (m *Module) deleteSensor(c *gin.Context) {
	if err := m.d.Store.DeleteSensor(c, c.Param("id")); err != nil {
		rest.Problem(c, err)
		return
	}
	m.sensorChanged(c.Param("id"))
	c.Status(http.StatusNoContent)
}

func (m *Module) sensorChanged(id string) {
	if m.d.SensorChanged != nil {
		m.d.SensorChanged(id)
	}
}

// --- alarms

var alarmStatuses = []string{ingest.StatusOpen, ingest.StatusAcknowledged, ingest.StatusClosed, ingest.StatusWithdrawn}

func (m *Module) listAlarms(c *gin.Context) {
	rp, p, ok := page(c)
	if !ok {
		return
	}
	f := ingest.AlarmFilter{AssetID: c.Query("asset_id"), SensorID: c.Query("sensor_id"), Kind: rules.Kind(c.Query("kind"))}
	switch f.Kind {
	case "", rules.Excursion, rules.DoorOpen, rules.Silent:
	default:
		rest.Problem(c, rest.BadQuery("kind", "must be excursion, door_open or sensor_silent"))
		return
	}
	if s := c.Query("status"); s != "" {
		for _, st := range strings.Split(s, ",") {
			if st == "active" { // shorthand for what still needs someone: open or acknowledged
				f.Status = append(f.Status, ingest.StatusOpen, ingest.StatusAcknowledged)
				continue
			}
			valid := false
			for _, v := range alarmStatuses {
				valid = valid || v == st
			}
			if !valid {
				rest.Problem(c, rest.BadQuery("status", "must be open, acknowledged, closed, withdrawn or active (comma-separated)"))
				return
			}
			f.Status = append(f.Status, st)
		}
	}
	var err error
	if f.From, err = rest.QueryTime(c, "from"); err != nil {
		rest.Problem(c, err)
		return
	}
	if f.To, err = rest.QueryTime(c, "to"); err != nil {
		rest.Problem(c, err)
		return
	}
	items, total, err := m.d.Store.Alarms(c, f, p)
	if err != nil {
		rest.Problem(c, err)
		return
	}
	rest.List(c, items, total, rp)
}

func (m *Module) getAlarm(c *gin.Context) {
	id, err := rest.ID(c, "id")
	if err != nil {
		rest.Problem(c, err)
		return
	}
	a, err := m.d.Store.Alarm(c, id)
	if err != nil {
		rest.Problem(c, err)
		return
	}
	c.JSON(http.StatusOK, a)
}

type ackReq struct {
	Comment string `json:"comment"`
}

func (m *Module) ackAlarm(c *gin.Context) {
	id, err := rest.ID(c, "id")
	if err != nil {
		rest.Problem(c, err)
		return
	}
	var req ackReq
	if c.Request.ContentLength != 0 {
		if err := rest.Bind(c, &req); err != nil {
			rest.Problem(c, err)
			return
		}
	}
	a, err := m.d.Store.AckAlarm(c, id, rest.Principal(c).Actor(), req.Comment)
	if err != nil {
		rest.Problem(c, err)
		return
	}
	if m.d.Publisher != nil {
		b, _ := json.Marshal(a)
		pctx, cancel := context.WithTimeout(c, 3*time.Second)
		_ = m.d.Publisher.Publish(pctx, ingest.TopicAlarms+a.AssetID, b, 1, false)
		cancel()
	}
	c.JSON(http.StatusOK, a)
}

// --- dead letter

func (m *Module) listDeadLetters(c *gin.Context) {
	rp, p, ok := page(c)
	if !ok {
		return
	}
	f := ingest.DeadLetterFilter{GatewayID: c.Query("gateway_id"), Reason: ingest.Reason(c.Query("reason"))}
	if f.Reason != "" {
		valid := false
		for _, r := range ingest.Reasons {
			valid = valid || r == f.Reason
		}
		if !valid {
			names := make([]string, len(ingest.Reasons))
			for i, r := range ingest.Reasons {
				names[i] = string(r)
			}
			rest.Problem(c, rest.BadQuery("reason", "must be one of "+strings.Join(names, ", ")))
			return
		}
	}
	var err error
	if f.From, err = rest.QueryTime(c, "from"); err != nil {
		rest.Problem(c, err)
		return
	}
	if f.To, err = rest.QueryTime(c, "to"); err != nil {
		rest.Problem(c, err)
		return
	}
	items, total, err := m.d.Store.DeadLetters(c, f, p)
	if err != nil {
		rest.Problem(c, err)
		return
	}
	rest.List(c, items, total, rp)
}
