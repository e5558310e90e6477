package opsapi

import (
	"strings"
	"testing"
	"time"

	"github.com/suilong/suilong/ingest"
)

// The fleet's cards are written without html/template, so every piece of text people or gateways chose must be
// escaped by hand: names, cities, ids (also in URLs), lot codes and products.
func TestFleetCardsEscapeText(t *testing.T) {
	evil := `<img src=x onerror=alert(1)>"'&`
	now := time.Now()
	out := string(fleetCards([]ingest.AssetStatus{{
		Asset:   ingest.Asset{ID: `A?x="1"`, Name: evil, City: evil, Kind: ingest.KindTruck},
		Cargo:   []ingest.Load{{LotCode: evil, ProductZH: evil}},
		Sensors: []ingest.SensorStatus{{Sensor: ingest.Sensor{ID: "s"}, GatewayStatus: `online" onclick="x`, Latest: &ingest.LatestReading{TS: now, TempC: 3}}},
		Open:    1,
	}}, now))
	for _, bad := range []string{"<img", `onerror=alert(1)>"`, `onclick="x`, `href="/ops/assets/A?x`} {
		if strings.Contains(out, bad) {
			t.Errorf("unescaped %q in:\n%s", bad, out)
		}
	}
	for _, want := range []string{"&lt;img src=x onerror=alert(1)&gt;&#34;&#39;&amp;", `href="/ops/assets/A%3Fx=%221%22"`, "3.0 °C"} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
}
