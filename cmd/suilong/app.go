package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/suilong/suilong/api"
	"github.com/suilong/suilong/api/ingestapi"
	"github.com/suilong/suilong/api/matchingapi"
	"github.com/suilong/suilong/api/notifyapi"
	"github.com/suilong/suilong/api/opsapi"
	"github.com/suilong/suilong/api/planapi"
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
// ("ops": the duty officers' console and the notification routes); "ingest" also stores readings (the
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

// openBroker starts the embedded broker (unless an external one is configured) with the gateways'
// authentication and ingest's hook.
func (m *Main) openBroker() error {
	c := m.Cfg
	if c.MQTTURL != "" {
		tc, err := c.Broker.clientTLS()
		if err != nil {
			return err
		}
		pp := mqttsub.NewPahoPublisher(c.MQTTURL, m.clientID()+"-pub", c.MQTTUsername, c.MQTTPassword, tc)
		m.publisher, m.closePub = pp, pp.Close
		if c.Broker.DynsecUsername != "" {
			if m.dynsec, err = mqttauth.NewDynSec(c.MQTTURL, c.Broker.DynsecUsername, c.Broker.DynsecPassword, m.clientID()+"-dynsec", tc,
				m.Log.With("area", "ingest")); err != nil {
				return err
			}
			m.Ingest.CredentialsChanged = m.keepBrokerInStep
		}
		return nil
	}
	m.gatewayAuth = mqttauth.New(ingest.NewStore(m.ingestDB()), c.MQTTUsername, c.MQTTPassword, m.Log)
	m.source = mqttsub.NewBrokerSource()
	for _, col := range m.source.Collectors() {
		if err := m.Registry.Register(col); err != nil {
			return err
		}
	}
	tc, err := c.Broker.serverTLS()
	if err != nil {
		return err
	}
	m.Broker, err = broker.Start(broker.Options{Listen: plainListen(c.MQTTListen), TLSListen: c.Broker.TLSListen, TLS: tc,
		DataDir: filepath.Join(c.DataDir, "mqtt"), Hooks: []broker.Hook{{Hook: m.gatewayAuth}, {Hook: m.source}},
		Logger: m.Log, Limits: c.Broker.limits(c), Registry: m.Registry})
	if err != nil {
		return err
	}
	m.Log.Info("embedded MQTT broker listening", "addr", m.Broker.Addr(), "tls", m.Broker.TLSAddr())
	if !m.Options.runsIngest() {
		m.source.NoIngest() // no reading is acknowledged here, since none would be stored
	}
	if m.Options.runsRules() && !m.Options.runsIngest() {
		return errors.New("--only rules needs an external broker (SUILONG_MQTT_URL): the rules take every reading through a subscription of their own")
	}
	m.publisher = mqttsub.InlinePublisher{Srv: m.Broker.Server()}
	return nil
}

// keepBrokerInStep tells Mosquitto's dynamic security of a gateway's new password, or of its removal ("").
func (m *Main) keepBrokerInStep(ctx context.Context, id, password string) {
	var err error
	if password == "" {
		err = m.dynsec.DeleteGateway(ctx, id)
	} else {
		err = m.dynsec.SetGateway(ctx, id, password)
	}
	if err != nil {
		m.Log.Error("mqtt dynamic security: the broker did not take the gateway's credentials; reset them again once it answers",
			"gateway", id, "err", err)
	}
}

// reconcileBroker removes from Mosquitto the gateways the registry no longer has, and names those it lacks.
func (m *Main) reconcileBroker(ctx context.Context) error {
	var ids []string
	// Every page by cursor, to a short one (totals are counted only up to pg.CountCap).
	for page := (ingest.Page{Limit: pg.MaxLimit}); ; {
		gs, _, err := m.IngestStore.Gateways(ctx, page)
		if err != nil {
			return err
		}
		for _, g := range gs {
			ids = append(ids, g.ID)
		}
		if len(gs) < pg.MaxLimit {
			break
		}
		page.After = pg.Cursor(gs[len(gs)-1].PageKey()...)
	}
	missing, err := m.dynsec.Reconcile(ctx, ids)
	if len(missing) > 0 {
		m.Log.Warn("mqtt dynamic security: these gateways have no account on the broker yet; reset their credentials", "gateways", missing)
	}
	return err
}

