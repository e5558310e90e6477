// Package worker assembles cold-chain ingest from its parts (sensor cache, pipeline with spools, rules and
// their watcher, MQTT source) and runs it. `suilong serve` builds it in cmd/suilong's composition root; the
// integration tests and the benchmark run the very same assembly.
package worker

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/ingest/influxw"
	"github.com/suilong/suilong/ingest/mqttsub"
	"github.com/suilong/suilong/ingest/rules"
	"github.com/suilong/suilong/ingest/spool"
	"github.com/suilong/suilong/internal/influx"
	"github.com/suilong/suilong/internal/pg"
)

// Role is what a worker does with the readings.
type Role string

// Roles. With several ingest workers on a shared subscription, each sees only part of a sensor's readings, so
// the rules cannot run in them: they store (RoleStore) and one process, the leader among the RoleRules
// processes, sees every reading through a subscription of its own and raises the alarms.
const (
	RoleAll   Role = ""      // store the readings and run the rules: one process
	RoleStore Role = "store" // store the readings only
	RoleRules Role = "rules" // run the rules only, when this process holds the rules' leadership
)

// Config is ingest's configuration.
type Config struct {
	Role Role
	// RulesClientID names the rules' persistent session on an external broker (default "suilong-rules"): the
	// same in every rules process, and used only by the leader, so that the broker queues what arrives while
	// leadership passes and delivers it to the next leader.
	RulesClientID string
	// TakeoverDelay is how long a new leader of the rules waits before reading the state back, so that the
	// ingest workers' writes of what the previous leader saw but had not saved are in InfluxDB (default 2s).
	TakeoverDelay time.Duration
	// DataDir holds the spools and the sensor cache's copy (a subdirectory "ingest" is used).
	DataDir  string
	Pipeline ingest.PipelineConfig
	Rules    rules.Config
	Watcher  ingest.WatcherConfig
	// SpoolMaxBytes bounds the readings spool (the dead-letter spool gets a quarter).
	SpoolMaxBytes int64
	// CacheRefresh is how often the sensor cache reloads the registry.
	CacheRefresh time.Duration
	// DeadLetterRetention is how long dead-letter records are kept (0: forever).
	DeadLetterRetention time.Duration
	// StopTimeout bounds a stop (default 20s): what is not durable by then stays unacknowledged at the broker.
	StopTimeout time.Duration

	// MQTTURL names an external broker; empty means the embedded one (Deps.Broker and Deps.Source).
	MQTTURL  string
	Username string
	Password string
	// ClientID names this process's persistent session on an external broker.
	ClientID string
	// Group is the shared-subscription group on an external broker ("" subscribes unshared).
	Group string
	// TLS is used with a TLS broker URL (ssl://, tls://, mqtts://); nil: the system's roots, no client
	// certificate.
	TLS *tls.Config
}

// Deps are what ingest runs against.
type Deps struct {
	Log      *slog.Logger
	DB       pg.DB
	Influx   *influx.Client
	Registry prometheus.Registerer
	// Broker and Source are the embedded broker and the ingest hook registered in it (nil with MQTTURL).
	Broker *mqtt.Server
	Source *mqttsub.BrokerSource
	// Products and Bands give temperature bands from product profiles and from what assets carry (optional).
	Products ingest.ProductBands
	Bands    ingest.BandSource
	// Pool is required for RoleRules: the leadership is an advisory lock on a connection of its own.
	Pool *pgxpool.Pool
	// Publisher, Store and Readings, when set, are shared with the rest of the process (its owner closes the
	// publisher); otherwise ingest makes its own.
	Publisher ingest.Publisher
	Store     *ingest.Store
	Readings  *influxw.Store
}

// Worker is a running ingest: its pipeline, rules and watcher, and its MQTT source.
type Worker struct {
	cfg       Config
	log       *slog.Logger
	Store     *ingest.Store
	Readings  *influxw.Store
	Cache     *ingest.SensorCache
	Rules     *rules.Engine
	Pipeline  *ingest.Pipeline
	Watcher   *ingest.Watcher
	Metrics   *ingest.Metrics
	Publisher ingest.Publisher
	bands     *ingest.BandResolver
	spool     *spool.Spool
	deadSpool *spool.Spool
	holdSpool *spool.Spool
	deps      Deps
	leader    atomic.Bool
	ready     chan struct{}
}

// Ready is closed once ingest takes messages.
func (s *Worker) Ready() <-chan struct{} { return s.ready }

