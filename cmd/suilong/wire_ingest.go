package main

// Owned by the ingest area: the ingest part (broker hooks, HTTP routes, the ingest service, demo data, the
// simulator), IngestConfig and SimCmd.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/suilong/suilong/api"
	"github.com/suilong/suilong/api/ingestapi"
	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/ingest/mqttauth"
	"github.com/suilong/suilong/ingest/mqttsub"
	"github.com/suilong/suilong/ingest/rules"
	"github.com/suilong/suilong/ingest/service"
	"github.com/suilong/suilong/ingest/sim"
	"github.com/suilong/suilong/internal/broker"
)

// IngestConfig is ingest's configuration (flags prefixed "ingest-", variables SUILONG_INGEST_*).
type IngestConfig struct {
	ExcursionOpen  time.Duration `name:"ingest-excursion-open" env:"SUILONG_INGEST_EXCURSION_OPEN" default:"15m" help:"Outside the temperature band this long raises an excursion alarm."`
	ExcursionClose time.Duration `name:"ingest-excursion-close" env:"SUILONG_INGEST_EXCURSION_CLOSE" default:"10m" help:"Back inside the band this long ends an excursion."`
	DoorOpenLimit  time.Duration `name:"ingest-door-open-limit" env:"SUILONG_INGEST_DOOR_OPEN_LIMIT" default:"10m" help:"A door open this long raises an alarm."`
	SilenceLimit   time.Duration `name:"ingest-silence-limit" env:"SUILONG_INGEST_SILENCE_LIMIT" default:"15m" help:"A sensor silent this long raises an alarm."`
	RulesWindow    time.Duration `name:"ingest-rules-window" env:"SUILONG_INGEST_RULES_WINDOW" default:"3h" help:"How late (behind a sensor's newest reading) a reading may arrive and still change alarms."`

	BatchSize     int           `name:"ingest-batch-size" env:"SUILONG_INGEST_BATCH_SIZE" default:"5000" help:"Readings per InfluxDB write."`
	Workers       int           `name:"ingest-workers" env:"SUILONG_INGEST_WORKERS" default:"0" help:"Decoding goroutines (0: one per CPU)."`
	FlushInterval time.Duration `name:"ingest-flush-interval" env:"SUILONG_INGEST_FLUSH_INTERVAL" default:"200ms" help:"Longest a reading waits for companions before a write."`
	MaxPayload    int           `name:"ingest-max-payload" env:"SUILONG_INGEST_MAX_PAYLOAD" default:"262144" help:"Largest accepted message in bytes; larger ones go to the dead letter."`
	MaxFuture     time.Duration `name:"ingest-max-future" env:"SUILONG_INGEST_MAX_FUTURE" default:"5m" help:"How far ahead of the platform clock a reading's ts may be."`
	MaxAge        time.Duration `name:"ingest-max-age" env:"SUILONG_INGEST_MAX_AGE" default:"168h" help:"How old a reading's ts may be."`

	SpoolDir   string `name:"ingest-spool-dir" env:"SUILONG_INGEST_SPOOL_DIR" help:"Where readings wait while InfluxDB is away (default: the data directory)." type:"path"`
	SpoolMaxMB int64  `name:"ingest-spool-max-mb" env:"SUILONG_INGEST_SPOOL_MAX_MB" default:"1024" help:"Bound of the spool in MiB; when full, ingest stops acknowledging and the broker holds the messages."`

	ClientID            string        `name:"ingest-client-id" env:"SUILONG_INGEST_CLIENT_ID" help:"MQTT client id of this ingest process on an external broker (default: derived from host and data directory)."`
	SharedGroup         string        `name:"ingest-shared-group" env:"SUILONG_INGEST_SHARED_GROUP" default:"suilong-ingest" help:"Shared-subscription group on an external broker (empty: no sharing)."`
	DeadLetterRate      float64       `name:"ingest-dead-letter-rate" env:"SUILONG_INGEST_DEAD_LETTER_RATE" default:"1" help:"Dead-letter records one gateway may add per second (beyond the burst); the rest are counted and summed up once a minute."`
	DeadLetterBurst     int           `name:"ingest-dead-letter-burst" env:"SUILONG_INGEST_DEAD_LETTER_BURST" default:"3000" help:"Dead-letter records one gateway may add at once."`
	CacheRefresh        time.Duration `name:"ingest-cache-refresh" env:"SUILONG_INGEST_CACHE_REFRESH" default:"30s" help:"How often the sensor cache reloads the registry."`
	DeadLetterRetention time.Duration `name:"ingest-dead-letter-retention" env:"SUILONG_INGEST_DEAD_LETTER_RETENTION" default:"720h" help:"How long dead-letter records are kept (0: forever)."`
}

