package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/suilong/suilong/api/ingestapi"
	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/ingest/ingesttest"
	"github.com/suilong/suilong/ingest/rules"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/auth/authtest"
	"github.com/suilong/suilong/internal/pg"
)

func (ts *testServer) call(t *testing.T, method, path, key string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, ts.URL+path, r)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// The first real path through everything: `suilong serve` with its embedded broker; an operator registers an
// asset, a gateway (getting its MQTT credentials once) and a sensor through the API; the gateway publishes a
// reading on coldchain/v1/readings/{gateway_id}; the reading lands in InfluxDB; the readings API returns it.
func TestServeIngestEndToEnd(t *testing.T) {
	ts := startServe(t)
	mqttURL := "tcp://" + ts.MQTT
	db, err := pg.Open(context.Background(), ts.Cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, admin := authtest.Org(t, db, "龙岩市商务局 Longyan commerce bureau", auth.RoleCoordinator)
	_, gwKey := authtest.Org(t, db, "gateway vendor", auth.RoleGateway)
	_, buyer := authtest.Org(t, db, "广州江南市场 buyer", auth.RoleBuyer)

	mustCall := func(method, path, key string, body any, want int) []byte {
		t.Helper()
		code, b := ts.call(t, method, path, key, body)
		if code != want {
			t.Fatalf("%s %s = %d, want %d: %s", method, path, code, want, b)
		}
		return b
	}
	mustCall("POST", "/api/v1/assets", admin, map[string]any{"id": "LY-TRK-0009", "kind": "truck", "name": "冷藏车 9",
		"band": map[string]any{"min_c": 0, "max_c": 4}}, 201)
	var created struct {
		Gateway ingest.Gateway `json:"gateway"`
		MQTT    struct {
			Username, Password string
			ReadingsTopic      string `json:"readings_topic"`
		}
	}
	if err := json.Unmarshal(mustCall("POST", "/api/v1/gateways", admin, map[string]any{"id": "LY-GW-0009"}, 201), &created); err != nil {
		t.Fatal(err)
	}
	if created.MQTT.Password == "" || created.MQTT.Username != "LY-GW-0009" || created.MQTT.ReadingsTopic != "coldchain/v1/readings/LY-GW-0009" {
		t.Fatalf("credentials: %+v", created.MQTT)
	}
	if b := mustCall("GET", "/api/v1/gateways/LY-GW-0009", admin, nil, 200); bytes.Contains(b, []byte(created.MQTT.Password)) {
		t.Fatal("the password is shown again")
	}
	mustCall("POST", "/api/v1/sensors", admin, map[string]any{"id": "LY-TRK-0009-A", "gateway_id": "LY-GW-0009", "asset_id": "LY-TRK-0009"}, 201)
	// The buyer follows its shipment: a lot of its order has been on the truck since before the reading below.
	_, base := authtest.Org(t, db, "上杭县蛟洋蔬菜专业合作社", auth.RoleBase)
	shipOnto(t, ts, admin, base, buyer, "LY-TRK-0009", time.Now().Add(-31*time.Minute).Truncate(time.Minute))

	// Roles: a gateway key manages nothing, a buyer may look at assets and readings but not the registry.
	mustCall("GET", "/api/v1/gateways", gwKey, nil, 403)
	mustCall("POST", "/api/v1/assets", gwKey, map[string]any{"id": "X", "kind": "truck"}, 403)
	mustCall("GET", "/api/v1/alarms", buyer, nil, 403)
	mustCall("GET", "/api/v1/dead-letters", buyer, nil, 403)
	mustCall("GET", "/api/v1/assets/LY-TRK-0009", buyer, nil, 200)
	mustCall("GET", "/api/v1/assets", "", nil, 401)

	// The gateway publishes.
	c := ingesttest.Connect(t, mqttURL, created.MQTT.Username, created.MQTT.Username, created.MQTT.Password)
	ts0 := time.Now().Add(-time.Minute).Truncate(time.Second)
	ingesttest.Publish(t, c, created.MQTT.ReadingsTopic, ingesttest.Reading("LY-TRK-0009-A", ts0, 3.4))
	ingesttest.Publish(t, c, created.MQTT.ReadingsTopic, []byte(`{"sensor_id":"LY-TRK-0009-A","ts":"yesterday","temp_c":3}`))

	q := fmt.Sprintf("/api/v1/assets/LY-TRK-0009/readings?from=%s&to=%s&every=1m",
		ts0.Add(-time.Hour).Format(time.RFC3339), ts0.Add(time.Hour).Format(time.RFC3339))
	var got struct {
		AssetID string
		Band    ingest.Band
		Points  []ingestapi.Point
	}
	if err := json.Unmarshal(mustCall("GET", q, buyer, nil, 200), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Points) != 1 || got.Points[0].Count != 1 || got.Points[0].MeanC != 3.4 || !got.Points[0].Time.Equal(ts0.Truncate(time.Minute)) ||
		got.Band.MaxC == nil || *got.Band.MaxC != 4 {
		t.Fatalf("readings API: %+v", got)
	}
	var dl struct {
		Items []ingest.DeadLetter
		Total int
	}
	if err := json.Unmarshal(mustCall("GET", "/api/v1/dead-letters?gateway_id=LY-GW-0009", admin, nil, 200), &dl); err != nil {
		t.Fatal(err)
	}
	if dl.Total != 1 || dl.Items[0].Reason != ingest.ReasonInvalidField {
		t.Fatalf("dead letter: %+v", dl)
	}

	// Bad requests name the field.
	code, b := ts.call(t, "GET", "/api/v1/assets/LY-TRK-0009/readings?every=soon", admin, nil)
	if code != 400 || !bytes.Contains(b, []byte(`"field":"every"`)) {
		t.Fatalf("bad every: %d %s", code, b)
	}
	code, b = ts.call(t, "POST", "/api/v1/sensors", admin, map[string]any{"id": "S/1", "gateway_id": "nope", "asset_id": "LY-TRK-0009"})
	if code != 422 || !bytes.Contains(b, []byte(`"field":"id"`)) {
		t.Fatalf("bad sensor: %d %s", code, b)
	}
	code, b = ts.call(t, "POST", "/api/v1/sensors", admin, map[string]any{"id": "S-2", "gateway_id": "nope", "asset_id": "LY-TRK-0009"})
	if code != 422 || !bytes.Contains(b, []byte(`"field":"gateway_id"`)) {
		t.Fatalf("sensor of an unknown gateway: %d %s", code, b)
	}
	mustCall("DELETE", "/api/v1/gateways/LY-GW-0009", admin, nil, 409)

	// Alarms: listed and acknowledged through the API, by people with the right role.
	t0 := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	changed, err := ingest.NewStore(db).ApplyAlarms(context.Background(), []rules.Alarm{{SensorID: "LY-TRK-0009-A", AssetID: "LY-TRK-0009",
		Kind: rules.Excursion, Start: t0, RaisedAt: t0.Add(15 * time.Minute), End: t0.Add(30 * time.Minute), PeakC: 8, BandLo: 0, BandHi: 4,
		DegreeMinutes: 60}})
	if err != nil || len(changed) != 1 {
		t.Fatalf("alarm: %v", err)
	}
	var alarms struct {
		Items []ingest.Alarm
		Total int
	}
	if err := json.Unmarshal(mustCall("GET", "/api/v1/alarms?status=active&asset_id=LY-TRK-0009", admin, nil, 200), &alarms); err != nil {
		t.Fatal(err)
	}
	if alarms.Total != 1 || alarms.Items[0].Status != "open" || alarms.Items[0].MessageZH == "" {
		t.Fatalf("alarms: %+v", alarms)
	}
	path := fmt.Sprintf("/api/v1/alarms/%d/ack", alarms.Items[0].ID)
	mustCall("POST", path, buyer, map[string]any{"comment": "x"}, 403)
	var acked ingest.Alarm
	if err := json.Unmarshal(mustCall("POST", path, admin, map[string]any{"comment": "货物已复检 / goods re-checked"}, 200), &acked); err != nil {
		t.Fatal(err)
	}
	if acked.Status != "closed" || acked.AckedBy == nil || *acked.AckedBy != "龙岩市商务局 Longyan commerce bureau" || *acked.AckComment != "货物已复检 / goods re-checked" {
		t.Fatalf("acked: %+v", acked)
	}
	mustCall("POST", path, admin, nil, 409)
	mustCall("GET", "/api/v1/alarms?status=closed,open", admin, nil, 200)
	code, b = ts.call(t, "GET", "/api/v1/alarms?status=fixed", admin, nil)
	if code != 400 || !bytes.Contains(b, []byte(`"field":"status"`)) {
		t.Fatalf("bad status filter: %d %s", code, b)
	}
}