// Healthy returns nil while readings reach InfluxDB, else why they do not (they wait in the spool meanwhile).
func (s *Worker) Healthy(context.Context) error {
	if s.Pipeline == nil {
		return nil // the rules role stores nothing
	}
	return s.Pipeline.Healthy()
}

// DefaultClientID derives a stable client id from the host and the data directory, so that a restarted process
// resumes its own session and two processes on one host (each with its own data directory) do not collide.
func DefaultClientID(dataDir string) string {
	host, _ := os.Hostname()
	abs, _ := filepath.Abs(dataDir)
	h := sha256.Sum256([]byte(abs))
	return fmt.Sprintf("suilong-ingest-%s-%s", host, hex.EncodeToString(h[:3]))
}

// New assembles ingest. It opens the spools; Run starts everything.
func New(cfg Config, d Deps) (*Worker, error) {
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if cfg.MQTTURL == "" && (d.Broker == nil || d.Source == nil) {
		return nil, errors.New("ingest: no external broker configured and no embedded broker hook given")
	}
	if cfg.ClientID == "" {
		cfg.ClientID = DefaultClientID(cfg.DataDir)
	}
	if cfg.CacheRefresh <= 0 {
		cfg.CacheRefresh = 30 * time.Second
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 20 * time.Second
	}
	// A stop fits in StopTimeout: leaving the shared subscription, then the pipeline making durable what it
	// took, then the alarms' last store and the rules' state.
	cfg.Pipeline.StopTimeout = cfg.StopTimeout * 3 / 4
	cfg.Watcher.FinalTimeout = cfg.StopTimeout / 5
	if cfg.Role == RoleRules {
		if cfg.MQTTURL == "" || d.Pool == nil {
			return nil, errors.New("ingest: the rules role needs an external broker and a PostgreSQL pool")
		}
		if cfg.RulesClientID == "" {
			cfg.RulesClientID = "suilong-rules"
		}
		if cfg.TakeoverDelay <= 0 {
			cfg.TakeoverDelay = 2 * time.Second
		}
	}
	dir := filepath.Join(cfg.DataDir, "ingest")
	m := ingest.NewMetrics(d.Registry)
	store := d.Store
	if store == nil {
		store = ingest.NewStore(d.DB)
	}
	cache := ingest.NewSensorCache(store, d.Products, filepath.Join(dir, "sensors.json"), d.Log)
	bands := ingest.NewBandResolver(d.Bands, d.Log)
	readings := d.Readings
	if readings == nil {
		readings = influxw.NewStore(d.Influx)
	}
	pub := d.Publisher
	switch {
	case pub != nil:
	case cfg.MQTTURL == "":
		pub = mqttsub.InlinePublisher{Srv: d.Broker}
	default:
		pub = mqttsub.NewPahoPublisher(cfg.MQTTURL, cfg.ClientID+"-pub", cfg.Username, cfg.Password, cfg.TLS)
	}
	w := &Worker{cfg: cfg, log: d.Log, Store: store, Readings: readings, Cache: cache, bands: bands, Metrics: m, Publisher: pub,
		deps: d, ready: make(chan struct{})}
	if cfg.Role == RoleRules {
		return w, nil // the rules' state is built anew each time this process becomes the leader (rules.go)
	}
	var err error
	w.spool, err = spool.Open(spool.Options{Dir: filepath.Join(dir, "spool"), MaxBytes: cfg.SpoolMaxBytes, Log: d.Log.With("spool", "readings")})
	if err != nil {
		return nil, err
	}
	deadMax := cfg.SpoolMaxBytes / 4
	w.deadSpool, err = spool.Open(spool.Options{Dir: filepath.Join(dir, "deadletter-spool"), MaxBytes: deadMax, Log: d.Log.With("spool", "dead_letter")})
	if err != nil {
		w.spool.Close()
		return nil, err
	}
	w.holdSpool, err = spool.Open(spool.Options{Dir: filepath.Join(dir, "registry-wait-spool"), MaxBytes: deadMax, Log: d.Log.With("spool", "registry_wait")})
	if err != nil {
		w.spool.Close()
		w.deadSpool.Close()
		return nil, err
	}
	if cfg.Role == RoleAll {
		m.RulesLeader.Set(1)
		w.Rules = rules.New(cfg.Rules)
		w.Watcher = ingest.NewWatcher(cfg.Watcher, ingest.WatcherDeps{Rules: w.Rules, Store: store, Readings: readings, Pub: pub, Cache: cache,
			Bands: bands, Metrics: m, Log: d.Log})
	}
	w.Pipeline = ingest.NewPipeline(cfg.Pipeline, ingest.PipelineDeps{Log: d.Log, Metrics: m, Cache: cache, Bands: bands, Rules: w.Rules,
		Writer: readings, Spool: w.spool, Dead: store, DeadSpool: w.deadSpool, HoldSpool: w.holdSpool, Gateways: store})
	if d.Registry != nil {
		w.Pipeline.RegisterSpoolMetrics(d.Registry)
	}
	return w, nil
}