func (c IngestConfig) service(cfg *Config) service.Config {
	dir := cfg.DataDir
	if c.SpoolDir != "" {
		dir = c.SpoolDir
	}
	return service.Config{
		DataDir: dir,
		Pipeline: ingest.PipelineConfig{Workers: c.Workers, BatchSize: c.BatchSize, FlushInterval: c.FlushInterval,
			Limits: ingest.Limits{MaxFuture: c.MaxFuture, MaxAge: c.MaxAge}, MaxPayload: c.MaxPayload,
			DeadLetterRate: c.DeadLetterRate, DeadLetterBurst: c.DeadLetterBurst},
		Rules: rules.Config{OpenAfter: c.ExcursionOpen, CloseAfter: c.ExcursionClose, DoorLimit: c.DoorOpenLimit,
			SilenceLimit: c.SilenceLimit, Window: c.RulesWindow},
		SpoolMaxBytes:       c.SpoolMaxMB << 20,
		CacheRefresh:        c.CacheRefresh,
		DeadLetterRetention: c.DeadLetterRetention,
		MQTTURL:             cfg.MQTTURL,
		Username:            cfg.MQTTUsername,
		Password:            cfg.MQTTPassword,
		ClientID:            c.ClientID,
		Group:               c.SharedGroup,
	}
}

// ingestWiring is what the ingest part's functions share within one App.
type ingestWiring struct {
	auth   *mqttauth.Hook
	source *mqttsub.BrokerSource

	mu  sync.Mutex
	svc *service.Service
}

var ingestWirings sync.Map // *App → *ingestWiring

func ingestFor(a *App) *ingestWiring {
	w, _ := ingestWirings.LoadOrStore(a, &ingestWiring{})
	return w.(*ingestWiring)
}

func init() {
	registerPart(part{
		Name: "ingest",
		Hooks: func(a *App) ([]broker.Hook, error) {
			w := ingestFor(a)
			w.auth = mqttauth.New(ingest.NewStore(a.DB), a.Cfg.MQTTUsername, a.Cfg.MQTTPassword, a.Log)
			w.source = mqttsub.NewBrokerSource()
			for _, c := range w.source.Collectors() {
				if err := a.Registry.Register(c); err != nil {
					return nil, err
				}
			}
			return []broker.Hook{{Hook: w.auth}, {Hook: w.source}}, nil
		},
		Absent: func(a *App) {
			if w := ingestFor(a); w.source != nil {
				w.source.NoIngest() // no reading is acknowledged here, since none would be stored
			}
		},
		Module: ingestModule,
		Run:    ingestRun,
		Demo: func(ctx context.Context, a *App) error {
			return sim.Ensure(ctx, ingest.NewStore(a.DB), sim.Demo)
		},
		Sim: func(ctx context.Context, a *App) error {
			w := ingestFor(a)
			return runSim(ctx, a, simOptions{Interval: 10 * time.Second, Backfill: 2 * time.Hour,
				Faults: sim.Faults{Excursion: true, DoorOpen: true, MalformedRate: 0.002},
				passwordsReset: func() {
					if w.auth != nil { // the broker in this process learns the new passwords before the gateways connect
						_ = w.auth.Refresh(ctx)
					}
				}})
		},
	})
}

func ingestModule(a *App) (api.Module, error) {
	w := ingestFor(a)
	var pub ingest.Publisher
	if a.Broker != nil {
		pub = mqttsub.InlinePublisher{Srv: a.Broker.Server()}
	} else if a.Cfg.MQTTURL != "" {
		tc, err := a.Cfg.Broker.clientTLS()
		if err != nil {
			return nil, err
		}
		pub = mqttsub.NewPahoPublisher(a.Cfg.MQTTURL, service.DefaultClientID(a.Cfg.DataDir)+"-api", a.Cfg.MQTTUsername, a.Cfg.MQTTPassword, tc)
	}
	store, readings := ingest.NewStore(a.DB), ingest.NewReadingStore(a.Influx)
	return ingestapi.New(ingestapi.Deps{
		Store:    store,
		Readings: readings,
		// Bases and buyers see the assets that carried their lots (traceability's legs), for those periods.
		Fleet:     ingest.NewFleet(store, readings, traceCarriage(a)),
		Publisher: pub,
		SensorChanged: func(id string) {
			w.mu.Lock()
			defer w.mu.Unlock()
			if w.svc != nil {
				w.svc.Cache.Invalidate(id)
			}
		},
		GatewayChanged: func(string) {
			if w.auth != nil {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				defer cancel()
				_ = w.auth.Refresh(ctx)
			}
		},
	}), nil
}

// ingestHealth is the readiness check of ingest's writes: failing while InfluxDB refuses or cannot take them
// (a dropped database, a rotated password, the server away), though the readings wait safely in the spool.
func ingestHealth(a *App) api.Check {
	return api.Check{Name: "ingest_writes", Fn: func(ctx context.Context) error {
		w := ingestFor(a)
		w.mu.Lock()
		svc := w.svc
		w.mu.Unlock()
		if svc == nil {
			return nil
		}
		return svc.Healthy(ctx)
	}}
}

