package ingest

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/suilong/suilong/ingest/rules"
)

// Publisher publishes the platform's own MQTT messages (alarms, gateway commands).
type Publisher interface {
	Publish(ctx context.Context, topic string, payload []byte, qos byte, retain bool) error
}

// WatcherConfig tunes the watcher; zero fields take the defaults.
type WatcherConfig struct {
	DrainEvery    time.Duration // how often alarm changes are stored and published (default 1s)
	SweepEvery    time.Duration // how often silent sensors are looked for (default 30s)
	SnapshotEvery time.Duration // how often the rules' state is saved (default 30s; InfluxDB covers the gap at restart)
	// CatchUp is how much history before the saved state's newest readings the rules re-read from InfluxDB at
	// start, to cover readings that became durable after the last save (default 15m).
	CatchUp time.Duration
	// FinalTimeout bounds the last store of alarms and save of the state at a stop (default 10s).
	FinalTimeout time.Duration
	// SweepGrace delays the first silence sweep after start, so that a backlog held by the broker while ingest
	// was down can arrive first (default: the silence limit).
	SweepGrace time.Duration
}

// Watcher runs the cold-chain rules' side effects: it stores alarm changes in PostgreSQL and publishes them on
// coldchain/v1/alarms/{asset_id}, sweeps for silent sensors, saves the rules' state, and restores it at start.
type Watcher struct {
	cfg      WatcherConfig
	rules    *rules.Engine
	store    *Store
	readings Readings
	pub      Publisher
	cache    *SensorCache
	bands    *BandResolver
	m        *Metrics
	log      *slog.Logger
	// Now is the wall clock of silence sweeps.
	Now func() time.Time

	pending     map[alarmKey]rules.Alarm
	saveAll     bool
	lastTooLate int64
	abandoned   atomic.Bool
}

// Abandon makes Run end without its last store and save: the state may no longer be this process's to write
// (another process took over the rules).
func (w *Watcher) Abandon() { w.abandoned.Store(true) }

type alarmKey struct {
	sensor string
	kind   rules.Kind
	start  int64
}

// WatcherDeps are the watcher's collaborators; Readings and Pub may be nil.
type WatcherDeps struct {
	Rules    *rules.Engine
	Store    *Store
	Readings Readings
	Pub      Publisher
	Cache    *SensorCache
	Bands    *BandResolver
	Metrics  *Metrics
	Log      *slog.Logger
}

// NewWatcher returns a watcher.
func NewWatcher(cfg WatcherConfig, d WatcherDeps) *Watcher {
	if cfg.DrainEvery <= 0 {
		cfg.DrainEvery = time.Second
	}
	if cfg.SweepEvery <= 0 {
		cfg.SweepEvery = 30 * time.Second
	}
	if cfg.SnapshotEvery <= 0 {
		cfg.SnapshotEvery = 30 * time.Second
	}
	if cfg.FinalTimeout <= 0 {
		cfg.FinalTimeout = 10 * time.Second
	}
	if cfg.CatchUp <= 0 {
		cfg.CatchUp = 15 * time.Minute
	}
	if cfg.SweepGrace <= 0 {
		cfg.SweepGrace = d.Rules.Config().SilenceLimit
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Metrics == nil {
		d.Metrics = NewMetrics(nil)
	}
	return &Watcher{cfg: cfg, rules: d.Rules, store: d.Store, readings: d.Readings, pub: d.Pub, cache: d.Cache, bands: d.Bands,
		m: d.Metrics, log: d.Log, Now: time.Now, pending: map[alarmKey]rules.Alarm{}}
}

// Restore loads the rules' saved state, then re-reads recent readings from InfluxDB so that readings made
// durable after the last save count too (the rules ignore readings they already have).
func (w *Watcher) Restore(ctx context.Context) error {
	snaps, err := w.store.RuleStates(ctx)
	if err != nil {
		return err
	}
	if err := w.rules.Restore(snaps); err != nil {
		return err
	}
	now := w.Now()
	from := now.Add(-w.cfg.CatchUp)
	if oldest, _, ok := w.rules.NewestRange(); ok && oldest.Add(-w.cfg.CatchUp).Before(from) {
		from = oldest.Add(-w.cfg.CatchUp)
	}
	if w.readings == nil {
		return nil
	}
	n := 0
	err = w.readings.Samples(ctx, from, now.Add(DefaultMaxFuture+time.Minute), func(x RawSample) {
		info, reason := w.cache.Lookup(ctx, x.SensorID)
		if reason != "" {
			return
		}
		r := Reading{SensorID: x.SensorID, TS: x.TS, TempC: x.TempC, Has: HasSensorID | HasTS | HasTemp}
		if x.Door != nil {
			r.DoorOpen, r.Has = *x.Door, r.Has|HasDoor
		}
		w.rules.Observe(x.SensorID, info.AssetID, sampleOf(&r, w.bands.Band(ctx, info, x.TS)))
		n++
	})
	w.log.Info("ingest: rules restored", "sensors", len(snaps), "replayed_readings", n, "since", from)
	return err
}

// Run works until ctx ends, then stores what is pending and saves the state one last time.
func (w *Watcher) Run(ctx context.Context) error {
	drain := time.NewTicker(w.cfg.DrainEvery)
	defer drain.Stop()
	sweep := time.NewTicker(w.cfg.SweepEvery)
	defer sweep.Stop()
	snap := time.NewTicker(w.cfg.SnapshotEvery)
	defer snap.Stop()
	gauges := time.NewTicker(15 * time.Second)
	defer gauges.Stop()
	started := w.Now()
	w.gauges(ctx)
	for {
		select {
		case <-ctx.Done():
			if w.abandoned.Load() {
				return nil
			}
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.FinalTimeout)
			w.Flush(fctx)
			w.save(fctx)
			cancel()
			return nil
		case <-drain.C:
			w.Flush(ctx)
		case <-sweep.C:
			if now := w.Now(); now.Sub(started) >= w.cfg.SweepGrace {
				w.rules.Sweep(now)
			}
		case <-snap.C:
			w.save(ctx)
		case <-gauges.C:
			w.gauges(ctx)
		}
	}
}