// clientID is this process's MQTT client id on an external broker.
func (m *Main) clientID() string {
	if m.Cfg.Ingest.ClientID != "" {
		return m.Cfg.Ingest.ClientID
	}
	return worker.DefaultClientID(m.Cfg.Ingest.dataDir(m.Cfg))
}

// openIngest builds ingest's use cases and, where this process runs them, its pipeline, rules and watcher.
func (m *Main) openIngest() error {
	m.Ingest.Pub = m.publisher
	role, runs := m.Options.ingestRole()
	if !runs {
		return nil
	}
	c := m.Cfg
	cfg := c.Ingest.service(c)
	cfg.Role = role
	cfg.StopTimeout = m.Options.DrainTimeout
	var err error
	if cfg.TLS, err = c.Broker.clientTLS(); err != nil {
		return err
	}
	// Bands come from what a truck or store carries (trace's lots and their products), else the asset's own
	// band or product profile (matching's products). Every look-up of ingest goes through its own pool; the
	// rules' leadership holds a connection of the main one (held from its start, it cannot be starved, and it
	// leaves ingest's small pool whole).
	db := m.ingestDB()
	m.ingestBands = bandSource{trace.NewStore(db)}
	d := worker.Deps{Log: m.Log.With("area", "ingest"), DB: db, Influx: m.Influx, Registry: m.Registry,
		Products: productProfiles{matching.NewStore(db)}, Bands: m.ingestBands, Publisher: m.publisher,
		Store: ingest.NewStore(db), Readings: m.Readings, Pool: m.DB}
	if m.Broker != nil {
		d.Broker, d.Source = m.Broker.Server(), m.source
		cfg.MQTTURL = ""
	}
	if m.Worker, err = worker.New(cfg, d); err != nil {
		return err
	}
	if m.Worker.Pipeline != nil { // the processes that store readings
		m.Latest = ingest.NewLatest(db, m.Registry, m.Log.With("area", "ingest"))
		m.Worker.Pipeline.Latest = m.Latest
		m.Late = ingest.NewLate(lateReadings{m.Trace}, lateHorizon(c.Trace.Settle), m.Registry, m.Log.With("area", "ingest"))
		m.Worker.Pipeline.Late = m.Late
	}
	return nil
}

// ingestDB is the pool ingest's look-ups and writes use: its own, or the main one.
func (m *Main) ingestDB() *pgxpool.Pool {
	if m.IngestDB != nil {
		return m.IngestDB
	}
	return m.DB
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
	if o.serves("plan") {
		mods = append(mods, planapi.New(planapi.Deps{Plan: m.Plan, Site: m.Web}))
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

// sensorChanged makes this process's ingest look the sensor up again after the API changed it.
func (m *Main) sensorChanged(id string) {
	if m.Worker != nil {
		m.Worker.Cache.Invalidate(id)
	}
}

// gatewayChanged reloads the gateways' credentials of this process's broker, which disconnects a gateway whose
// credentials were reset or deleted.
func (m *Main) gatewayChanged(string) {
	if m.gatewayAuth == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = m.gatewayAuth.Refresh(ctx)
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

// MQTTURL is the broker the platform's own clients connect to: the external one, the embedded one, or a
// running serve's embedded broker as the configuration names it.
func (m *Main) MQTTURL() string {
	c := m.Cfg
	switch {
	case c.MQTTURL != "":
		return c.MQTTURL
	case m.Broker != nil && m.Broker.Addr() != "":
		return m.Broker.URL()
	case m.Broker != nil:
		return "ssl://" + m.Broker.TLSAddr()
	case plainListen(c.MQTTListen) == "": // a TLS-only embedded broker of a running serve
		return "ssl://" + c.Broker.TLSListen
	}
	return "tcp://" + c.MQTTListen
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

// pingTCP checks that an external broker accepts connections.
func pingTCP(ctx context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return fmt.Errorf("bad MQTT URL %q", rawURL)
	}
	host := u.Host
	if u.Port() == "" {
		port := "1883"
		if mqttsub.IsTLS(rawURL) {
			port = "8883"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return err
	}
	return c.Close()
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
