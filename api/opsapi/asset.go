package opsapi

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/rest"
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

// ranges are the periods the asset page charts: a fixed set, so no URL can make InfluxDB aggregate months of
// readings for one page view. A lot's whole journey is the traceability page's job (/t/{code}).
var ranges = map[string]time.Duration{"24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour}

func (m *Module) assetPage(c *gin.Context) {
	ctx, p := c.Request.Context(), rest.Principal(c)
	a, err := m.d.Console.Asset(ctx, p, c.Param("id"))
	if err != nil {
		m.fail(c, err)
		return
	}
	rng := c.DefaultQuery("range", "24h")
	span, ok := ranges[rng]
	if !ok {
		rng, span = "24h", ranges["24h"] // an unknown range shows the default rather than an error page
	}
	to := m.d.Now()
	from := to.Add(-span)
	// 288 windows (5 minutes over a day): about one per two units of the chart's 664-unit plot, as fine as the
	// SVG can show, and the query returns the same few hundred points whatever the range.
	every := (span / 288).Truncate(time.Minute)
	var points []coldchain.Window
	if m.d.Series != nil {
		if points, err = m.d.Series.SeriesOf(ctx, a.ID, ingest.SeriesFilter{}, from, to, every); err != nil {
			m.fail(c, err)
			return
		}
	}
	// Console.Asset has already refused an asset p may not see; Alarms applies the same scope on its own. A
	// hundred alarms in a week would be a fault to fix, not a list to page through.
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
	if title == "" { // names are optional; the id is how every other page and message calls it
		title = a.ID
	}
	m.pages.Render(c, http.StatusOK, "ops-asset", assetView{Page: m.page(c, title, "fleet"), A: a, Range: rng,
		Chart: newChart(points, a.Band, alarms, from, to, every), Alarms: alarms, From: from})
}