// Flush stores and publishes the alarm changes the rules have made (tests call it directly).
func (w *Watcher) Flush(ctx context.Context) {
	for _, a := range w.rules.Drain() {
		w.pending[alarmKey{a.SensorID, a.Kind, a.Start.UnixMilli()}] = a
	}
	if n := w.rules.TooLate(); n > w.lastTooLate {
		w.m.RulesTooLate.Add(float64(n - w.lastTooLate))
		w.lastTooLate = n
	}
	if len(w.pending) == 0 {
		return
	}
	views := make([]rules.Alarm, 0, len(w.pending))
	for _, a := range w.pending {
		views = append(views, a)
	}
	changed, err := w.store.ApplyAlarms(ctx, views)
	if err != nil {
		w.log.Warn("ingest: could not store alarm changes; will retry", "alarms", len(views), "err", err)
		return
	}
	clear(w.pending)
	for _, a := range changed {
		w.m.Alarms.WithLabelValues(string(a.Kind)).Inc()
		w.log.Info("ingest: alarm", "id", a.ID, "kind", a.Kind, "status", a.Status, "asset", a.AssetID, "sensor", a.SensorID,
			"started_at", a.StartedAt, "ended_at", a.EndedAt)
		w.Publish(ctx, a)
	}
	if len(changed) > 0 {
		w.gauges(ctx)
	}
}

// Publish sends an alarm on coldchain/v1/alarms/{asset_id} (PublishAlarm).
func (w *Watcher) Publish(ctx context.Context, a Alarm) { PublishAlarm(ctx, w.pub, a, w.log) }

func (w *Watcher) save(ctx context.Context) {
	snaps, err := w.rules.Snapshot(w.saveAll)
	if err == nil {
		err = w.store.SaveRuleStates(ctx, snaps)
	}
	w.saveAll = err != nil
	if err != nil {
		w.log.Warn("ingest: could not save the rules' state; will retry", "err", err)
	}
}

func (w *Watcher) gauges(ctx context.Context) {
	counts, err := w.store.AlarmCounts(ctx)
	if err != nil {
		return
	}
	w.m.OpenAlarms.Reset()
	for _, k := range []rules.Kind{rules.Excursion, rules.DoorOpen, rules.Silent} {
		for _, st := range []string{StatusOpen, StatusAcknowledged} {
			w.m.OpenAlarms.WithLabelValues(string(k), st).Set(float64(counts[[2]string{string(k), st}]))
		}
	}
}