// Run runs ingest until ctx ends, then stops in order: no new messages, everything taken made durable and
// acknowledged, alarms stored, the rules' state saved.
func (s *Worker) Run(ctx context.Context) error {
	if pp, ok := s.Publisher.(*mqttsub.PahoPublisher); ok && s.deps.Publisher == nil {
		defer pp.Close()
	}
	log := s.log
	if n, err := s.Cache.LoadFile(); err != nil {
		log.Warn("ingest: could not read the sensor cache's copy", "err", err)
	} else if n > 0 {
		log.Info("ingest: sensor cache loaded from disk", "sensors", n)
	}
	if err := s.Cache.Refresh(ctx); err != nil {
		log.Warn("ingest: registry unreachable at start; using the cached sensors", "sensors", s.Cache.Len(), "err", err)
	}
	if s.cfg.Role == RoleRules {
		return s.runRules(ctx)
	}
	defer s.spool.Close()
	defer s.deadSpool.Close()
	defer s.holdSpool.Close()
	if s.Watcher != nil {
		if err := s.Watcher.Restore(ctx); err != nil {
			log.Warn("ingest: rules could not restore all of their state", "err", err)
		}
	}

	var wg sync.WaitGroup
	pctx, stopPipeline := context.WithCancel(context.WithoutCancel(ctx))
	pdone := make(chan struct{})
	go func() {
		defer close(pdone)
		_ = s.Pipeline.Run(pctx)
	}()

	sctx, stopSource := context.WithCancel(context.WithoutCancel(ctx))
	var sub *mqttsub.Subscriber
	if s.cfg.MQTTURL == "" {
		s.deps.Source.SetSink(s.Pipeline.Submit, s.deps.Broker)
		log.Info("ingest: taking readings from the embedded broker")
	} else {
		sub = mqttsub.NewSubscriber(mqttsub.SubscriberConfig{URL: s.cfg.MQTTURL, ClientID: s.cfg.ClientID, Username: s.cfg.Username,
			Password: s.cfg.Password, Group: s.cfg.Group, TLS: s.cfg.TLS, Log: log}, s.Pipeline.Submit)
		wg.Go(func() {
			if err := sub.Run(sctx); err != nil {
				log.Error("ingest: subscriber stopped", "err", err)
			}
		})
	}

	close(s.ready)
	bgctx, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	wdone := make(chan struct{})
	go func() {
		defer close(wdone)
		if s.Watcher != nil {
			_ = s.Watcher.Run(bgctx)
		}
	}()
	wg.Go(func() { s.maintain(bgctx) })

	<-ctx.Done()
	log.Info("ingest: stopping")
	if sub != nil {
		sub.Leave(min(2*time.Second, s.cfg.StopTimeout/20))
	}
	stopPipeline() // refuses new messages (they stay unacknowledged), writes and acknowledges the rest
	<-pdone
	if sub == nil {
		s.deps.Source.SetSink(nil, nil) // from now on the embedded broker refuses readings instead of holding them
	}
	stopSource()
	stopBG()
	<-wdone
	wg.Wait()
	log.Info("ingest: stopped")
	return nil
}

// maintain refreshes the sensor cache and prunes the dead letter.
func (s *Worker) maintain(ctx context.Context) {
	refresh := time.NewTicker(s.cfg.CacheRefresh)
	defer refresh.Stop()
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-refresh.C:
			if err := s.Cache.Refresh(ctx); err != nil {
				s.log.Warn("ingest: could not refresh the sensor cache; keeping the cached sensors", "err", err)
			}
		case <-prune.C:
			if s.cfg.DeadLetterRetention > 0 {
				// Every worker schedules it; it runs once an hour across them.
				var n int64
				_, err := pg.RunDue(ctx, s.Store.DB(), "suilong.prune-dead-letters", time.Hour, time.Now(), func(ctx context.Context) error {
					var err error
					n, err = s.Store.PruneDeadLetters(ctx, time.Now().Add(-s.cfg.DeadLetterRetention))
					return err
				})
				if err != nil {
					s.log.Warn("ingest: could not prune the dead letter", "err", err)
				} else if n > 0 {
					s.log.Info("ingest: pruned the dead letter", "records", n)
				}
			}
		}
	}
}
