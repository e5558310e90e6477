package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/suilong/suilong/api/ingestapi"
	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/ingest/influxw"
	"github.com/suilong/suilong/ingest/ingesttest"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/auth/authtest"
	"github.com/suilong/suilong/internal/influx"
)

// Who sees what of the fleet, through `suilong serve`'s routes: a truck's readings arrive over MQTT; lots move
// through the trucks and a cold store by the API (one of them for a matching order, received by its buyer).
// A base and a buyer list and read only the assets that carried their lots, and the readings only for those
// legs; everyone else gets 404 as for any other organisation's record; coordinators see everything. Loading
// frozen chicken with leafy greens is refused with 409 and the reason; shiitake with the greens is accepted.
func TestFleetVisibility(t *testing.T) {
	ts := startServe(t)
	db := ts.DB(t)
	_, coord := authtest.Org(t, db, "龙岩市商务局", auth.RoleCoordinator)
	_, baseA := authtest.Org(t, db, "上杭县蛟洋蔬菜专业合作社", auth.RoleBase)
	_, baseB := authtest.Org(t, db, "武平县象洞蔬菜合作社", auth.RoleBase)
	_, buyerA := authtest.Org(t, db, "广州江南果菜批发市场", auth.RoleBuyer)
	_, buyerX := authtest.Org(t, db, "天河区机关食堂配送中心", auth.RoleBuyer)
	_, gwKey := authtest.Org(t, db, "gateway vendor", auth.RoleGateway)
	must := ts.mustFor(t)

	// Products, and an order of buyer A for base A's choy-sum.
	now := time.Now().Truncate(time.Minute)
	at := func(min int) time.Time { return now.Add(time.Duration(min) * time.Minute) }
	for _, p := range []map[string]any{
		{"name": "choy-sum", "name_zh": "菜心", "shelf_life_hours": 72, "temp_min_c": 0, "temp_max_c": 4},
		{"name": "shiitake", "name_zh": "鲜香菇", "shelf_life_hours": 240, "temp_min_c": 1, "temp_max_c": 4},
		{"name": "hetian-chicken-frozen", "name_zh": "河田鸡（冷冻）", "shelf_life_hours": 4320, "temp_max_c": -18},
	} {
		must("POST", "/api/v1/products", coord, p, 201, nil)
	}
	orderID := placeOrder(t, ts, coord, baseA, buyerA, at(-400))

	// The fleet: a truck with a leafy-greens setting and a sensor, a truck without a band, a cold store.
	must("POST", "/api/v1/assets", coord, map[string]any{"id": "LY-TRK-0201", "kind": "truck", "band": map[string]any{"min_c": 0, "max_c": 4}}, 201, nil)
	must("POST", "/api/v1/assets", coord, map[string]any{"id": "LY-TRK-0202", "kind": "truck"}, 201, nil)
	must("POST", "/api/v1/assets", coord, map[string]any{"id": "LY-CS-0201", "kind": "cold_store"}, 201, nil)
	var gw struct{ MQTT struct{ Password string } }
	must("POST", "/api/v1/gateways", coord, map[string]any{"id": "LY-GW-0201"}, 201, &gw)
	must("POST", "/api/v1/sensors", coord, map[string]any{"id": "LY-TRK-0201-A", "gateway_id": "LY-GW-0201", "asset_id": "LY-TRK-0201"}, 201, nil)
	// The truck's sensor read every minute of the last six hours.
	c := ingesttest.Connect(t, "tcp://"+ts.MQTT, "LY-GW-0201", "LY-GW-0201", gw.MQTT.Password)
	var batch []string
	for min := -360; min < 0; min++ {
		batch = append(batch, string(ingesttest.Reading("LY-TRK-0201-A", at(min), 2+float64(min%7)/10)))
	}
	ingesttest.Publish(t, c, "coldchain/v1/readings/LY-GW-0201", []byte(`{"readings":[`+strings.Join(batch, ",")+`]}`))
	rs := influxw.NewStore(influx.New(influx.Config{URL: ts.Cfg.InfluxURL, Bucket: ts.Cfg.InfluxBucket}))
	ingesttest.WaitCount(t, rs, "LY-TRK-0201", at(-400), at(1), 360, 30*time.Second)

	// The journeys. Base A: its order's lot on truck 201 from −300 min to the buyer's receipt at −180; another lot
	// on it since −120, still there. Base B: a lot in the cold store from −240 to −200, another on truck 202
	// since −90.
	type lotDoc struct {
		ID   int64
		Code string
	}
	lot := func(key, product string, order *int64) lotDoc {
		t.Helper()
		body := map[string]any{"product": product, "quantity_kg": 500, "base_name": "基地", "county": "上杭县", "harvested_at": at(-360)}
		if order != nil {
			body["order_id"] = *order
		}
		var l lotDoc
		must("POST", "/api/v1/lots", key, body, 201, &l)
		return l
	}
	event := func(key string, l lotDoc, kind string, min int, asset string, want int) []byte {
		t.Helper()
		body := map[string]any{"kind": kind, "at": at(min)}
		if asset != "" {
			body["asset_id"] = asset
		} else {
			body["location"] = "广州江南果菜批发市场"
		}
		return must("POST", fmt.Sprintf("/api/v1/lots/%d/events", l.ID), key, body, want, nil)
	}
	ordered := lot(baseA, "choy-sum", &orderID)
	event(baseA, ordered, "load", -300, "LY-TRK-0201", 201)
	event(buyerA, ordered, "receive", -180, "", 201)
	greensA := lot(baseA, "choy-sum", nil)
	event(baseA, greensA, "load", -120, "LY-TRK-0201", 201)
	storedB := lot(baseB, "choy-sum", nil)
	event(baseB, storedB, "load", -240, "LY-CS-0201", 201)
	event(baseB, storedB, "unload", -200, "LY-CS-0201", 201)
	greensB := lot(baseB, "choy-sum", nil)
	event(baseB, greensB, "load", -90, "LY-TRK-0202", 201)

	// Mixed loads: frozen chicken with base B's greens, and with base A's own; shiitake with the greens is fine.
	chicken := lot(baseA, "hetian-chicken-frozen", nil)
	var prob struct {
		Code   string
		Detail string
		Errors []struct{ Field string }
	}
	if err := json.Unmarshal(event(baseA, chicken, "load", -60, "LY-TRK-0202", 409), &prob); err != nil {
		t.Fatal(err)
	}
	if prob.Code != "conflict" || !strings.Contains(prob.Detail, "this lot (hetian-chicken-frozen), which needs ≤ -18 °C") ||
		!strings.Contains(prob.Detail, "another organisation's lot of choy-sum") || !strings.Contains(prob.Detail, "which needs 0–4 °C") ||
		strings.Contains(prob.Detail, greensB.Code) || len(prob.Errors) != 1 || prob.Errors[0].Field != "asset_id" {
		t.Errorf("frozen chicken with another base's greens: %+v", prob)
	}
	if err := json.Unmarshal(event(baseA, chicken, "load", -60, "LY-TRK-0201", 409), &prob); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(prob.Detail, "lot "+greensA.Code+" (choy-sum)") {
		t.Errorf("frozen chicken with our own greens: %+v", prob)
	}
	mushrooms := lot(baseA, "shiitake", nil)
	event(baseA, mushrooms, "load", -60, "LY-TRK-0201", 201)

	// Listing.
	list := func(key string) string {
		t.Helper()
		var page struct {
			Items []struct{ ID string }
			Total int
		}
		must("GET", "/api/v1/assets", key, nil, 200, &page)
		var ids []string
		for _, a := range page.Items {
			ids = append(ids, a.ID)
		}
		return fmt.Sprint(page.Total, ids)
	}
	for who, want := range map[string]string{coord: "3 [LY-CS-0201 LY-TRK-0201 LY-TRK-0202]", baseA: "1 [LY-TRK-0201]",
		buyerA: "1 [LY-TRK-0201]", baseB: "2 [LY-CS-0201 LY-TRK-0202]", buyerX: "0 []"} {
		if got := list(who); got != want {
			t.Errorf("GET /assets lists %s, want %s", got, want)
		}
	}
	must("GET", "/api/v1/assets", gwKey, nil, 403, nil)
	must("GET", "/api/v1/assets/LY-TRK-0201", baseA, nil, 200, nil)
	must("GET", "/api/v1/assets/LY-TRK-0201", buyerA, nil, 200, nil)
	must("GET", "/api/v1/assets/LY-TRK-0201", coord, nil, 200, nil)
	// Another organisation's asset is not found, exactly as one that does not exist.
	detail := func(b []byte) string {
		var p struct{ Code, Detail string }
		_ = json.Unmarshal(b, &p)
		return p.Code + ": " + p.Detail
	}
	unknown := detail(must("GET", "/api/v1/assets/LY-TRK-9999", coord, nil, 404, nil))
	for _, key := range []string{baseB, buyerX} {
		for _, path := range []string{"/api/v1/assets/LY-TRK-0201", "/api/v1/assets/LY-TRK-0201/readings"} {
			if got := detail(must("GET", path, key, nil, 404, nil)); strings.ReplaceAll(got, "0201", "9999") != unknown {
				t.Errorf("GET %s: %s, want it like %s", path, got, unknown)
			}
		}
	}
	must("GET", "/api/v1/assets/LY-TRK-0201/readings", gwKey, nil, 403, nil)
	must("GET", "/api/v1/alarms?asset_id=LY-TRK-0201", buyerA, nil, 403, nil)

	// Readings, at one-minute windows: one reading each.
	type series struct {
		From, To time.Time
		Periods  []ingest.Span
		Points   []ingestapi.Point
	}
	readings := func(key, query string) series {
		t.Helper()
		var s series
		must("GET", "/api/v1/assets/LY-TRK-0201/readings?"+query, key, nil, 200, &s)
		return s
	}
	span := func(a, b int) ingest.Span { return ingest.Span{From: at(a).UTC(), To: at(b).UTC()} }
	whole := url.Values{"from": {at(-360).Format(time.RFC3339)}, "to": {now.Format(time.RFC3339)}, "every": {"1m"}}.Encode()
	for _, tt := range []struct {
		name, key, query string
		periods          []ingest.Span
		readings         int
	}{
		{"coordinator", coord, whole, []ingest.Span{span(-360, 0)}, 360},
		{"base A: its order's leg and the leg still open", baseA, whole, []ingest.Span{span(-300, -180), span(-120, 0)}, 240},
		{"buyer A: its order's lot, to the receipt", buyerA, whole, []ingest.Span{span(-300, -180)}, 120},
		{"buyer A, by default: the 24 hours to the receipt", buyerA, "every=1m", []ingest.Span{span(-300, -180)}, 120},
		{"buyer A, after the receipt", buyerA, url.Values{"from": {at(-120).Format(time.RFC3339)}, "every": {"1m"}}.Encode(), []ingest.Span{}, 0},
		{"buyer A, hourly windows", buyerA, strings.Replace(whole, "every=1m", "every=1h", 1), []ingest.Span{span(-300, -180)}, 120},
	} {
		s := readings(tt.key, tt.query)
		n := 0
		for _, p := range s.Points {
			n += p.Count
			if !slices.ContainsFunc(s.Periods, func(sp ingest.Span) bool { return !p.Time.Before(sp.From) && p.Time.Before(sp.To) }) {
				t.Errorf("%s: a window at %s is outside the periods %v", tt.name, p.Time, s.Periods)
			}
		}
		if n != tt.readings || !slices.EqualFunc(s.Periods, tt.periods, func(a, b ingest.Span) bool { return a.From.Equal(b.From) && a.To.Equal(b.To) }) {
			t.Errorf("%s: %d readings in %v, want %d in %v", tt.name, n, s.Periods, tt.readings, tt.periods)
		}
	}
}

