package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/suilong/suilong/api"
	"github.com/suilong/suilong/api/ingestapi"
	"github.com/suilong/suilong/api/marketapi"
	"github.com/suilong/suilong/api/matchingapi"
	"github.com/suilong/suilong/api/notifyapi"
	"github.com/suilong/suilong/api/opsapi"
	"github.com/suilong/suilong/api/planapi"
	"github.com/suilong/suilong/api/schemeapi"
	"github.com/suilong/suilong/api/traceapi"
	"github.com/suilong/suilong/api/web"
	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/ingest/influxw"
	"github.com/suilong/suilong/ingest/mqttauth"
	"github.com/suilong/suilong/ingest/mqttsub"
	"github.com/suilong/suilong/ingest/sim"
	"github.com/suilong/suilong/ingest/worker"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/broker"
	"github.com/suilong/suilong/internal/influx"
	"github.com/suilong/suilong/internal/pg"
	"github.com/suilong/suilong/matching"
	"github.com/suilong/suilong/notify"
	"github.com/suilong/suilong/plan"
	"github.com/suilong/suilong/trace"
)

// Parts are what --only chooses among. "api" serves every area's HTTP routes; an area's name serves its own
// ("ops": the duty officers' console and the notification routes; "matching": its API and the market pages); "ingest" also stores readings (the
// pipeline), and "rules" runs the cold-chain rules when this process holds their leadership. Without --only a
// process does all of it. With several ingest workers on an external broker, the workers run --only ingest and
// two or more processes --only rules (one leads, the others stand by): docs/scale.md.
var Parts = []string{"api", "matching", "ingest", "trace", "plan", "ops", "rules"}

// Options are serve's choices beyond the configuration (its flags).
type Options struct {
	Only         []string      `help:"Run only these parts (comma-separated: api, matching, ingest, trace, plan, ops, rules); default all. api serves every area's HTTP routes; ingest stores readings (e.g. --only ingest for ingest workers on a shared subscription); rules runs the cold-chain rules while this process leads them (one leader, the others stand by)." env:"SUILONG_ONLY"`
	Sim          bool          `help:"Also run the gateway simulator against the demo gateways, so readings keep arriving (make run)." env:"SUILONG_SIM"`
	NoMigrate    bool          `help:"Do not apply migrations at start." env:"SUILONG_NO_MIGRATE"`
	DrainTimeout time.Duration `default:"20s" help:"How long a stop may take: HTTP requests drain and ingest makes durable what it took, at the same time (what is not durable by then stays unacknowledged at the broker)." env:"SUILONG_DRAIN_TIMEOUT"`
}

func (o Options) serves(area string) bool {
	return len(o.Only) == 0 || slices.Contains(o.Only, "api") || slices.Contains(o.Only, area)
}

func (o Options) runsIngest() bool { return len(o.Only) == 0 || slices.Contains(o.Only, "ingest") }

func (o Options) runsRules() bool { return len(o.Only) == 0 || slices.Contains(o.Only, "rules") }

// ingestRole is what this process does with readings: store them, run the rules, or both.
func (o Options) ingestRole() (worker.Role, bool) {
	switch store, rules := o.runsIngest(), o.runsRules(); {
	case store && rules:
		return worker.RoleAll, true
	case store:
		return worker.RoleStore, true
	case rules:
		return worker.RoleRules, true
	}
	return "", false
}

