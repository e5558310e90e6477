package opsapi

import (
	"html"
	"html/template"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/suilong/suilong/ingest"
)

// fleetCards writes the fleet's cards as HTML. A whole fleet is thousands of cards, and html/template spends
// most of its time in reflection on each field and function call (≈ 0.1 ms a card, measured by
// BenchmarkFleetPage); the cards are written here instead, every piece of text escaped with html.EscapeString
// (safe in element content and in quoted attributes) and every id in a URL path-escaped first.
func fleetCards(assets []ingest.AssetStatus, now time.Time) template.HTML {
	var b strings.Builder
	b.Grow(len(assets) * 900)
	esc := html.EscapeString
	for i := range assets {
		a := &assets[i]
		id := esc(a.ID)
		b.WriteString(`<article class="a`)
		if a.Attention() {
			b.WriteString(` warn`)
		}
		b.WriteString(`" id="asset-`)
		b.WriteString(id)
		b.WriteString(`"><div class="ah"><a href="/ops/assets/`)
		b.WriteString(esc(url.PathEscape(a.ID)))
		b.WriteString(`"><b>`)
		if a.Name != "" {
			b.WriteString(esc(a.Name))
		} else {
			b.WriteString(id)
		}
		b.WriteString(`</b></a><span class="muted">`)
		b.WriteString(id)
		b.WriteString(` · `)
		// Unescaped: our own words, as assets.kind's CHECK lets only truck and cold_store reach assetWords.
		b.WriteString(assetWords(a.Kind, false))
		if a.City != "" {
			b.WriteString(` · `)
			b.WriteString(esc(a.City))
		}
		b.WriteString(`</span>`)
		if a.Open > 0 {
			b.WriteString(`<a class="badge red" href="/ops/alarms?asset=`)
			b.WriteString(esc(url.QueryEscape(a.ID)))
			b.WriteString(`">`)
			b.WriteString(strconv.Itoa(a.Open))
			b.WriteString(` 待确认 <span class="en">open</span></a>`)
		}
		if a.Acknowledged > 0 {
			b.WriteString(`<span class="badge amber">`)
			b.WriteString(strconv.Itoa(a.Acknowledged))
			b.WriteString(` 已确认 <span class="en">acked</span></span>`)
		}
		b.WriteString(`</div><div class="ab">允许 <span class="en">band</span> `)
		if s := a.Band.String(); s != "" {
			b.WriteString(esc(s))
		} else {
			b.WriteString("—")
		}
		for _, l := range a.Cargo {
			b.WriteString(` · 载 <span class="en">carrying</span> `)
			name := l.ProductZH
			if name == "" {
				name = l.Product
			}
			b.WriteString(esc(name))
			b.WriteString(" ")
			b.WriteString(strconv.FormatInt(l.QuantityKg, 10))
			b.WriteString(" kg (")
			b.WriteString(esc(l.LotCode))
			b.WriteString(")")
		}
		b.WriteString(`</div><ul class="ss">`)
		for k := range a.Sensors {
			s := &a.Sensors[k]
			if s.OutOfBand {
				b.WriteString(`<li class="out"><b>`)
			} else {
				b.WriteString(`<li><b>`)
			}
			l := s.Latest
			if l == nil {
				b.WriteString(`—</b><span class="muted">尚无读数 <span class="en">no reading yet</span></span>`)
			} else {
				b.WriteString(strconv.FormatFloat(l.TempC, 'f', 1, 64))
				b.WriteString(` °C</b>`)
				if l.DoorOpen != nil {
					if *l.DoorOpen {
						b.WriteString(`<span class="badge amber">门开 <span class="en">door open</span></span>`)
					} else {
						b.WriteString(`<span>门关 <span class="en">door shut</span></span>`)
					}
				}
				if l.BatteryPct != nil {
					b.WriteString(`<span>电量 <span class="en">battery</span> `)
					b.WriteString(strconv.FormatFloat(*l.BatteryPct, 'f', 0, 64))
					b.WriteString(`%</span>`)
				}
				b.WriteString(`<span class="muted">`)
				b.WriteString(ago(l.TS, now, false))
				b.WriteString(` <span class="en">`)
				b.WriteString(ago(l.TS, now, true))
				b.WriteString(`</span></span>`)
			}
			b.WriteString(`<span class="muted"><span class="dot `)
			b.WriteString(esc(s.GatewayStatus))
			b.WriteString(`"></span>`)
			b.WriteString(esc(s.GatewayID))
			b.WriteString(" ")
			b.WriteString(gatewayWords(s.GatewayStatus, false))
			b.WriteString(`</span></li>`)
		}
		b.WriteString("</ul></article>\n")
	}
	return template.HTML(b.String()) //nolint:gosec // every piece of text above is escaped
}
