package main

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/suilong/suilong/ingest/influxw"
	"github.com/suilong/suilong/ingest/ingesttest"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/auth/authtest"
	"github.com/suilong/suilong/internal/browsertest"
	"github.com/suilong/suilong/internal/influx"
	"github.com/suilong/suilong/internal/influx/influxtest"
	"github.com/suilong/suilong/internal/pg"
	"github.com/suilong/suilong/internal/pg/pgtest"
	"github.com/suilong/suilong/matching"
	"github.com/suilong/suilong/trace"
	"github.com/suilong/suilong/trace/epcistest"
)

// ensureProduct registers the leafy-greens profile the lots need (matching's products).
func ensureProduct(t *testing.T, db pg.DB) {
	t.Helper()
	if _, err := matching.NewStore(db).PutProduct(context.Background(), matching.Product{Name: "choy-sum", NameZH: "菜心",
		ShelfLifeHours: 72, TempMinC: new(0.0), TempMaxC: new(4.0)}); err != nil {
		t.Fatalf("register the choy-sum product profile: %v", err)
	}
}

// The whole path: gateways on a truck and in a cold store publish readings over MQTT to `suilong serve`; a base
// registers a lot and records its journey through the API, the buyer its receipt; then the public page (in
// headless Chromium, at phone size, both languages), the JSON report and the EPCIS document tell the same
// legs, excursion and verdict, and the EPCIS document is valid against GS1's schema.
func TestTraceEndToEnd(t *testing.T) {
	ts := startServe(t)
	db := ts.DB(t)
	ensureProduct(t, db)
	_, admin := authtest.Org(t, db, "龙岩市商务局", auth.RoleCoordinator)
	_, baseKey := authtest.Org(t, db, `上杭县"蛟洋"蔬菜合作社 <b>`, auth.RoleBase)
	_, otherBase := authtest.Org(t, db, "长汀县河田合作社", auth.RoleBase)
	_, buyerKey := authtest.Org(t, db, "广州江南果菜批发市场", auth.RoleBuyer)

	must := func(method, path, key string, body any, want int) []byte {
		t.Helper()
		code, b := ts.call(t, method, path, key, body)
		if code != want {
			t.Fatalf("%s %s = %d, want %d: %s", method, path, code, want, b)
		}
		return b
	}
	// The registry: a truck (its name has HTML in it) and a cold store, a gateway with a sensor in each.
	gateways := map[string]string{}
	for _, a := range []struct{ asset, kind, name, gw string }{
		{"LY-TRK-0109", "truck", `冷藏车 <i>9</i> & "快线"`, "LY-GW-0109"},
		{"GZ-CS-0109", "cold_store", "广州南沙冷库", "GZ-GW-0109"},
	} {
		must("POST", "/api/v1/assets", admin, map[string]any{"id": a.asset, "kind": a.kind, "name": a.name, "city": "龙岩"}, 201)
		var g struct{ MQTT struct{ Password string } }
		if err := json.Unmarshal(must("POST", "/api/v1/gateways", admin, map[string]any{"id": a.gw}, 201), &g); err != nil {
			t.Fatal(err)
		}
		gateways[a.gw] = g.MQTT.Password
		must("POST", "/api/v1/sensors", admin, map[string]any{"id": a.asset + "-A", "gateway_id": a.gw, "asset_id": a.asset}, 201)
	}

	// The journey, in the last six hours: truck 5 h → 3 h ago with 12 minutes at 7.5 °C, cold store 3 h ago →
	// 10 min ago, then the buyer's receipt.
	now := time.Now().Truncate(time.Minute)
	harvest, load, unload, receive := now.Add(-6*time.Hour), now.Add(-5*time.Hour), now.Add(-3*time.Hour), now.Add(-10*time.Minute)
	exc := now.Add(-4 * time.Hour)
	publish := func(gw, sensor string, from, to time.Time, temp func(time.Time) float64) int {
		c := ingesttest.Connect(t, "tcp://"+ts.MQTT, gw, gw, gateways[gw])
		var batch []string
		n := 0
		send := func() {
			if len(batch) > 0 {
				ingesttest.Publish(t, c, "coldchain/v1/readings/"+gw, []byte(`{"readings":[`+strings.Join(batch, ",")+`]}`))
				batch = batch[:0]
			}
		}
		for ts := from; ts.Before(to); ts = ts.Add(time.Minute) {
			batch = append(batch, string(ingesttest.Reading(sensor, ts, temp(ts))))
			if n++; len(batch) == 400 {
				send()
			}
		}
		send()
		return n
	}
	nTruck := publish("LY-GW-0109", "LY-TRK-0109-A", load.Add(-30*time.Minute), unload.Add(30*time.Minute), func(ts time.Time) float64 {
		if !ts.Before(exc) && ts.Before(exc.Add(12*time.Minute)) {
			return 7.5
		}
		return 3.2
	})
	nStore := publish("GZ-GW-0109", "GZ-CS-0109-A", unload.Add(-30*time.Minute), now, func(time.Time) float64 { return 1.8 })
	rs := influxw.NewStore(influx.New(influx.Config{URL: ts.Cfg.InfluxURL, Bucket: ts.Cfg.InfluxBucket}))
	ingesttest.WaitCount(t, rs, "LY-TRK-0109", now.Add(-24*time.Hour), now.Add(time.Hour), int64(nTruck), 30*time.Second)
	ingesttest.WaitCount(t, rs, "GZ-CS-0109", now.Add(-24*time.Hour), now.Add(time.Hour), int64(nStore), 30*time.Second)

	// The base registers the lot; special characters stay text.
	var lot struct {
		ID       int64
		Code     string
		PageURL  string `json:"page_url"`
		QRSVGURL string `json:"qr_svg_url"`
	}
	baseName := `蛟洋<script>alert("x")</script> & 基地`
	if err := json.Unmarshal(must("POST", "/api/v1/lots", baseKey, map[string]any{"product": "choy-sum", "variety": "油青甜菜心",
		"quantity_kg": 2000, "base_name": baseName, "county": "上杭县", "harvested_at": harvest,
		"certifications": []string{"green-food", "cailanzi-base"}, "certificate_no": "FJSH-2026-0042"}, 201), &lot); err != nil {
		t.Fatal(err)
	}
	must("POST", "/api/v1/lots", buyerKey, map[string]any{"product": "choy-sum"}, 403)
	code, b := ts.call(t, "POST", "/api/v1/lots", baseKey, map[string]any{"product": "choy-sum", "quantity_kg": -1})
	if code != 422 || !strings.Contains(string(b), `"field":"quantity_kg"`) {
		t.Fatalf("bad lot: %d %s", code, b)
	}
	ev := fmt.Sprintf("/api/v1/lots/%d/events", lot.ID)
	// Another base can neither see nor move the lot; a buyer of no order of it neither.
	must("POST", ev, otherBase, map[string]any{"kind": "load", "at": load, "asset_id": "LY-TRK-0109"}, 404)
	must("GET", fmt.Sprintf("/api/v1/lots/%d", lot.ID), otherBase, nil, 404)
	must("POST", ev, buyerKey, map[string]any{"kind": "receive", "at": receive}, 404)
	must("POST", ev, baseKey, map[string]any{"kind": "unload", "at": load, "asset_id": "LY-TRK-0109"}, 409)
	must("POST", ev, baseKey, map[string]any{"kind": "load", "at": load, "asset_id": "LY-TRK-0109"}, 201)
	must("POST", ev, baseKey, map[string]any{"kind": "load", "at": load.Add(time.Hour), "asset_id": "GZ-CS-0109"}, 409)
	must("POST", ev, baseKey, map[string]any{"kind": "unload", "at": unload, "asset_id": "LY-TRK-0109"}, 201)
	must("POST", ev, baseKey, map[string]any{"kind": "load", "at": unload, "asset_id": "GZ-CS-0109"}, 201)
	must("POST", ev, baseKey, map[string]any{"kind": "receive", "at": receive, "location": "广州江南果菜批发市场"}, 201)
	must("POST", ev, baseKey, map[string]any{"kind": "load", "at": receive.Add(time.Minute), "asset_id": "LY-TRK-0109"}, 409)

	// The JSON report.
	var rep struct {
		Custody struct {
			Legs []struct {
				AssetID string    `json:"asset_id"`
				From    time.Time `json:"from"`
				To      time.Time `json:"to"`
			}
			State string
		}
		Compliance struct {
			Excursions []trace.Excursion
			Verdict    trace.Verdict
			MKTC       *float64 `json:"mkt_c"`
			Legs       []trace.LegCompliance
		}
	}
	if err := json.Unmarshal(must("GET", fmt.Sprintf("/api/v1/lots/%d/trace", lot.ID), baseKey, nil, 200), &rep); err != nil {
		t.Fatal(err)
	}
	legs := rep.Custody.Legs
	if len(legs) != 2 || legs[0].AssetID != "LY-TRK-0109" || !legs[0].From.Equal(load) || !legs[0].To.Equal(unload) ||
		legs[1].AssetID != "GZ-CS-0109" || !legs[1].To.Equal(receive) || rep.Custody.State != "delivered" {
		t.Fatalf("legs: %+v", rep.Custody)
	}
	x := rep.Compliance.Excursions
	if len(x) != 1 || x[0].Leg != 0 || !x[0].Start.Equal(exc) || x[0].Minutes != 12 || x[0].PeakC != 7.5 {
		t.Fatalf("excursions: %+v", x)
	}
	v := rep.Compliance.Verdict
	if v.Code != trace.Excursions || v.ZH != "温度超标 1 次，累计 12 分钟超出 0–4 °C" || v.EN != "1 excursion, 12 minutes outside 0–4 °C in total" || !v.Final {
		t.Fatalf("verdict: %+v", v)
	}
	if rep.Compliance.MKTC == nil || *rep.Compliance.MKTC < 1.8 || *rep.Compliance.MKTC > 3.5 {
		t.Fatalf("MKT %v", rep.Compliance.MKTC)
	}

	// EPCIS: valid, and the same legs and excursion.
	req, _ := http.NewRequest("GET", ts.URL+fmt.Sprintf("/api/v1/lots/%d/epcis", lot.ID), nil)
	req.Header.Set("Authorization", "Bearer "+baseKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Body struct {
			Events []struct {
				BizStep string `json:"bizStep"`
				Sensors []struct {
					Meta    map[string]string `json:"sensorMetadata"`
					Reports []map[string]any  `json:"sensorReport"`
				} `json:"sensorElementList"`
			} `json:"eventList"`
		} `json:"epcisBody"`
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/ld+json" {
		t.Fatalf("epcis: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	epcistest.Validate(t, raw)
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var steps []string
	var alarms []map[string]any
	var legWindows []string
	for _, e := range doc.Body.Events {
		steps = append(steps, e.BizStep)
		for _, s := range e.Sensors {
			legWindows = append(legWindows, s.Meta["deviceID"]+" "+s.Meta["startTime"]+" "+s.Meta["endTime"])
			for _, r := range s.Reports {
				if r["exception"] == "ALARM_CONDITION" {
					alarms = append(alarms, r)
				}
			}
		}
	}
	if got := strings.Join(steps, ","); got != "commissioning,loading,unloading,receiving,receiving" {
		t.Errorf("EPCIS steps %s", got)
	}
	if len(legWindows) != 2 || !strings.Contains(legWindows[0], "/id/asset/LY-TRK-0109 "+load.In(trace.CST).Format("2006-01-02T15:04:05.000-07:00")) {
		t.Errorf("EPCIS sensor elements %v", legWindows)
	}
	if len(alarms) != 1 || alarms[0]["value"] != 7.5 || alarms[0]["suilong:excursionMinutes"] != 12.0 {
		t.Errorf("EPCIS excursions %v", alarms)
	}

	// The public page, plain HTTP: escaped, no internal ids, cacheable, with a CSP.
	code, body := ts.get(t, "/t/"+lot.Code, "")
	if code != 200 {
		t.Fatalf("page: %d", code)
	}
	if strings.Contains(body, "<script>alert") || strings.Contains(body, "<i>9</i>") || !strings.Contains(body, html.EscapeString(baseName)) {
		t.Errorf("page does not escape user text")
	}
	for _, private := range []string{"LY-TRK-0109", "GZ-CS-0109", fmt.Sprintf("/lots/%d", lot.ID), "org_id"} {
		if strings.Contains(body, private) {
			t.Errorf("page shows %q", private)
		}
	}
	t.Logf("page: %d bytes", len(body))
	if len(body) > 40_000 {
		t.Errorf("page is %d bytes", len(body))
	}
	if code, body := ts.get(t, "/t/NOSUCHLOT0000", ""); code != 404 || !strings.Contains(body, "未找到该批次") || !strings.Contains(body, "We could not find this lot") {
		t.Errorf("unknown code: %d", code)
	}
	if code, body := ts.get(t, "/t/"+lot.Code+"/qr.svg", ""); code != 200 || !strings.HasPrefix(body, "<svg") || !strings.Contains(body, `<path fill="#000" d="M`) {
		t.Errorf("qr.svg: %d %.80s", code, body)
	}
	if code, body := ts.get(t, "/t/"+lot.Code+"/qr.png", ""); code != 200 || !strings.HasPrefix(body, "\x89PNG") {
		t.Errorf("qr.png: %d", code)
	}

	// In Chromium at phone size: the rendered page in Chinese, then in English through its switch.
	br := browsertest.New(t, 390, 844)
	br.Open(t, ts.URL+"/t/"+lot.Code)
	text := br.Text(t, "body")
	for _, want := range []string{"菜心", "油青甜菜心", baseName, "上杭县", "绿色食品", "FJSH-2026-0042", v.ZH, "0–4 °C", "12 分钟",
		"装车起运", "卸车", "入库冷藏", "到货验收", "广州江南果菜批发市场", `冷藏车 <i>9</i> & "快线"`, "7.5 °C", "English"} {
		if !strings.Contains(text, want) {
			t.Errorf("page (zh) lacks %q", want)
		}
	}
	for sel, want := range map[string]int{"#chart svg": 1, "#chart rect.band": 1, "#chart polyline.mean": 2, "#chart polygon.range": 2,
		"#chart g.excursion": 1, "#chart line.sep": 1, "#journey li": 5, "#excursions tr": 2, "script": 0} {
		if n := br.Count(t, sel); n != want {
			t.Errorf("%s: %d elements, want %d", sel, n, want)
		}
	}
	// The page fits the phone's width: nothing scrolls sideways.
	if w := browsertest.Get(t, br, chromedp.Evaluate[int]("document.documentElement.scrollWidth")); w > 390 {
		t.Errorf("page is %d px wide on a 390 px screen", w)
	}
	shotZH := br.Screenshot(t, "zh")
	br.Do(t, chromedp.Click(chromedp.CSS("#lang")), chromedp.WaitVisible(chromedp.CSS("#verdict")))
	text = br.Text(t, "body")
	for _, want := range []string{"Choy sum", "Cold-chain verdict", v.EN, "Mean kinetic temperature", "Loaded onto a reefer truck",
		"Received by the buyer", "Green Food", "中文"} {
		if !strings.Contains(text, want) {
			t.Errorf("page (en) lacks %q", want)
		}
	}
	shotEN := br.Screenshot(t, "en")
	for _, p := range []string{shotZH, shotEN} {
		if st, err := os.Stat(p); err != nil || st.Size() < 10_000 {
			t.Errorf("screenshot %s: %v", p, err)
		}
	}
}

// `suilong demo` twice: the demo lots exist once, with their journeys, readings and the verdicts the README
// promises (DEMOLY000002 had its truck's door open: one 35-minute excursion; the others kept the cold chain).
func TestTraceDemoIsIdempotent(t *testing.T) {
	dbURL := pgtest.CreateDB(t)
	ic := influxtest.New(t)
	for range 2 {
		cli, kctx := parseCLI(t, "demo", "--database-url", dbURL, "--influx-url", ic.URL, "--influx-bucket", ic.Bucket, "--data-dir", t.TempDir())
		g := &Globals{Ctx: context.Background(), Cfg: &cli.Config, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Stdout: io.Discard, kctx: kctx}
		if err := cli.Demo.Run(g); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	db, err := pg.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc := trace.NewService(trace.NewStore(db), nil, nil, nil, influxw.NewStore(ic), trace.NewURIs("http://x"), nil, nil)
	var n int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM lot_events`).Scan(&n); err != nil || n != 6+6+4 { // harvest, loads and unloads, receipt
		t.Fatalf("%d events after two demo runs (%v)", n, err)
	}
	// The scheme's demo: three bases certified, one within 30 days of its end, and the first lot tested.
	var certs, soon, tests int
	if err := db.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE valid_until <= current_date + 30),
		(SELECT count(*) FROM lot_inspections i JOIN lots l ON l.id = i.lot_id WHERE l.code = 'DEMOLY000001' AND i.result = 'pass')
		FROM base_certifications`).Scan(&certs, &soon, &tests); err != nil || certs != 3 || soon != 1 || tests != 1 {
		t.Errorf("scheme demo: %d certificates, %d expiring soon, %d inspections (%v)", certs, soon, tests, err)
	}
	for code, want := range map[string]string{"DEMOLY000001": "全程冷链达标", "DEMOLY000002": "温度超标 1 次，累计 35 分钟超出 0–4 °C", "DEMOLY000003": "全程冷链达标"} {
		r, err := svc.PublicReport(ctx, code)
		if err != nil {
			t.Fatalf("%s: %v", code, err)
		}
		if r.Compliance.Verdict.ZH != want || r.Custody.State != trace.Delivered {
			t.Errorf("%s: %s %+v", code, r.Custody.State, r.Compliance.Verdict)
		}
	}

	// What ingest asks through bandSource: the band of what a truck carried, and nothing when it was empty.
	cli, _ := parseCLI(t, "demo", "--database-url", dbURL, "--influx-url", ic.URL, "--influx-bucket", ic.Bucket)
	m := NewMain(&cli.Config, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{})
	if err := m.openCore(ctx, false); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	r, err := svc.PublicReport(ctx, "DEMOLY000002")
	if err != nil {
		t.Fatal(err)
	}
	truck := r.Custody.Legs[1]
	bs := bandSource{m.Trace.Store}
	if b, ok, err := bs.Band(ctx, truck.AssetID, truck.From.Add(time.Hour)); err != nil || !ok || *b.MinC != 0 || *b.MaxC != 4 {
		t.Errorf("band in %s during the leg: %+v %v %v", truck.AssetID, b, ok, err)
	}
	if _, ok, err := bs.Band(ctx, truck.AssetID, truck.To.Add(time.Hour)); err != nil || ok {
		t.Errorf("band in %s after the leg: %v %v", truck.AssetID, ok, err)
	}
}