// Main is the composition root: it builds each part of the platform once, in order (configuration →
// PostgreSQL → InfluxDB → broker → auth → matching → trace → plan → console and notifications → ingest → HTTP),
// runs them, and closes them.
// Every command uses it: serve builds all of it (Open), the others the domains only (openCore). Nothing else
// builds a part, so no part exists twice.
type Main struct {
	Cfg     *Config
	Log     *slog.Logger
	Options Options
	Version string

	Registry *prometheus.Registry
	DB       *pgxpool.Pool
	// IngestDB is ingest's own pool (SUILONG_DATABASE_INGEST_MAX_CONNS), opened by Open; nil where ingest shares DB.
	IngestDB    *pgxpool.Pool
	Influx      *influx.Client
	Readings    *influxw.Store
	Broker      *broker.Broker // nil with an external broker
	Auth        *auth.Store
	Web         *web.Site
	Matching    *matching.Store
	Trace       *trace.Service
	Plan        *plan.Service
	IngestStore *ingest.Store
	// Ingest is ingest's use cases (the registry, alarms, readings, who sees what).
	Ingest *ingest.Service
	// Console is the duty officers' view of the cold chain; Notify keeps channels and rules and delivers.
	Console *ingest.Console
	Notify  *notify.Service
	// Worker is the running pipeline, rules and their watcher; nil where this process does not run ingest.
	Worker *worker.Worker
	// Latest keeps each sensor's latest durable reading for the console; nil where ingest does not store.
	Latest *ingest.Latest
	// Late tells traceability of readings stored late; nil where ingest does not store.
	Late *ingest.Late

	gatewayAuth *mqttauth.Hook
	ingestBands bandSource // what ingest's rules ask of traceability, on ingest's pool
	dynsec      *mqttauth.DynSec
	source      *mqttsub.BrokerSource
	publisher   ingest.Publisher
	closePub    func()
	http        *api.Server
	httpAddr    net.Addr
}

// NewMain returns a Main for the configuration; Open or openCore builds it.
func NewMain(cfg *Config, log *slog.Logger, o Options) *Main {
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 20 * time.Second
	}
	return &Main{Cfg: cfg, Log: log, Options: o, Version: version}
}

// openCore builds what every command needs: PostgreSQL (migrated when migrate is set), InfluxDB, auth, and the
// domains matching, trace and plan.
func (m *Main) openCore(ctx context.Context, migrate bool) error {
	if m.Cfg.DatabaseMaxConns < 0 || m.Cfg.DatabaseIngestMaxConns < 0 {
		return errors.New("--database-max-conns and --database-ingest-max-conns must not be negative")
	}
	db, err := pg.OpenPool(ctx, m.Cfg.DatabaseURL, int32(m.Cfg.DatabaseMaxConns))
	if err != nil {
		return fmt.Errorf("%w (set SUILONG_DATABASE_URL, or run deploy/local/up.sh)", err)
	}
	m.DB = db
	if migrate {
		if err := pg.Migrate(ctx, db, m.Log); err != nil {
			return err
		}
	}
	m.Registry = prometheus.NewRegistry()
	m.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.Influx = influx.New(influx.Config{URL: m.Cfg.InfluxURL, Token: m.Cfg.InfluxToken, Org: m.Cfg.InfluxOrg, Bucket: m.Cfg.InfluxBucket})
	m.Registry.MustRegister(m.Influx.Collector())
	m.Readings = influxw.NewStore(m.Influx)
	m.IngestStore = ingest.NewStore(db)
	m.buildDomains()
	return nil
}

