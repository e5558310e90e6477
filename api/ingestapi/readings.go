package ingestapi

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/internal/coldchain"
)

// Readings is the answer of GET /assets/{id}/readings.
type Readings struct {
	AssetID  string      `json:"asset_id"`
	SensorID string      `json:"sensor_id,omitempty"`
	From     time.Time   `json:"from"`
	To       time.Time   `json:"to"`
	Every    string      `json:"every"`
	EveryS   float64     `json:"every_s"` // every in seconds, for clients that cannot parse Go durations
	Band     ingest.Band `json:"band"`    // so a client draws the allowed range without a second request
	// Periods are the parts of [from, to) that the points summarise (ingest.AssetSeries): for a base or a buyer
	// only when the asset carried their lots, since they follow their shipment, not the truck's other loads.
	Periods []ingest.Span `json:"periods"`
	Points  []Point       `json:"points"`
}

// Point is one window of a readings answer.
type Point struct {
	Time  time.Time `json:"time"` // start of the window
	MinC  float64   `json:"min_c"`
	MeanC float64   `json:"mean_c"`
	MaxC  float64   `json:"max_c"`
	Count int       `json:"count"` // readings in the window: tells a thin window from a full one
}

// parseEvery accepts Go durations ("30s", "5m", "1h") and days ("1d"), which Go's durations lack and which a
// month's chart asks for. Whether a window is too fine for the range is ingest's rule.
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
	if q.From, q.To, err = rest.QueryRange(c); err != nil {
		rest.Problem(c, err)
		return
	}
	if s := c.Query("every"); s != "" {
		if q.Every, err = parseEvery(s); err != nil {
			rest.Problem(c, err)
			return
		}
	}
	r, err := m.s.AssetReadings(c, rest.Principal(c), c.Param("id"), q)
	if err != nil {
		rest.Problem(c, err)
		return
	}
	// from and to in UTC, so the answer does not depend on the server's time zone.
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
