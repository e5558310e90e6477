package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api"
	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/auth/authtest"
	"github.com/suilong/suilong/internal/pg/pgtest"
)

// panicky is a module with routes that misbehave, to test the middleware.
type panicky struct{}

func (panicky) Routes(v1 *gin.RouterGroup, _ *gin.Engine) {
	v1.GET("/boom", func(*gin.Context) { panic("kaboom") })
	v1.GET("/staff-only", rest.RequireRole(auth.RoleCoordinator), func(c *gin.Context) { c.JSON(200, rest.Principal(c)) })
}

type fixture struct {
	srv      *httptest.Server
	logs     *bytes.Buffer
	adminKey string
	baseKey  string
	baseOrg  auth.Org
}

func newFixture(t *testing.T) *fixture {
	db := pgtest.New(t)
	_, adminKey := authtest.Org(t, db, "广州市对口办 admin", auth.RoleAdmin)
	baseOrg, baseKey := authtest.Org(t, db, "上杭县蜜柚合作社", auth.RoleBase)
	logs := &bytes.Buffer{}
	s := api.New(api.Options{
		Logger:  slog.New(slog.NewTextHandler(logs, nil)),
		Auth:    auth.NewStore(db),
		Modules: []api.Module{panicky{}},
		Checks: []api.Check{
			{Name: "postgresql", Fn: func(ctx context.Context) error { return db.Ping(ctx) }},
		},
	})
	srv := httptest.NewServer(s.Engine)
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, logs: logs, adminKey: adminKey, baseKey: baseKey, baseOrg: baseOrg}
}

func (f *fixture) do(t *testing.T, method, path, key, body string) (*http.Response, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, f.srv.URL+path, rd)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp, m
}

func wantProblem(t *testing.T, resp *http.Response, doc map[string]any, status int, code string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d (%v)", resp.StatusCode, status, doc)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q, want application/problem+json", ct)
	}
	if doc["code"] != code || doc["status"] != float64(status) || doc["title"] == "" {
		t.Fatalf("problem %v, want code %s", doc, code)
	}
}

func TestAuthentication(t *testing.T) {
	f := newFixture(t)
	t.Run("no credentials is 401", func(t *testing.T) {
		resp, doc := f.do(t, "GET", "/api/v1/orgs", "", "")
		wantProblem(t, resp, doc, 401, "unauthorized")
		if resp.Header.Get("WWW-Authenticate") == "" {
			t.Fatal("401 without WWW-Authenticate")
		}
	})
	t.Run("bad key is 401", func(t *testing.T) {
		resp, doc := f.do(t, "GET", "/api/v1/orgs", "sl_nope_nope", "")
		wantProblem(t, resp, doc, 401, "unauthorized")
	})
	t.Run("unknown route under v1 without key is still 401", func(t *testing.T) {
		resp, doc := f.do(t, "GET", "/api/v1/orgs/1/keys", "", "")
		wantProblem(t, resp, doc, 401, "unauthorized")
	})
	t.Run("wrong role is 403", func(t *testing.T) {
		resp, doc := f.do(t, "GET", "/api/v1/orgs", f.baseKey, "")
		wantProblem(t, resp, doc, 403, "forbidden")
		resp, doc = f.do(t, "GET", "/api/v1/staff-only", f.baseKey, "")
		wantProblem(t, resp, doc, 403, "forbidden")
	})
	t.Run("right role passes", func(t *testing.T) {
		resp, doc := f.do(t, "GET", "/api/v1/orgs", f.adminKey, "")
		if resp.StatusCode != 200 || doc["total"] != float64(2) {
			t.Fatalf("%d %v", resp.StatusCode, doc)
		}
	})
	t.Run("keys never appear in logs", func(t *testing.T) {
		for _, k := range []string{f.adminKey, f.baseKey} {
			if strings.Contains(f.logs.String(), k) || strings.Contains(f.logs.String(), k[strings.LastIndexByte(k, '_')+1:]) {
				t.Fatal("an API key appears in the logs")
			}
		}
	})
}