// buildDomains builds auth, the web, matching, trace, plan, ingest's use cases, the console and notifications on
// the open connections, in that order.
func (m *Main) buildDomains() {
	c := m.Cfg
	m.Auth = auth.NewStore(m.DB)
	m.Auth.CacheKeys(c.APIKeyCache)
	m.Web = web.New(web.Deps{
		Auth:          m.Auth,
		Sessions:      auth.SessionPolicy{Idle: c.Plan.SessionIdle, Absolute: c.Plan.SessionMax},
		SecureCookies: strings.HasPrefix(strings.ToLower(c.PublicBaseURL), "https://"),
		Log:           m.Log.With("area", "web"),
		Registry:      m.Registry,
	})
	m.Matching = matching.NewStore(m.DB)
	if err := m.Matching.Register(m.Registry); err != nil {
		m.Log.Warn("matching: metrics not registered", "err", err)
	}
	m.Trace = trace.NewService(trace.NewStore(m.DB), productProfiles{m.Matching}, assetsAdapter{m.IngestStore}, m.Matching,
		m.Readings,
		trace.NewURIs(c.PublicBaseURL), m.Registry, m.Log.With("area", "trace"))
	m.Trace.Settle, m.Trace.VerifyEvery = c.Trace.Settle, c.Trace.VerifyEvery
	m.Matching.Lots = schemeLots{m.Trace.Store}
	m.wireRecords()
	m.Plan = plan.NewService(plan.NewStore(m.DB), plan.Sources{
		Matching:     matchingTotals{m.Matching},
		Participants: participantsAdapter{m.Auth},
		Compliance:   complianceAdapter{m.Trace},
		Assets:       assetsCount{m.IngestStore},
	}, m.Log.With("area", "plan"))
	// Bases and buyers see the assets that carried their lots (traceability's legs), for those periods. The
	// publisher is plugged in once the broker is known (openIngest).
	m.Ingest = ingest.NewService(m.IngestStore, ingest.NewFleet(m.IngestStore, m.Readings, carriage{m.Trace.Store}), nil,
		m.Log.With("area", "ingest"))
	m.Ingest.SensorChanged, m.Ingest.GatewayChanged = m.sensorChanged, m.gatewayChanged
	m.Ingest.Platform = ingest.PlatformClient{User: c.MQTTUsername, Password: c.MQTTPassword}
	m.Console = ingest.NewConsole(m.IngestStore, productProfiles{m.Matching}, cargo{m.Trace.Store})
	m.Console.Changes = m.Ingest
	o := c.Ops
	allow, _ := notify.ParseAllow(o.AllowNets) // checked by Open
	m.Notify = notify.New(notify.Config{Poll: o.Poll, SendTimeout: o.SendTimeout, RetryBase: o.RetryBase, RetryMax: o.RetryMax,
		MaxAttempts: o.MaxAttempts, ConsoleURL: strings.TrimSuffix(c.PublicBaseURL, "/")}, notify.Deps{
		DB: m.DB, Events: alarmFeed{m.IngestStore}, Alarms: alarmFeed{m.IngestStore},
		Guard: &notify.Guard{AllowHTTP: o.AllowHTTP, Allow: allow}, Registry: m.Registry, Log: m.Log.With("area", "notify"),
		SMTP: notify.SMTPConfig{Host: o.SMTPHost, Port: o.SMTPPort, Username: o.SMTPUsername, Password: o.SMTPPassword,
			From: o.SMTPFrom, TLS: o.SMTPTLS, Timeout: o.SendTimeout}})
}

// Open builds everything serve runs and binds its listeners, so that HTTPAddr and the broker's addresses are
// known when it returns.
func (m *Main) Open(ctx context.Context) error {
	o, c := m.Options, m.Cfg
	for _, p := range o.Only {
		if !slices.Contains(Parts, p) {
			return fmt.Errorf("--only %q: no such part (%s)", p, strings.Join(Parts, ", "))
		}
	}
	if _, err := notify.ParseAllow(c.Ops.AllowNets); err != nil {
		return fmt.Errorf("--notify-allow-nets: %w", err)
	}
	for _, p := range c.TrustedProxies {
		if net.ParseIP(p) == nil {
			if _, _, err := net.ParseCIDR(p); err != nil {
				return fmt.Errorf("--trusted-proxies: %q is neither an address nor a CIDR", p)
			}
		}
	}
	if err := c.checkRetention(); err != nil {
		return err
	}
	if err := m.openCore(ctx, !o.NoMigrate); err != nil {
		return err
	}
	if n := c.DatabaseIngestMaxConns; n > 0 {
		db, err := pg.OpenPool(ctx, c.DatabaseURL, int32(n))
		if err != nil {
			return fmt.Errorf("ingest's pool: %w", err)
		}
		m.IngestDB = db
	}
	m.Log.Info("database pools", "max_conns", m.DB.Config().MaxConns, "ingest_max_conns", c.DatabaseIngestMaxConns)
	m.ensureInfluxRetention(ctx)
	if err := m.openBroker(); err != nil {
		return err
	}
	// A server started on a database that `suilong migrate` has not seen since this binary was built still
	// shows the current plan. A failure is not fatal: the pages say the plan is not loaded.
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	if res, err := m.Plan.Load(lctx); err != nil {
		m.Log.Warn("plan: could not load the plan at start; run `suilong plan load`", "err", err)
	} else if res.Changes() {
		m.Log.Info("plan loaded", "added", res.Added, "changed", res.Changed, "retired", res.Retired)
	}
	cancel()
	if err := m.openIngest(); err != nil {
		return err
	}
	return m.openHTTP()
}