// placeOrder has matching place an order of buyer's for 2,000 kg of base's choy-sum harvested at harvest (the
// product profile must exist): a lane, an offer, a demand, a run, both sides accepting.
func placeOrder(t *testing.T, ts *testServer, coord, base, buyer string, harvest time.Time) int64 {
	t.Helper()
	must := func(method, path, key string, body any, out any) {
		t.Helper()
		code, b := ts.call(t, method, path, key, body)
		if code/100 != 2 {
			t.Fatalf("%s %s = %d: %s", method, path, code, b)
		}
		if out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				t.Fatal(err)
			}
		}
	}
	must("POST", "/api/v1/lanes", coord, map[string]any{"origin": "shanghang", "destination": "jiangnan-market",
		"cost_per_kg": 0.4, "transit_hours": 4}, nil)
	must("POST", "/api/v1/offers", base, map[string]any{"product": "choy-sum", "grade": 1, "quantity_kg": 2000,
		"min_price_per_kg": 3.2, "origin": "shanghang", "harvested_at": harvest}, nil)
	must("POST", "/api/v1/demands", buyer, map[string]any{"product": "choy-sum", "min_grade": 1, "quantity_kg": 2000,
		"max_price_per_kg": 5, "destination": "jiangnan-market", "deliver_by": time.Now().Add(24 * time.Hour)}, nil)
	var run struct{ Allocations []struct{ ID int64 } }
	must("POST", "/api/v1/matching/runs", coord, nil, &run)
	if len(run.Allocations) != 1 {
		t.Fatalf("run: %+v", run)
	}
	accept := fmt.Sprintf("/api/v1/allocations/%d/accept", run.Allocations[0].ID)
	must("POST", accept, base, nil, nil)
	var dec struct{ Order struct{ ID int64 } }
	must("POST", accept, buyer, nil, &dec)
	if dec.Order.ID == 0 {
		t.Fatal("no order placed")
	}
	return dec.Order.ID
}

