package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/auth/authtest"
	"github.com/suilong/suilong/internal/influx/influxtest"
	"github.com/suilong/suilong/internal/pg"
	"github.com/suilong/suilong/internal/pg/pgtest"
)

// Two API processes on one database behave as one: a coordinator signs in on one and goes on on the other (the
// session and its CSRF token live in PostgreSQL), signs out on the second and is out on the first; two
// matching runs started at the same moment on the two are serialised (the second waits, then finds nothing left
// to allocate twice); and the jobs both schedule run.
func TestTwoAPIReplicasBehaveAsOne(t *testing.T) {
	dbURL := pgtest.CreateDB(t)
	ic := influxtest.New(t)
	a := startServeOn(t, dbURL, ic, "--only", "api")
	b := startServeOn(t, dbURL, ic, "--only", "api")
	if _, err := run(t, "", "demo", "--database-url", dbURL, "--influx-url", ic.URL, "--influx-bucket", ic.Bucket, "--data-dir", t.TempDir(),
		"--no-matching-demo-run"); err != nil {
		t.Fatal(err)
	}

	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(base, path string) (int, string) {
		t.Helper()
		resp, err := hc.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	post := func(base, path string, form url.Values) int {
		t.Helper()
		resp, err := hc.PostForm(base+path, form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// The cookie jar keys cookies by host, and both replicas are 127.0.0.1: one browser, two servers.
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	_, page := get(a.URL, "/login")
	m := csrf.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no sign-in form")
	}
	if code := post(a.URL, "/login", url.Values{"csrf": {m[1]}, "username": {demoUser}, "password": {demoPassword}, "next": {"/plan"}}); code != 303 {
		t.Fatalf("sign-in on replica A: %d", code)
	}
	code, page := get(b.URL, "/plan/items/T4.6")
	if code != 200 || !strings.Contains(page, "演示协调员") {
		t.Fatalf("replica B does not know replica A's session: %d", code)
	}
	m = csrf.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no form on the item page")
	}
	// A form of B's page posted to A: the session's CSRF token is the same everywhere.
	if code := post(a.URL, "/plan/items/T4.6/updates", url.Values{"csrf": {m[1]}, "date": {"2026-11-30"}, "note": {"两台服务器同一会话 one session, two servers"}}); code != 303 {
		t.Fatalf("a form from replica B's page posted to replica A: %d", code)
	}
	if code := post(b.URL, "/plan/items/T4.6/updates", url.Values{"csrf": {"forged"}, "date": {"2026-11-30"}, "note": {"x"}}); code != 403 {
		t.Fatalf("a forged token on replica B: %d", code)
	}
	if code := post(b.URL, "/logout", url.Values{"csrf": {m[1]}}); code != 303 {
		t.Fatalf("sign-out on replica B: %d", code)
	}
	if code, _ := get(a.URL, "/plan"); code != 303 {
		t.Fatalf("replica A still serves the session signed out on B: %d", code)
	}

	// Two runs at once, one on each replica.
	ctx := context.Background()
	db, err := pg.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, key := authtest.Org(t, db, "广州市对口支援协作办 runs", auth.RoleCoordinator)
	var wg sync.WaitGroup
	results := make([]struct {
		code int
		run  struct {
			MatchedKg int64 `json:"matched_kg"`
		}
	}, 2)
	for i, base := range []string{a.URL, b.URL} {
		wg.Go(func() {
			req, _ := http.NewRequest("POST", base+"/api/v1/matching/runs", nil)
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			results[i].code = resp.StatusCode
			_ = json.NewDecoder(resp.Body).Decode(&results[i].run)
		})
	}
	wg.Wait()
	if results[0].code != 201 || results[1].code != 201 {
		t.Fatalf("runs: %d and %d", results[0].code, results[1].code)
	}
	first, second := results[0].run.MatchedKg, results[1].run.MatchedKg
	if min(first, second) != 0 || max(first, second) == 0 {
		t.Fatalf("two simultaneous runs matched %d and %d kg: the second must wait and find the pool allocated", first, second)
	}
	var allocated, offered int64
	if err := db.QueryRow(ctx, `SELECT coalesce(sum(quantity_kg), 0) FROM allocations`).Scan(&allocated); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(ctx, `SELECT coalesce(sum(quantity_kg), 0) FROM offers`).Scan(&offered); err != nil {
		t.Fatal(err)
	}
	if allocated != max(first, second) || allocated > offered {
		t.Fatalf("%d kg allocated of %d offered after runs of %d and %d kg", allocated, offered, first, second)
	}

	// Both replicas schedule the expired-session cleanup through pg.RunDue (TestRunDue: once per period
	// whatever the replicas): it is recorded as run.
	var last time.Time
	for deadline := time.Now().Add(10 * time.Second); last.IsZero() && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		_ = db.QueryRow(ctx, `SELECT last_run FROM scheduled_jobs WHERE name = 'suilong.expired-sessions'`).Scan(&last)
	}
	if last.IsZero() {
		t.Fatal("the replicas never ran the expired-session cleanup")
	}
}
