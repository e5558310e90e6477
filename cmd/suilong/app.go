package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/suilong/suilong/api"
	"github.com/suilong/suilong/api/web"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/broker"
	"github.com/suilong/suilong/internal/influx"
	"github.com/suilong/suilong/internal/pg"
)

// App holds the connections that the areas' parts are wired with.
type App struct {
	Cfg      *Config
	Log      *slog.Logger
	DB       *pgxpool.Pool
	Influx   *influx.Client
	Broker   *broker.Broker // nil when an external broker is used
	Auth     *auth.Store
	Registry *prometheus.Registry
	Version  string
	// DrainTimeout bounds a stop of each part (serve's --drain-timeout).
	DrainTimeout time.Duration

	webOnce sync.Once
	site    *web.Site
}

// MQTTURL is the broker the platform's own clients connect to: the external one, or the embedded one.
func (a *App) MQTTURL() string {
	if a.Cfg.MQTTURL != "" {
		return a.Cfg.MQTTURL
	}
	if a.Broker != nil {
		return a.Broker.URL()
	}
	if plainListen(a.Cfg.MQTTListen) == "" { // a TLS-only embedded broker of a running serve
		return "ssl://" + a.Cfg.Broker.TLSListen
	}
	return "tcp://" + a.Cfg.MQTTListen
}

// DataPath is a path under the data directory.
func (a *App) DataPath(elem ...string) string {
	return filepath.Join(append([]string{a.Cfg.DataDir}, elem...)...)
}

// part is one area's wiring, registered from its wire_<area>.go. Every field is optional.
type part struct {
	Name string
	// Hooks are added to the embedded broker (authentication, ACL).
	Hooks func(a *App) ([]broker.Hook, error)
	// Absent is called by serve, after the embedded broker started, when the part does not run in this process.
	Absent func(a *App)
	// Module adds HTTP routes.
	Module func(a *App) (api.Module, error)
	// Run does background work until ctx ends (ingest's subscriber and rules).
	Run func(ctx context.Context, a *App) error
	// Demo loads demo data; it must be idempotent.
	Demo func(ctx context.Context, a *App) error
	// Sim runs the gateway simulator against the demo gateways until ctx ends (serve --sim).
	Sim func(ctx context.Context, a *App) error
}

// parts in wiring order: matching first (products are everyone's), then ingest, trace, plan.
var parts []part

var partOrder = map[string]int{"matching": 1, "ingest": 2, "trace": 3, "plan": 4}

func registerPart(p part) {
	parts = append(parts, p)
	for i := len(parts) - 1; i > 0 && partOrder[parts[i].Name] < partOrder[parts[i-1].Name]; i-- {
		parts[i], parts[i-1] = parts[i-1], parts[i]
	}
}

// openApp connects PostgreSQL and InfluxDB. The broker is started by serve, which alone needs it.
func openApp(ctx context.Context, g *Globals) (*App, error) {
	db, err := pg.Open(ctx, g.Cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("%w (set SUILONG_DATABASE_URL, or run deploy/local/up.sh)", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &App{
		Cfg:      g.Cfg,
		Log:      g.Log,
		DB:       db,
		Influx:   influx.New(influx.Config{URL: g.Cfg.InfluxURL, Token: g.Cfg.InfluxToken, Org: g.Cfg.InfluxOrg, Bucket: g.Cfg.InfluxBucket}),
		Auth:     auth.NewStore(db),
		Registry: reg,
		Version:  version,
	}, nil
}

// Close releases the connections and stops the broker.
func (a *App) Close() error {
	var err error
	if a.Broker != nil {
		err = a.Broker.Close()
	}
	if a.Influx != nil {
		a.Influx.Close()
	}
	if a.DB != nil {
		a.DB.Close()
	}
	return err
}

// web returns the App's signed-in web (sessions, sign-in, the pages' layout), built once.
func (a *App) web() *web.Site {
	a.webOnce.Do(func() {
		a.site = web.New(web.Deps{
			Auth:          a.Auth,
			Sessions:      auth.SessionPolicy{Idle: a.Cfg.Plan.SessionIdle, Absolute: a.Cfg.Plan.SessionMax},
			SecureCookies: strings.HasPrefix(strings.ToLower(a.Cfg.PublicBaseURL), "https://"),
			Log:           a.Log.With("area", "web"),
			Registry:      a.Registry,
		})
	})
	return a.site
}

// checks are the readiness checks of /readyz.
func (a *App) checks() []api.Check {
	return []api.Check{
		{Name: "postgresql", Fn: func(ctx context.Context) error { return a.DB.Ping(ctx) }},
		{Name: "influxdb", Fn: a.Influx.Ping},
		{Name: "mqtt", Fn: func(ctx context.Context) error {
			if a.Broker != nil {
				return a.Broker.Ping()
			}
			return pingTCP(ctx, a.Cfg.MQTTURL)
		}},
		ingestHealth(a),
	}
}

var errNoPart = errors.New("no such part")
