package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/auth/authtest"
	"github.com/suilong/suilong/internal/influx/influxtest"
	"github.com/suilong/suilong/internal/pg"
	"github.com/suilong/suilong/internal/pg/pgtest"
)

// Two API processes on one database, each with its round scheduler ticking every 100 ms: a round posted into
// through both closes by itself and runs once, and the two processes' metrics count that one run.
func TestTwoReplicasRunARoundOnceAtItsClose(t *testing.T) {
	dbURL := pgtest.CreateDB(t)
	ic := influxtest.New(t)
	a := startServeOn(t, dbURL, ic, "--only", "api", "--matching-round-tick", "100ms")
	b := startServeOn(t, dbURL, ic, "--only", "api", "--matching-round-tick", "100ms")
	ctx := context.Background()
	db, err := pg.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, coord := authtest.Org(t, db, "广州市协作办", auth.RoleCoordinator)
	_, base := authtest.Org(t, db, "上杭县蛟洋蔬菜专业合作社", auth.RoleBase)
	_, buyer := authtest.Org(t, db, "广州江南果菜批发市场", auth.RoleBuyer)
	call := func(srv *testServer, method, path, key, body string, want int) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, bytes.NewBufferString(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		if res.StatusCode != want {
			t.Fatalf("%s %s = %d, want %d: %s", method, path, res.StatusCode, want, raw)
		}
		var out map[string]any
		_ = json.Unmarshal(raw, &out)
		return out
	}
	call(a, "POST", "/api/v1/products", coord, `{"name":"choy-sum","shelf_life_hours":72}`, 201)
	call(a, "POST", "/api/v1/lanes", coord, `{"origin":"shanghang","destination":"jiangnan-market","cost_per_kg":0.40,"transit_hours":7}`, 201)
	now := time.Now().UTC()
	ts := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339Nano) }
	round := call(a, "POST", "/api/v1/rounds", coord, fmt.Sprintf(`{"name":"两台服务器 two servers","opens_at":%q,"closes_at":%q}`,
		ts(-time.Minute), ts(2*time.Second)), 201)
	id := int64(round["id"].(float64))
	call(b, "POST", "/api/v1/offers", base, fmt.Sprintf(`{"product":"choy-sum","grade":1,"quantity_kg":1000,"min_price_per_kg":3.20,
		"origin":"shanghang","harvested_at":%q,"round_id":%d}`, ts(-time.Hour), id), 201)
	call(a, "POST", "/api/v1/demands", buyer, fmt.Sprintf(`{"product":"choy-sum","min_grade":1,"quantity_kg":600,"max_price_per_kg":5.00,
		"destination":"jiangnan-market","round_id":%d}`, id), 201)

	path := "/api/v1/rounds/" + strconv.FormatInt(id, 10)
	for deadline := time.Now().Add(15 * time.Second); call(b, "GET", path, base, "", 200)["status"] != "closed"; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the round did not close by itself")
		}
	}
	time.Sleep(400 * time.Millisecond) // both schedulers tick a few more times
	var runs int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM matching_runs WHERE round_id = $1`, id).Scan(&runs); err != nil {
		t.Fatal(err)
	}
	r := call(a, "GET", path, coord, "", 200)
	if runs != 1 || len(r["run_ids"].([]any)) != 1 {
		t.Fatalf("%d runs of the round, want 1: %v", runs, r)
	}
	rep := call(b, "GET", path+"/report", coord, "", 200)
	if tot := rep["totals"].(map[string]any); tot["matched_kg"] != 600.0 || tot["proposed_kg"] != 600.0 {
		t.Fatalf("the report after the close: %v", tot)
	}
	counted := 0
	metric := regexp.MustCompile(`(?m)^suilong_matching_round_runs_total\{kind="close"\} (\d+)$`)
	for _, srv := range []*testServer{a, b} {
		res, err := http.Get(srv.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if m := metric.FindSubmatch(body); m != nil {
			n, _ := strconv.Atoi(string(m[1]))
			counted += n
		}
	}
	if counted != 1 {
		t.Fatalf("the replicas' metrics count %d runs at a close, want 1", counted)
	}
}

// `suilong demo` twice opens one trading round, at least a day from its close, with the demo offer in it and
// the canteens' standing demand.
func TestDemoOpensOneRound(t *testing.T) {
	dbURL := pgtest.CreateDB(t)
	ic := influxtest.New(t)
	for range 2 {
		if _, err := run(t, "", "demo", "--database-url", dbURL, "--influx-url", ic.URL, "--influx-bucket", ic.Bucket,
			"--data-dir", t.TempDir(), "--no-matching-demo-run"); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	db, err := pg.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rounds, offers, standing int
	var closes time.Time
	if err := db.QueryRow(ctx, `SELECT count(*), max(closes_at), (SELECT count(*) FROM offers WHERE round_id IS NOT NULL),
		(SELECT count(*) FROM standing_demands) FROM rounds WHERE status = 'open'`).Scan(&rounds, &closes, &offers, &standing); err != nil {
		t.Fatal(err)
	}
	if rounds != 1 || offers != 1 || standing != 1 || time.Until(closes) < 23*time.Hour {
		t.Fatalf("after two demos: %d open rounds closing %s, %d offers in them, %d standing demands", rounds, closes, offers, standing)
	}
}
