package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/suilong/suilong/ingest/influxw"
	"github.com/suilong/suilong/ingest/ingesttest"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/auth/authtest"
	"github.com/suilong/suilong/internal/influx"
	"github.com/suilong/suilong/trace"
)

// influxQueries is how many queries the server has made to InfluxDB, from its /metrics.
func influxQueries(t *testing.T, ts *testServer) int {
	t.Helper()
	_, body := ts.get(t, "/metrics", "")
	m := regexp.MustCompile(`(?m)^suilong_influx_requests_total\{op="query"\} (\d+)$`).FindStringSubmatch(body)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// A delivered lot's page, through the whole platform: readings exactly at the load and at the receipt belong
// to the leg and to nothing respectively; views after the first ask InfluxDB nothing; a reading that arrives
// late over MQTT, inside the closed leg, changes the page within seconds.
func TestPublicPageWarmAndLate(t *testing.T) {
	ts := startServe(t, "--trace-public-rate", "1000", "--trace-public-burst", "1000")
	db := ts.DB(t)
	ensureProduct(t, db)
	_, admin := authtest.Org(t, db, "龙岩市商务局", auth.RoleCoordinator)
	_, baseKey := authtest.Org(t, db, "上杭县蛟洋蔬菜合作社", auth.RoleBase)
	must := func(method, path, key string, body any, want int) []byte {
		t.Helper()
		code, b := ts.call(t, method, path, key, body)
		if code != want {
			t.Fatalf("%s %s = %d, want %d: %s", method, path, code, want, b)
		}
		return b
	}
	must("POST", "/api/v1/assets", admin, map[string]any{"id": "LY-TRK-0301", "kind": "truck", "name": "冷藏车 301", "city": "龙岩"}, 201)
	var g struct{ MQTT struct{ Password string } }
	if err := json.Unmarshal(must("POST", "/api/v1/gateways", admin, map[string]any{"id": "LY-GW-0301"}, 201), &g); err != nil {
		t.Fatal(err)
	}
	must("POST", "/api/v1/sensors", admin, map[string]any{"id": "LY-TRK-0301-A", "gateway_id": "LY-GW-0301", "asset_id": "LY-TRK-0301"}, 201)

	// Once a minute on the minute, 9 °C outside the journey, 3 °C inside it, 7 °C exactly at the load (in the
	// leg: an excursion of its first reading) and 8 °C exactly at the receipt (after the leg: nothing).
	now := time.Now().Truncate(time.Minute)
	load, receive := now.Add(-3*time.Hour), now.Add(-time.Hour)
	c := ingesttest.Connect(t, "tcp://"+ts.MQTT, "LY-GW-0301", "LY-GW-0301", g.MQTT.Password)
	var batch []string
	n := 0
	for at := load.Add(-20 * time.Minute); !at.After(receive.Add(20 * time.Minute)); at = at.Add(time.Minute) {
		temp := 3.0
		switch {
		case at.Equal(load):
			temp = 7
		case at.Equal(receive):
			temp = 8
		case at.Before(load), at.After(receive):
			temp = 9
		}
		batch = append(batch, string(ingesttest.Reading("LY-TRK-0301-A", at, temp)))
		n++
	}
	ingesttest.Publish(t, c, "coldchain/v1/readings/LY-GW-0301", []byte(`{"readings":[`+strings.Join(batch, ",")+`]}`))
	rs := influxw.NewStore(influx.New(influx.Config{URL: ts.Cfg.InfluxURL, Bucket: ts.Cfg.InfluxBucket}))
	ingesttest.WaitCount(t, rs, "LY-TRK-0301", now.Add(-24*time.Hour), now.Add(time.Hour), int64(n), 30*time.Second)

	var lot struct {
		ID   int64
		Code string
	}
	if err := json.Unmarshal(must("POST", "/api/v1/lots", baseKey, map[string]any{"product": "choy-sum", "quantity_kg": 800,
		"base_name": "蛟洋基地", "county": "上杭县", "harvested_at": load.Add(-time.Hour)}, 201), &lot); err != nil {
		t.Fatal(err)
	}
	ev := fmt.Sprintf("/api/v1/lots/%d/events", lot.ID)
	must("POST", ev, baseKey, map[string]any{"kind": "load", "at": load, "asset_id": "LY-TRK-0301"}, 201)
	must("POST", ev, baseKey, map[string]any{"kind": "receive", "at": receive}, 201)

	type report struct {
		Compliance struct {
			Excursions []trace.Excursion
			Legs       []trace.LegCompliance
			MaxC       *float64 `json:"max_c"`
		}
	}
	get := func() report {
		t.Helper()
		var r report
		if err := json.Unmarshal(must("GET", fmt.Sprintf("/api/v1/lots/%d/trace", lot.ID), baseKey, nil, 200), &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := get()
	x := r.Compliance.Excursions
	if len(x) != 1 || !x[0].Start.Equal(load) || x[0].PeakC != 7 || x[0].Readings != 1 {
		t.Fatalf("the reading at the load is the leg's first, the one at the receipt none of its: excursions %+v", x)
	}
	if mx := r.Compliance.MaxC; mx == nil || *mx != 7 {
		t.Errorf("max %v, want 7 (the receipt's 8 °C and the 9 °C outside are not the leg's)", mx)
	}
	if code, body := ts.get(t, "/t/"+lot.Code, ""); code != 200 || !strings.Contains(body, "7.0 °C") {
		t.Fatalf("page: %d", code)
	}

	// Warm: views and the JSON report ask InfluxDB nothing.
	before := influxQueries(t, ts)
	for range 20 {
		if code, _ := ts.get(t, "/t/"+lot.Code, ""); code != 200 {
			t.Fatalf("page: %d", code)
		}
	}
	get()
	if after := influxQueries(t, ts); after != before {
		t.Errorf("20 warm views made %d InfluxDB queries, want none", after-before)
	}

	// A reading from the gateway's buffer, two hours old, between two on the minute: a new peak.
	late := load.Add(90*time.Minute + 30*time.Second)
	ingesttest.Publish(t, c, "coldchain/v1/readings/LY-GW-0301", ingesttest.Reading("LY-TRK-0301-A", late, 12))
	deadline := time.Now().Add(15 * time.Second)
	for {
		r = get()
		if mx := r.Compliance.MaxC; mx != nil && *mx == 12 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the late reading never showed: %+v", r.Compliance)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if x := r.Compliance.Excursions; len(x) != 2 || !x[1].Start.Equal(late.Truncate(time.Minute)) || x[1].PeakC != 12 {
		t.Errorf("after the late reading: excursions %+v", x)
	}
	if code, body := ts.get(t, "/t/"+lot.Code, ""); code != 200 || !strings.Contains(body, "12.0 °C") {
		t.Errorf("the page does not show the late reading's 12.0 °C: %d", code)
	}
	before = influxQueries(t, ts)
	for range 5 {
		ts.get(t, "/t/"+lot.Code, "")
	}
	if after := influxQueries(t, ts); after != before {
		t.Errorf("warm again: %d InfluxDB queries, want none", after-before)
	}
}