// shipOnto loads a lot of an order of buyer's (base's choy-sum) onto the asset at `at`, so that the buyer may
// follow the asset from then on.
func shipOnto(t *testing.T, ts *testServer, coord, base, buyer, asset string, at time.Time) {
	t.Helper()
	if code, b := ts.call(t, "POST", "/api/v1/products", coord, map[string]any{"name": "choy-sum", "name_zh": "菜心", "shelf_life_hours": 72,
		"temp_min_c": 0, "temp_max_c": 4}); code != 201 {
		t.Fatalf("product: %d %s", code, b)
	}
	order := placeOrder(t, ts, coord, base, buyer, at.Add(-time.Hour))
	code, b := ts.call(t, "POST", "/api/v1/lots", base, map[string]any{"product": "choy-sum", "quantity_kg": 2000, "base_name": "基地",
		"county": "上杭县", "harvested_at": at.Add(-time.Hour), "order_id": order})
	var l struct{ ID int64 }
	if code != 201 || json.Unmarshal(b, &l) != nil {
		t.Fatalf("lot: %d %s", code, b)
	}
	if code, b := ts.call(t, "POST", fmt.Sprintf("/api/v1/lots/%d/events", l.ID), base, map[string]any{"kind": "load", "at": at, "asset_id": asset}); code != 201 {
		t.Fatalf("load: %d %s", code, b)
	}
}
