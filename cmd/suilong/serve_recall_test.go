package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/auth/authtest"
	"github.com/suilong/suilong/internal/browsertest"
	"github.com/suilong/suilong/internal/influx"
	"github.com/suilong/suilong/internal/pg"
	"github.com/suilong/suilong/trace"
)

// writeReadings stores one reading a minute of one sensor of the asset in [from, to).
func writeReadings(t *testing.T, c *influx.Client, asset string, from, to time.Time, temp func(time.Time) float64) {
	t.Helper()
	var b strings.Builder
	for ts := from; ts.Before(to); ts = ts.Add(time.Minute) {
		fmt.Fprintf(&b, "reading,asset_id=%s,asset_kind=truck,sensor_id=%s-A,gateway_id=GW temp_c=%g %d\n", asset, asset, temp(ts), ts.UnixNano())
	}
	if err := c.Write().WriteRecord(context.Background(), b.String()); err != nil {
		t.Fatal(err)
	}
}

// A recall and a lot's records end to end: a base records a journey with handover temperatures and its
// 合格证; the public record (/t/{code}/report) prints on A4 in Chromium with every reading, the handover outside
// the band flagged, and the SHA-256 of report.json, which is the same on every fetch; the base recalls the lot
// and finds the lot that shared the truck; the CSV opens in Excel (BOM); a coordinator sees the printable
// recall page; EPCIS: the lot's export captured into a fresh platform gives the same custody, twice captured
// changes nothing, and an impossible journey is refused naming the event.
func TestRecallAndRecords(t *testing.T) {
	ts := startServe(t)
	ctx := context.Background()
	db := ts.DB(t)
	ensureProduct(t, db)
	coordOrg, admin := authtest.Org(t, db, "龙岩市商务局", auth.RoleCoordinator)
	baseOrg, baseKey := authtest.Org(t, db, "上杭县蛟洋蔬菜合作社", auth.RoleBase)
	_, otherKey := authtest.Org(t, db, "长汀县河田合作社", auth.RoleBase)
	must := func(ts *testServer, method, path, key string, body any, want int) []byte {
		t.Helper()
		code, b := ts.call(t, method, path, key, body)
		if code != want {
			t.Fatalf("%s %s = %d, want %d: %s", method, path, code, want, b)
		}
		return b
	}
	must(ts, "POST", "/api/v1/assets", admin, map[string]any{"id": "LY-TRK-0201", "kind": "truck", "name": "闽F 冷藏车 201", "city": "龙岩"}, 201)
	now := time.Now().Truncate(time.Minute)
	at := func(h float64) time.Time { return now.Add(-time.Duration(h * float64(time.Hour))) }
	ic := influx.New(influx.Config{URL: ts.Cfg.InfluxURL, Bucket: ts.Cfg.InfluxBucket})
	defer ic.Close()
	writeReadings(t, ic, "LY-TRK-0201", at(6), at(1), func(x time.Time) float64 {
		if !x.Before(at(4)) && x.Before(at(3.8)) {
			return 6.5
		}
		return 2.5
	})
	type lotDoc struct {
		ID   int64
		Code string
	}
	var lot, other lotDoc
	json.Unmarshal(must(ts, "POST", "/api/v1/lots", baseKey, map[string]any{"product": "choy-sum", "quantity_kg": 1200, "base_name": "蛟洋基地",
		"county": "上杭县", "harvested_at": at(7), "certificate_no": "FJSH-2026-0099", "certificate_basis": "inspection_report",
		"certificate_issuer": "上杭县农产品检测站", "certificate_date": now.In(trace.CST).Format("2006-01-02"),
		"certificate_commitment": "不使用禁用农药，农药残留不超标"}, 201), &lot)
	code, b := ts.call(t, "POST", "/api/v1/lots", baseKey, map[string]any{"product": "choy-sum", "quantity_kg": 1, "base_name": "b",
		"county": "c", "harvested_at": at(7), "certificate_basis": "hearsay"})
	if code != 422 || !strings.Contains(string(b), `"field":"certificate_basis"`) {
		t.Errorf("bad certificate basis: %d %s", code, b)
	}
	ev := fmt.Sprintf("/api/v1/lots/%d/events", lot.ID)
	code, b = ts.call(t, "POST", ev, baseKey, map[string]any{"kind": "load", "at": at(5), "asset_id": "LY-TRK-0201", "handover_temp_c": 75, "measured_by": "张三"})
	if code != 422 || !strings.Contains(string(b), `"field":"handover_temp_c"`) {
		t.Errorf("handover at 75 °C: %d %s", code, b)
	}
	must(ts, "POST", ev, baseKey, map[string]any{"kind": "load", "at": at(5), "asset_id": "LY-TRK-0201", "handover_temp_c": 2.1, "measured_by": "张三"}, 201)
	must(ts, "POST", ev, baseKey, map[string]any{"kind": "unload", "at": at(2), "asset_id": "LY-TRK-0201", "handover_temp_c": 6.8, "measured_by": "王五"}, 201)
	json.Unmarshal(must(ts, "POST", "/api/v1/lots", otherKey, map[string]any{"product": "choy-sum", "quantity_kg": 300, "base_name": "河田基地",
		"county": "长汀县", "harvested_at": at(6)}, 201), &other)
	must(ts, "POST", fmt.Sprintf("/api/v1/lots/%d/events", other.ID), otherKey, map[string]any{"kind": "load", "at": at(4.5), "asset_id": "LY-TRK-0201"}, 201)

	// The record: deterministic JSON, its hash on the page.
	code1, json1 := ts.get(t, "/t/"+lot.Code+"/report.json", "")
	_, json2 := ts.get(t, "/t/"+lot.Code+"/report.json", "")
	if code1 != 200 || json1 != json2 {
		t.Fatalf("report.json %d; two fetches equal: %v", code1, json1 == json2)
	}
	var rec trace.Record
	if err := json.Unmarshal([]byte(json1), &rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.Legs) != 1 || len(rec.Legs[0].Readings) != 180 || len(rec.Handovers) != 2 || rec.Handovers[1].InBand ||
		rec.Certificate.Basis != trace.BasisInspectionReport || rec.Verdict.HandoversOutside != 1 || len(rec.Excursions) != 1 {
		t.Fatalf("record: %d legs, %d readings, handovers %+v, certificate %+v, verdict %+v", len(rec.Legs), len(rec.Legs[0].Readings),
			rec.Handovers, rec.Certificate, rec.Verdict)
	}
	if strings.Contains(json1, "LY-TRK-0201") || strings.Contains(json1, "generated") {
		t.Errorf("the public record shows asset ids or a generation time")
	}
	br := browsertest.New(t, 794, 1123) // A4 at 96 dpi
	br.Do(t, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"})
		return err
	}))
	br.Open(t, ts.URL+"/t/"+lot.Code+"/report")
	if got := br.Text(t, "#sha256"); got != trace.SHA256([]byte(json1)) {
		t.Errorf("page shows SHA-256 %s, report.json has %s", got, trace.SHA256([]byte(json1)))
	}
	text := br.Text(t, "body")
	for _, want := range []string{"委托检测合格", "上杭县农产品检测站", "FJSH-2026-0099", "6.8 °C 超标 outside", "王五", "交接时实测产品温度 1 次超出 0–4 °C",
		"平均动力学温度", "闽F 冷藏车 201", "S1 6.50"} {
		if !strings.Contains(text, want) {
			t.Errorf("record page lacks %q", want)
		}
	}
	if n := br.Count(t, ".readings span"); n != 180 {
		t.Errorf("record page shows %d readings, want 180", n)
	}
	if media := browsertest.Get(t, br, chromedp.Evaluate[bool]("matchMedia('print').matches")); !media {
		t.Error("print media not emulated")
	}
	br.Screenshot(t, "record-a4-print")

	// The recall, by the base, from its lot: both lots that shared the truck.
	var rc trace.Recall
	code, b = ts.call(t, "POST", "/api/v1/recalls", baseKey, map[string]any{"asset_id": "LY-TRK-0201", "from": at(6), "to": at(1)})
	if code != 403 || !strings.Contains(string(b), `"field":"lot_code"`) {
		t.Errorf("a base recalls a truck: %d %s", code, b)
	}
	json.Unmarshal(must(ts, "POST", "/api/v1/recalls", baseKey, map[string]any{"lot_code": lot.Code, "reason": "交接温度超标"}, 201), &rc)
	if len(rc.Lots) != 2 || rc.Lots[0].Code != lot.Code || !rc.Lots[1].Redacted || rc.Lots[0].PeakC == nil || *rc.Lots[0].PeakC != 6.5 ||
		rc.Lots[1].ExposureMinutes != 150 || rc.Status != trace.RecallOpen {
		t.Fatalf("recall: %+v", rc)
	}
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/v1/recalls/%d.csv", ts.URL, rc.ID), nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var csvBody bytes.Buffer
	csvBody.ReadFrom(resp.Body)
	resp.Body.Close()
	if csv := csvBody.String(); resp.StatusCode != 200 || !strings.HasPrefix(csv, "\ufeff召回 recall,") || !strings.Contains(csv, other.Code) ||
		!strings.Contains(csv, "长汀县河田合作社") || strings.Count(csv, "\n") != 3 {
		t.Errorf("CSV %d:\n%s", resp.StatusCode, csv)
	}
	must(ts, "POST", fmt.Sprintf("/api/v1/recalls/%d/status", rc.ID), baseKey, map[string]any{"status": "notified", "note": "已电话通知河田合作社"}, 200)
	must(ts, "GET", fmt.Sprintf("/api/v1/recalls/%d", rc.ID), otherKey, nil, 404)

	// The printable recall page, for a signed-in coordinator.
	if _, err := ts.Main.Auth.CreateUser(ctx, auth.NewUser{OrgID: coordOrg.ID, Username: "duty", DisplayName: "值班员", City: auth.CityLongyan,
		Password: "recall drill 2026"}); err != nil {
		t.Fatal(err)
	}
	bw := browsertest.New(t, 1100, 900)
	bw.Open(t, fmt.Sprintf("%s/ops/recalls/%d", ts.URL, rc.ID))
	bw.Do(t, chromedp.SendKeys(chromedp.CSS("#username"), "duty"), chromedp.SendKeys(chromedp.CSS("#password"), "recall drill 2026"),
		chromedp.Submit(chromedp.CSS("#password")), chromedp.WaitVisible(chromedp.CSS("#lots")))
	page := bw.Text(t, "body")
	for _, want := range []string{lot.Code, other.Code, "长汀县河田合作社", "未通知，请电话联系", "notified", "已电话通知河田合作社", "6.5 °C"} {
		if !strings.Contains(page, want) {
			t.Errorf("recall page lacks %q", want)
		}
	}
	bw.Screenshot(t, "recall")
	bw.Open(t, ts.URL+"/ops/recalls")
	if n := bw.Count(t, "#recalls tr"); n != 2 {
		t.Errorf("recall list has %d rows", n)
	}

	// EPCIS: the export captured into a fresh platform gives the same custody.
	must(ts, "POST", ev, baseKey, map[string]any{"kind": "receive", "at": at(1), "location": "广州江南果菜批发市场", "handover_temp_c": 3.0, "measured_by": "验收员"}, 201)
	export := must(ts, "GET", fmt.Sprintf("/api/v1/lots/%d/epcis", lot.ID), baseKey, nil, 200)
	custody := func(ts *testServer, key string, id int64) string {
		var r struct {
			Custody trace.Custody
			Events  []trace.Event
		}
		json.Unmarshal(must(ts, "GET", fmt.Sprintf("/api/v1/lots/%d/trace", id), key, nil, 200), &r)
		var out []string
		for _, l := range r.Custody.Legs {
			out = append(out, fmt.Sprintf("%s %s–%s", l.AssetID, l.From.UTC().Format(time.RFC3339), l.To.UTC().Format(time.RFC3339)))
		}
		for _, e := range r.Events {
			if e.HandoverTempC != nil {
				out = append(out, fmt.Sprintf("%s %.1f %s", e.Kind, *e.HandoverTempC, e.MeasuredBy))
			}
		}
		return fmt.Sprintf("%s %s %v", r.Custody.State, r.Custody.ReceivedAt.UTC().Format(time.RFC3339), out)
	}
	want := custody(ts, baseKey, lot.ID)

	fresh := startServe(t)
	fdb, err := pg.Open(ctx, fresh.Cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer fdb.Close()
	ensureProduct(t, fdb)
	_, fadmin := authtest.Org(t, fdb, "龙岩市商务局", auth.RoleCoordinator)
	fbase, fbaseKey := authtest.Org(t, fdb, "上杭县蛟洋蔬菜合作社", auth.RoleBase)
	must(fresh, "POST", "/api/v1/assets", fadmin, map[string]any{"id": "LY-TRK-0201", "kind": "truck", "name": "闽F 冷藏车 201", "city": "龙岩"}, 201)
	copyLot, err := trace.NewStore(fdb).CreateLot(ctx, trace.LotRecord{Code: lot.Code, OrgID: fbase.ID, Recorder: fbase.Name, ProductZH: "菜心",
		NewLot: trace.NewLot{Product: "choy-sum", Grade: 1, QuantityKg: 1200, BaseName: "蛟洋基地", County: "上杭县", HarvestedAt: at(7)}})
	if err != nil {
		t.Fatal(err)
	}
	capture := func(doc []byte, key string) (int, string) {
		req, _ := http.NewRequest("POST", fresh.URL+"/api/v1/epcis/capture", bytes.NewReader(doc))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/ld+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	if code, body := capture(export, fbaseKey); code != 201 || !strings.Contains(body, `"captured":3`) {
		t.Fatalf("capture: %d %s", code, body)
	}
	if got := custody(fresh, fbaseKey, copyLot.ID); got != want {
		t.Errorf("custody after capture\n got %s\nwant %s", got, want)
	}
	if code, body := capture(export, fbaseKey); code != 200 || !strings.Contains(body, `"unchanged":true`) || !strings.Contains(body, `"duplicates":3`) {
		t.Errorf("second capture: %d %s", code, body)
	}
	if code, body := capture([]byte(`{"type":"EPCISDocument"}`), fbaseKey); code != 422 {
		t.Errorf("invalid document: %d %s", code, body)
	}
	// An unload from a truck the lot is not in: refused, naming the event.
	bad := strings.ReplaceAll(string(export), `"eventID":"urn:uuid:`, `"eventID":"urn:uuid:0`)
	bad = strings.ReplaceAll(bad, `"eventID": "urn:uuid:`, `"eventID": "urn:uuid:0`)
	bad = strings.Replace(bad, `"bizStep": "loading"`, `"bizStep": "unloading"`, 1)
	if code, body := capture([]byte(bad), fbaseKey); code != 409 || !strings.Contains(body, "event 1 (eventID urn:uuid:0") || !strings.Contains(body, "epcisBody.eventList[1]") {
		t.Errorf("impossible journey: %d %s", code, body)
	}
	_ = baseOrg
}