// modules are the HTTP modules this process serves: the web's sign-in always, each area's routes where it is
// served.
func (m *Main) modules() []api.Module {
	o, c := m.Options, m.Cfg
	mods := []api.Module{m.Web}
	if o.serves("matching") {
		mods = append(mods, matchingapi.New(matchingapi.Deps{Store: m.Matching, Lots: lotsOfOrder{m.Trace.Store, m.Trace.URIs}.LotsOf}))
	}
	if o.serves("ingest") {
		mods = append(mods, ingestapi.New(m.Ingest, c.Broker.HookSecret))
	}
	if o.serves("trace") {
		mods = append(mods, traceapi.New(traceapi.Deps{Service: m.Trace, PublicRate: c.Trace.PublicRate, PublicBurst: c.Trace.PublicBurst,
			Schema: m.epcisSchema()}))
	}
	if d := m.schemeDeps(); d.Matching != nil || d.Trace != nil {
		mods = append(mods, schemeapi.New(d))
	}
	if o.serves("plan") {
		mods = append(mods, planapi.New(planapi.Deps{Plan: m.Plan, Site: m.Web}))
	}
	if o.serves("matching") {
		mods = append(mods, marketapi.New(marketapi.Deps{Site: m.Web, Matching: m.Matching, Trace: m.Trace, Auth: m.Auth}))
	}
	if o.serves("trace") {
		mods = append(mods, m.recordModules()...)
	}
	if o.serves("ops") {
		mods = append(mods, notifyapi.New(m.Notify), opsapi.New(opsapi.Deps{Site: m.Web, Console: m.Console, Notify: m.Notify,
			Series: m.Readings, Refresh: c.Ops.Refresh}))
	}
	return mods
}

// openHTTP builds the HTTP server with every served module and binds its address.
func (m *Main) openHTTP() error {
	c := m.Cfg
	m.http = api.New(api.Options{
		Addr: c.HTTPAddr, Logger: m.Log, Auth: m.Auth, Checks: m.checks(), Modules: m.modules(),
		Registry: m.Registry, Version: m.Version, DrainTimeout: m.Options.DrainTimeout, TrustedProxies: c.TrustedProxies,
	})
	addr, err := m.http.Listen()
	if err != nil {
		return fmt.Errorf("http listen on %s: %w", c.HTTPAddr, err)
	}
	m.httpAddr = addr
	return nil
}

// HTTPAddr is the address the HTTP server listens on ("" before Open).
func (m *Main) HTTPAddr() string {
	if m.httpAddr == nil {
		return ""
	}
	return m.httpAddr.String()
}

// checks are the readiness checks of /readyz.
func (m *Main) checks() []api.Check {
	return []api.Check{
		{Name: "postgresql", Fn: func(ctx context.Context) error { return m.DB.Ping(ctx) }},
		{Name: "influxdb", Fn: m.Influx.Ping},
		{Name: "mqtt", Fn: func(ctx context.Context) error {
			if m.Broker != nil {
				return m.Broker.Ping()
			}
			return pingTCP(ctx, m.Cfg.MQTTURL)
		}},
		// Failing while InfluxDB refuses or cannot take ingest's writes (a dropped database, a rotated password,
		// the server away), though the readings wait safely in the spool.
		{Name: "ingest_writes", Fn: func(ctx context.Context) error {
			if m.Worker == nil {
				return nil
			}
			return m.Worker.Healthy(ctx)
		}},
	}
}

