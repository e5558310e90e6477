package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/suilong/suilong/api"
	"github.com/suilong/suilong/internal/influx/influxtest"
	"github.com/suilong/suilong/internal/pg"
	"github.com/suilong/suilong/internal/pg/pgtest"
)

func TestServeIsReadyAndStopsCleanly(t *testing.T) {
	ts := startServe(t)
	code, body := ts.get(t, "/readyz", "")
	if code != 200 {
		t.Fatalf("readyz %d %s", code, body)
	}
	var doc struct {
		Checks []struct {
			Name string
			OK   bool
		}
	}
	_ = json.Unmarshal([]byte(body), &doc)
	var names []string
	for _, c := range doc.Checks {
		if c.OK {
			names = append(names, c.Name)
		}
	}
	slices.Sort(names)
	if strings.Join(names, ",") != "influxdb,ingest_writes,mqtt,postgresql" {
		t.Fatalf("ready checks %v, want influxdb, ingest_writes, mqtt and postgresql ok", names)
	}
	if code, _ := ts.get(t, "/api/v1/orgs", ""); code != 401 {
		t.Fatalf("unauthenticated /api/v1/orgs = %d, want 401", code)
	}
	ts.Stop(t)
	if !ts.Logs.Contains("suilong stopped") {
		t.Fatalf("no orderly stop in logs:\n%s", ts.Logs)
	}
}

func TestConfigLogMasksSecrets(t *testing.T) {
	cli, kctx := parseCLI(t, "serve", "--database-url", "postgres://app:hunter2@db.example:5432/suilong", "--influx-token", "tok-secret", "--mqtt-password", "mq-secret")
	logs := &syncBuffer{}
	g := &Globals{Cfg: &cli.Config, Log: slog.New(slog.NewTextHandler(logs, nil)), kctx: kctx}
	g.logConfig()
	out := logs.String()
	for _, secret := range []string{"hunter2", "tok-secret", "mq-secret"} {
		if strings.Contains(out, secret) {
			t.Fatalf("logged config contains %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "db.example") || !strings.Contains(out, "http-addr=127.0.0.1:8080") {
		t.Fatalf("logged config lacks non-secret settings:\n%s", out)
	}
}

func TestEnvVariablesConfigure(t *testing.T) {
	t.Setenv("SUILONG_HTTP_ADDR", "127.0.0.1:9999")
	t.Setenv("SUILONG_LOG_FORMAT", "json")
	cli, _ := parseCLI(t, "version")
	if cli.HTTPAddr != "127.0.0.1:9999" || cli.LogFormat != "json" {
		t.Fatalf("env not applied: %+v", cli.Config)
	}
	cli, _ = parseCLI(t, "--http-addr", "127.0.0.1:7777", "version")
	if cli.HTTPAddr != "127.0.0.1:7777" {
		t.Fatal("flag does not override env")
	}
}

// The OpenAPI document lists exactly the routes the server has: every /api/v1 route and operational route is
// documented, and nothing documented is missing.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	ic := influxtest.New(t)
	cli, _ := parseCLI(t, "serve", "--database-url", pgtest.CreateDB(t), "--influx-url", ic.URL, "--influx-bucket", ic.Bucket)
	m := NewMain(&cli.Config, slog.New(slog.DiscardHandler), Options{})
	if err := m.openCore(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s := api.New(api.Options{Logger: m.Log, Modules: m.modules()})
	spec, err := api.Spec()
	if err != nil {
		t.Fatal(err)
	}
	if spec["openapi"] == nil || spec["info"] == nil {
		t.Fatal("spec lacks openapi/info")
	}
	paths, _ := spec["paths"].(map[string]any)
	param := regexp.MustCompile(`:([A-Za-z_]+)|\*([A-Za-z_]+)`)
	routes := map[string]bool{}
	for _, r := range s.Engine.Routes() {
		p := param.ReplaceAllString(r.Path, "{$1$2}")
		if strings.HasPrefix(p, "/api/") || p == "/healthz" || p == "/readyz" || p == "/metrics" {
			key := p + " " + strings.ToLower(r.Method)
			routes[key] = true
			op, _ := paths[p].(map[string]any)
			if op == nil || op[strings.ToLower(r.Method)] == nil {
				t.Errorf("route %s %s is not in the OpenAPI spec", r.Method, p)
			}
		}
	}
	for p, v := range paths {
		ops, _ := v.(map[string]any)
		for m := range ops {
			if m == "parameters" || m == "summary" || m == "description" {
				continue
			}
			if strings.HasPrefix(p, "/api/") || p == "/healthz" || p == "/readyz" || p == "/metrics" {
				if !routes[p+" "+m] {
					t.Errorf("spec documents %s %s, which the server does not have", strings.ToUpper(m), p)
				}
			}
		}
	}
}

func TestMigrateTwiceIsNoop(t *testing.T) {
	db := pgtest.New(t) // migrated once
	if err := pg.Migrate(context.Background(), db, nil); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
}
