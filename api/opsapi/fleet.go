package opsapi

import (
	"cmp"
	"html/template"
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/api/web"
	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/notify"
)

type fleetView struct {
	web.Page
	Assets    []ingest.AssetStatus
	Cities    []string
	City      string
	Kind      string
	Attention bool
	// Totals over the assets of the city and kind chosen, including those the attention filter hides, so the
	// header says how many are fine as well as how many are not.
	Total, NeedAttention, OpenAlarms, OutOfBand, Offline int
	// Failing are the notification channels that keep failing. They are on the fleet page because a broken
	// webhook means alarms reach nobody, and the duty officer must know that before trusting a quiet shift.
	Failing []notify.Channel
	// Cards is the fleet's cards, written by fleetCards for speed (see there for how it escapes).
	Cards template.HTML
}

func (m *Module) fleetPage(c *gin.Context) {
	ctx, p := c.Request.Context(), rest.Principal(c)
	f := ingest.FleetFilter{City: c.Query("city"), Kind: ingest.AssetKind(c.Query("kind"))}
	if f.Kind != "" && f.Kind != ingest.KindTruck && f.Kind != ingest.KindColdStore {
		f.Kind = "" // a hand-edited kind shows the whole fleet: a filter of convenience needs no error page
	}
	assets, err := m.d.Console.Fleet(ctx, p, f)
	if err != nil {
		m.fail(c, err)
		return
	}
	cities, err := m.d.Console.Cities(ctx, p)
	if err != nil {
		m.fail(c, err)
		return
	}
	v := fleetView{Page: m.page(c, "车辆与冷库 Fleet", "fleet"), Cities: cities, City: f.City, Kind: string(f.Kind),
		Attention: c.Query("attention") != ""}
	v.Refresh = int(m.d.Refresh.Seconds())
	if m.d.Notify != nil {
		if v.Failing, err = m.d.Notify.FailingChannels(ctx, p); err != nil {
			m.fail(c, err)
			return
		}
	}
	// Whatever needs a look first, most open alarms first; otherwise Fleet's order (by id) stands, the sort
	// being stable, so cards of equal standing keep their places from one refresh of the page to the next.
	slices.SortStableFunc(assets, func(a, b ingest.AssetStatus) int {
		if x, y := a.Attention(), b.Attention(); x != y {
			if x {
				return -1
			}
			return 1
		}
		return cmp.Compare(b.Open, a.Open)
	})
	for i := range assets {
		a := &assets[i]
		att := a.Attention()
		if att {
			v.NeedAttention++
		}
		v.OpenAlarms += a.Open
		for _, s := range a.Sensors {
			if s.OutOfBand {
				v.OutOfBand++
			}
			if s.GatewayStatus == "offline" {
				v.Offline++
			}
		}
		if !v.Attention || att {
			v.Assets = append(v.Assets, *a)
		}
	}
	v.Total = len(assets)
	v.Cards = fleetCards(v.Assets, m.d.Now())
	m.pages.Render(c, http.StatusOK, "ops-fleet", v)
}