func ingestRun(ctx context.Context, a *App) error {
	w := ingestFor(a)
	// Bands come from what a truck or store carries (trace's lots and their products), else the asset's own
	// band or product profile (matching's products).
	d := service.Deps{Log: a.Log.With("area", "ingest"), DB: a.DB, Influx: a.Influx, Registry: a.Registry,
		Products: productProfiles{matchingFor(a)}, Bands: traceBandSource(a)}
	cfg := a.Cfg.Ingest.service(a.Cfg)
	cfg.StopTimeout = a.DrainTimeout
	var err error
	if cfg.TLS, err = a.Cfg.Broker.clientTLS(); err != nil {
		return err
	}
	if a.Broker != nil {
		if w.source == nil {
			return errors.New("the embedded broker was started without ingest's hooks")
		}
		d.Broker, d.Source = a.Broker.Server(), w.source
		cfg.MQTTURL = ""
		go w.auth.Run(ctx, 30*time.Second)
	}
	svc, err := service.New(cfg, d)
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.svc = svc
	w.mu.Unlock()
	return svc.Run(ctx)
}

type simOptions struct {
	Gateways []string
	Interval time.Duration
	Batch    bool
	Duration time.Duration
	Backfill time.Duration
	Faults   sim.Faults
	// passwordsReset is called once the simulated gateways have new passwords.
	passwordsReset func()
}

// runSim drives the simulated gateways of the registry (the demo fleet, or what `suilong sim --register`
// added) against the platform's broker.
func runSim(ctx context.Context, a *App, o simOptions) error {
	store := ingest.NewStore(a.DB)
	gws, err := sim.Registered(ctx, store, o.Gateways...)
	if err != nil {
		return err
	}
	if len(gws) == 0 {
		return errors.New("no simulated gateways are registered; run `suilong demo` (or `suilong sim --register N`)")
	}
	if o.passwordsReset != nil {
		o.passwordsReset()
	}
	if a.Cfg.MQTTURL != "" && a.Broker == nil {
		a.Log.Info("sim: publishing to the external broker", "url", a.Cfg.MQTTURL)
	}
	n := 0
	for _, g := range gws {
		n += len(g.Sensors)
	}
	a.Log.Info("sim: starting", "gateways", len(gws), "sensors", n, "interval", o.Interval, "backfill", o.Backfill, "broker", a.MQTTURL())
	tc, err := a.Cfg.Broker.clientTLS()
	if err != nil {
		return err
	}
	st, err := sim.Run(ctx, sim.Options{URL: a.MQTTURL(), TLS: tc, Gateways: gws, Interval: o.Interval, Batch: o.Batch, Duration: o.Duration,
		Backfill: o.Backfill, Faults: o.Faults, Log: a.Log.With("area", "sim"), Seed: uint64(time.Now().UnixNano())})
	a.Log.Info("sim: done", "messages", st.Messages, "readings", st.Readings, "malformed", st.Malformed)
	return err
}

// SimCmd simulates gateways.
type SimCmd struct {
	Register      int           `help:"First register N simulated trucks (SIM-GW-0001…) with --sensors sensors each, if missing." default:"0"`
	Sensors       int           `help:"Sensors per registered simulated truck." default:"4"`
	Gateway       []string      `help:"Simulate only these gateways (default: every simulated gateway: the demo fleet and registered ones)."`
	Interval      time.Duration `help:"Sampling interval of each sensor." default:"30s"`
	Batch         bool          `help:"Send each gateway's readings of one tick in one {\"readings\": [...]} message."`
	Duration      time.Duration `help:"Stop after this long (0: until interrupted)." default:"0"`
	Backfill      time.Duration `help:"First publish this much history, as a gateway catching up." default:"0"`
	Excursion     bool          `help:"Fault: the first truck's first sensor leaves its band 25 minutes of every two hours."`
	DoorOpen      bool          `help:"Fault: the second truck's door stays open 12 minutes of every three hours."`
	MalformedRate float64       `help:"Fault: share of messages replaced by malformed, NaN, out-of-range, unknown or foreign ones." default:"0"`
	ClockSkew     time.Duration `help:"Fault: the last gateway's clock is off by this much." default:"0"`
	SilentGateway bool          `help:"Fault: the last gateway goes silent halfway through (or after 10 minutes)."`
}

// Run runs the simulator against the configured broker (SUILONG_MQTT_URL, or the embedded broker of a running
// `suilong serve` at SUILONG_MQTT_LISTEN).
func (c *SimCmd) Run(g *Globals) error {
	if c.MalformedRate < 0 || c.MalformedRate > 1 || math.IsNaN(c.MalformedRate) {
		return fmt.Errorf("--malformed-rate must be between 0 and 1")
	}
	a, err := openApp(g.Ctx, g)
	if err != nil {
		return err
	}
	defer a.Close()
	if c.Register > 0 {
		if err := sim.Ensure(g.Ctx, ingest.NewStore(a.DB), sim.Fleet(c.Register, c.Sensors)); err != nil {
			return err
		}
	}
	err = runSim(g.Ctx, a, simOptions{Gateways: c.Gateway, Interval: c.Interval, Batch: c.Batch, Duration: c.Duration, Backfill: c.Backfill,
		Faults: sim.Faults{Excursion: c.Excursion, DoorOpen: c.DoorOpen, MalformedRate: c.MalformedRate, ClockSkew: c.ClockSkew,
			SilentGateway: c.SilentGateway}})
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