func TestOrgsAndKeys(t *testing.T) {
	f := newFixture(t)
	resp, doc := f.do(t, "POST", "/api/v1/orgs", f.adminKey, `{"name":"江南果菜批发市场","role":"buyer"}`)
	if resp.StatusCode != 201 {
		t.Fatalf("create org: %d %v", resp.StatusCode, doc)
	}
	id := int64(doc["id"].(float64))

	resp, doc = f.do(t, "POST", "/api/v1/orgs", f.adminKey, `{"name":"","role":"farmer"}`)
	wantProblem(t, resp, doc, 422, "unprocessable")
	if errs := doc["errors"].([]any); len(errs) != 2 {
		t.Fatalf("want errors for name and role, got %v", errs)
	}
	resp, doc = f.do(t, "POST", "/api/v1/orgs", f.adminKey, `{"name":"x","role":"buyer","colour":"red"}`)
	wantProblem(t, resp, doc, 400, "invalid")
	if e := doc["errors"].([]any)[0].(map[string]any); e["field"] != "colour" {
		t.Fatalf("want the unknown field named, got %v", e)
	}
	resp, doc = f.do(t, "POST", "/api/v1/orgs", f.adminKey, `{"name":"x","role":`)
	wantProblem(t, resp, doc, 400, "invalid")
	resp, doc = f.do(t, "POST", "/api/v1/orgs", f.adminKey, `{"name":"江南果菜批发市场","role":"buyer"}`)
	wantProblem(t, resp, doc, 409, "conflict")

	// The admin issues the buyer a key; it works once shown and is never listed again.
	resp, doc = f.do(t, "POST", "/api/v1/orgs/"+itoa(id)+"/keys", f.adminKey, `{"label":"erp"}`)
	if resp.StatusCode != 201 || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("create key: %d %v", resp.StatusCode, doc)
	}
	buyerKey := doc["key"].(string)
	resp, doc = f.do(t, "GET", "/api/v1/orgs/"+itoa(id), buyerKey, "")
	if resp.StatusCode != 200 || doc["name"] != "江南果菜批发市场" {
		t.Fatalf("buyer reads itself: %d %v", resp.StatusCode, doc)
	}
	resp, doc = f.do(t, "GET", "/api/v1/orgs/"+itoa(id)+"/keys", buyerKey, "")
	if resp.StatusCode != 200 || strings.Contains(toJSON(doc), buyerKey[len(buyerKey)-20:]) {
		t.Fatalf("key list: %d %v", resp.StatusCode, doc)
	}
	// Another organisation cannot see or touch the buyer's keys.
	resp, doc = f.do(t, "GET", "/api/v1/orgs/"+itoa(id)+"/keys", f.baseKey, "")
	wantProblem(t, resp, doc, 404, "not_found")
	resp, doc = f.do(t, "POST", "/api/v1/orgs/"+itoa(id)+"/keys", f.baseKey, "")
	wantProblem(t, resp, doc, 404, "not_found")

	// Revoking the key stops it.
	keyID := int64(doc2(t, f, buyerKey, id)["id"].(float64))
	resp, _ = f.do(t, "DELETE", "/api/v1/orgs/"+itoa(id)+"/keys/"+itoa(keyID), f.adminKey, "")
	if resp.StatusCode != 204 {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	resp, doc = f.do(t, "GET", "/api/v1/orgs/"+itoa(id), buyerKey, "")
	wantProblem(t, resp, doc, 401, "unauthorized")
}

func doc2(t *testing.T, f *fixture, key string, org int64) map[string]any {
	_, doc := f.do(t, "GET", "/api/v1/orgs/"+itoa(org)+"/keys", key, "")
	return doc["items"].([]any)[0].(map[string]any)
}

func TestPanicIs500ProblemAndServerSurvives(t *testing.T) {
	f := newFixture(t)
	resp, doc := f.do(t, "GET", "/api/v1/boom", f.adminKey, "")
	wantProblem(t, resp, doc, 500, "internal")
	if strings.Contains(toJSON(doc), "kaboom") {
		t.Fatal("panic value leaked to the client")
	}
	if !strings.Contains(f.logs.String(), "kaboom") {
		t.Fatal("panic not logged")
	}
	if resp, _ := f.do(t, "GET", "/healthz", "", ""); resp.StatusCode != 200 {
		t.Fatal("server did not survive the panic")
	}
}

func TestOperationalRoutes(t *testing.T) {
	f := newFixture(t)
	resp, doc := f.do(t, "GET", "/readyz", "", "")
	if resp.StatusCode != 200 || doc["status"] != "ready" {
		t.Fatalf("readyz %d %v", resp.StatusCode, doc)
	}
	resp, _ = f.do(t, "GET", "/healthz", "", "")
	if resp.StatusCode != 200 || resp.Header.Get("X-Request-ID") == "" {
		t.Fatalf("healthz %d", resp.StatusCode)
	}
	f.do(t, "GET", "/api/v1/orgs", f.adminKey, "")
	mresp, _ := http.Get(f.srv.URL + "/metrics")
	body, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	if !strings.Contains(string(body), `suilong_http_requests_total{method="GET",route="/api/v1/orgs",status="200"} 1`) {
		t.Fatalf("metrics lack the request:\n%s", body)
	}
	resp, doc = f.do(t, "GET", "/nope", "", "")
	wantProblem(t, resp, doc, 404, "not_found")
}

func TestReadyzReportsFailingDependency(t *testing.T) {
	s := api.New(api.Options{Logger: slog.New(slog.DiscardHandler), Checks: []api.Check{
		{Name: "influxdb", Fn: func(context.Context) error { return errors.New("connection refused") }},
		{Name: "postgresql", Fn: func(context.Context) error { return nil }},
	}})
	w := httptest.NewRecorder()
	s.Engine.ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
	if w.Code != 503 || !strings.Contains(w.Body.String(), "connection refused") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

// Shutdown lets a request in flight finish.
func TestGracefulShutdownDrains(t *testing.T) {
	started := make(chan struct{})
	slow := moduleFunc(func(v1 *gin.RouterGroup, root *gin.Engine) {
		root.GET("/slow", func(c *gin.Context) {
			close(started)
			time.Sleep(500 * time.Millisecond)
			c.String(200, "done")
		})
	})
	s := api.New(api.Options{Addr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler), Modules: []api.Module{slow}})
	addr, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx) }()
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + addr.String() + "/slow")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		got <- string(b)
	}()
	<-started
	cancel()
	if body := <-got; body != "done" {
		t.Fatalf("request in flight got %q, want done", body)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}

type moduleFunc func(v1 *gin.RouterGroup, root *gin.Engine)

func (m moduleFunc) Routes(v1 *gin.RouterGroup, root *gin.Engine) { m(v1, root) }

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func toJSON(v any) string { b, _ := json.Marshal(v); return string(b) }
