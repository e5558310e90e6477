package opsapi

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/web"
	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/internal/coldchain"
)

type assetView struct {
	web.Page
	A      ingest.AssetStatus
	Range  string
	Chart  *chart
	Alarms []ingest.Alarm
	From   time.Time
}

// ranges are the periods the asset page charts.
var ranges = map[string]time.Duration{"24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour}

func (m *Module) assetPage(c *gin.Context) {
	ctx, p := c.Request.Context(), principal(c)
	a, err := m.d.Console.Asset(ctx, p, c.Param("id"))
	if err != nil {
		m.fail(c, err)
		return
	}
	rng := c.DefaultQuery("range", "24h")
	span, ok := ranges[rng]
	if !ok {
		rng, span = "24h", ranges["24h"]
	}
	to := m.d.Now()
	from := to.Add(-span)
	every := (span / 288).Truncate(time.Minute)
	var points []coldchain.Window
	if m.d.Series != nil {
		if points, err = m.d.Series.SeriesOf(ctx, a.ID, ingest.SeriesFilter{}, from, to, every); err != nil {
			m.fail(c, err)
			return
		}
	}
	alarms, _, err := m.d.Console.Alarms(ctx, p, ingest.ConsoleAlarms{AssetID: a.ID, From: from}, ingest.Page{Limit: 100})
	if err != nil {
		m.fail(c, err)
		return
	}
	// Oldest first, numbered as on the chart.
	for i, j := 0, len(alarms)-1; i < j; i, j = i+1, j-1 {
		alarms[i], alarms[j] = alarms[j], alarms[i]
	}
	title := a.Name
	if title == "" {
		title = a.ID
	}
	m.pages.Render(c, http.StatusOK, "ops-asset", assetView{Page: m.page(c, title, "fleet"), A: a, Range: rng,
		Chart: newChart(points, a.Band, alarms, from, to, every), Alarms: alarms, From: from})
}