// Run serves until ctx ends, then stops everything at once: HTTP drains while ingest makes durable what it
// took, both within the drain timeout; the broker and the connections close after (Close).
func (m *Main) Run(ctx context.Context) error {
	runCtx, stopRuns := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRuns()
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	if m.gatewayAuth != nil {
		wg.Go(func() { m.gatewayAuth.Run(runCtx, 30*time.Second) })
	}
	if m.Options.serves("trace") {
		wg.Go(func() {
			m.schedule(runCtx, "suilong.purge-records", purgeEvery, func(ctx context.Context) error {
				_, err := m.Trace.Purge(ctx)
				return err
			})
		})
	}
	if m.dynsec != nil {
		wg.Go(func() { m.schedule(runCtx, "suilong.mqtt-dynsec-reconcile", time.Hour, m.reconcileBroker) })
	}
	if m.Options.serves("matching") && m.Cfg.Matching.RoundTick > 0 {
		// Every API process runs the rounds' scheduler: each round's claim and the sweep's UPDATE make the work
		// happen once (matching.Scheduler), so no leader is needed. A run cut short by the stop rolls back whole.
		sc := &matching.Scheduler{Store: m.Matching, Every: m.Cfg.Matching.RoundTick, Log: m.Log.With("area", "matching")}
		wg.Go(func() { sc.Run(runCtx) })
	}
	if m.Options.serves("plan") || m.Options.serves("api") {
		wg.Go(func() {
			m.schedule(runCtx, "suilong.expired-sessions", time.Hour, func(ctx context.Context) error {
				n, err := m.Auth.DeleteExpiredSessions(ctx)
				if n > 0 {
					m.Log.Info("web: expired sessions deleted", "sessions", n)
				}
				return err
			})
		})
	}
	if m.Worker != nil {
		wg.Go(func() {
			if err := m.Worker.Run(runCtx); err != nil && runCtx.Err() == nil {
				errc <- fmt.Errorf("ingest: %w", err)
			}
		})
		if m.Latest != nil { // a store worker, not rules only
			wg.Go(func() { m.Latest.Run(runCtx, time.Second) })
			wg.Go(func() { m.Late.Run(runCtx, time.Second) })
		}
	}
	if m.Cfg.Ops.Deliver {
		wg.Go(func() { m.Notify.Run(runCtx) })
	}
	if m.Options.Sim {
		wg.Go(func() {
			err := m.runSim(runCtx, simOptions{Interval: 10 * time.Second, Backfill: 2 * time.Hour,
				Faults: sim.Faults{Excursion: true, DoorOpen: true, MalformedRate: 0.002},
				passwordsReset: func() {
					if m.gatewayAuth != nil { // the broker here learns the new passwords before the gateways connect
						_ = m.gatewayAuth.Refresh(runCtx)
					}
				}})
			if err != nil && runCtx.Err() == nil {
				m.Log.Error("simulator stopped", "err", err)
			}
		})
	}
	m.Log.Info("suilong serving", "http", "http://"+m.HTTPAddr(), "mqtt", m.MQTTURL(), "version", m.Version)

	httpCtx, stopHTTP := context.WithCancel(ctx)
	defer stopHTTP()
	go func() {
		select {
		case err := <-errc:
			m.Log.Error("background part failed; shutting down", "err", err)
			errc <- err
			stopHTTP()
		case <-httpCtx.Done():
		}
		stopRuns()
	}()
	serveErr := m.http.Serve(httpCtx)
	m.Log.Info("stopping background work")
	stopRuns()
	wg.Wait()
	select {
	case err := <-errc:
		if serveErr == nil {
			serveErr = err
		}
	default:
	}
	m.Log.Info("suilong stopped")
	return serveErr
}

// schedule runs job every period until ctx ends: once per period across all replicas (pg.RunDue), whichever
// replica's timer fires first. It looks every period/60 (at most every minute), so that a job another replica
// would have run is run soon after that replica goes away.
func (m *Main) schedule(ctx context.Context, name string, every time.Duration, job func(ctx context.Context) error) {
	t := time.NewTicker(min(every/60, time.Minute))
	defer t.Stop()
	for {
		if _, err := pg.RunDue(ctx, m.DB, name, every, time.Now(), job); err != nil && ctx.Err() == nil {
			m.Log.Error("scheduled job failed; tried again at the next tick", "job", name, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Close releases what Open or openCore built, in reverse order.
func (m *Main) Close() error {
	if m.closePub != nil {
		m.closePub()
	}
	if m.dynsec != nil {
		m.dynsec.Close()
	}
	var err error
	if m.Broker != nil {
		err = m.Broker.Close()
	}
	if m.Influx != nil {
		m.Influx.Close()
	}
	if m.IngestDB != nil {
		m.IngestDB.Close()
	}
	if m.DB != nil {
		m.DB.Close()
	}
	return err
}

// openCommand is openCore for the commands that do not serve; migrate says whether to apply the migrations
// first (every command that writes the database does).
func openCommand(g *Globals, migrate bool) (*Main, error) {
	m := NewMain(g.Cfg, g.Log, Options{})
	if err := m.openCore(g.Ctx, migrate); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

var errNoSimGateways = errors.New("no simulated gateways are registered; run `suilong demo` (or `suilong sim --register N`)")
