package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/suilong/suilong/ingest/rules"
	"github.com/suilong/suilong/ingest/spool"
)

// Topics of the MQTT contract (DESIGN.md), version 1.
const (
	TopicReadings = "coldchain/v1/readings/"
	TopicStatus   = "coldchain/v1/status/"
	TopicAlarms   = "coldchain/v1/alarms/"
	TopicCommands = "coldchain/v1/commands/"
)

// Message is an MQTT message handed to the pipeline by a source (the embedded broker's hook, or a subscriber
// on an external broker).
type Message struct {
	Topic    string
	Payload  []byte
	Received time.Time
	// Ack acknowledges the message to the broker; the pipeline calls it once the message's readings and dead
	// letters are durable. Nil for QoS 0.
	Ack func()
}

// DeadLetterWriter stores dead letters (the Store).
type DeadLetterWriter interface {
	InsertDeadLetters(ctx context.Context, ds []DeadLetter) error
}

// GatewayStatuses records gateways' online/offline status and when they were last heard from (the Store).
type GatewayStatuses interface {
	SetGatewayStatus(ctx context.Context, id, state string, at time.Time) error
	TouchGateways(ctx context.Context, seen map[string]time.Time) error
}

// PipelineConfig tunes the pipeline; zero fields take the defaults.
type PipelineConfig struct {
	Workers       int           // decoding goroutines (default GOMAXPROCS)
	QueueLen      int           // messages waiting for a worker (default 8192)
	QueueBytes    int64         // payload bytes waiting for a worker (default 16 MiB)
	BatchSize     int           // readings per InfluxDB write (default 5000)
	FlushInterval time.Duration // longest a reading waits for companions (default 200ms)
	MaxWrites     int           // concurrent writes (default 2)
	// Linger is how long a batch waits for companions even when nothing else is being processed, so that at
	// high load a write carries many readings (default 2ms).
	Linger       time.Duration
	WriteTimeout time.Duration // one InfluxDB write (default 10s)
	// StopTimeout bounds a stop: what cannot be made durable by then stays unacknowledged (default 20s).
	StopTimeout time.Duration
	// DeadLetterRate and DeadLetterBurst bound how many dead-letter records one gateway may add (per second,
	// and at once); beyond them its rejections are counted and summed up in one record a minute, so one broken
	// firmware cannot fill PostgreSQL (defaults 1/s and 3000).
	DeadLetterRate  float64
	DeadLetterBurst int
	// SummaryEvery is how often those summaries are written (default 1m).
	SummaryEvery time.Duration
	Limits       Limits
	MaxPayload   int
}

func (c PipelineConfig) withDefaults() PipelineConfig {
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.QueueLen <= 0 {
		c.QueueLen = 8192
	}
	if c.QueueBytes <= 0 {
		c.QueueBytes = 16 << 20
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 5000
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = 200 * time.Millisecond
	}
	if c.Linger <= 0 {
		c.Linger = 2 * time.Millisecond
	}
	if c.MaxWrites <= 0 {
		c.MaxWrites = 2
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = 20 * time.Second
	}
	if c.DeadLetterRate <= 0 {
		c.DeadLetterRate = 1
	}
	if c.DeadLetterBurst <= 0 {
		c.DeadLetterBurst = 3000
	}
	if c.SummaryEvery <= 0 {
		c.SummaryEvery = time.Minute
	}
	c.Limits = c.Limits.withDefaults()
	return c
}

// Pipeline turns messages into durable readings, in stages with a file each: admission (admit.go: decode,
// validate, resolve the sensor, encode line protocol, feed the rules), group commit (batch.go), durability
// (durable.go: InfluxDB, else the spool; dead letters; readings held while the registry is away), replay of the
// spools (replay.go) and gateway status (gatewaystatus.go). A message is acknowledged only once everything it
// brought is durable.
type Pipeline struct {
	cfg       PipelineConfig
	log       *slog.Logger
	m         *Metrics
	cache     *SensorCache
	bands     *BandResolver
	rules     *rules.Engine
	writer    PointWriter
	spool     *spool.Spool
	dead      DeadLetterWriter
	deadSpool *spool.Spool
	holdSpool *spool.Spool
	gateways  GatewayStatuses
	// Now is the platform clock: validation of timestamps, batch ages, backoff.
	Now func() time.Time
	// OnDurable, when set, is called with the newest reading time of each durable message (benchmarks).
	OnDurable func(newest []int64, at time.Time)
	// Latest, when set, is told each durable batch's lines (sensor_latest, for the console).
	Latest *Latest
	// Late, when set, is told of every batch stored in InfluxDB, to find the readings that arrived late.
	Late *Late

	qmu      sync.RWMutex
	closed   bool
	stopping atomic.Bool
	// stopCtx ends when a stop's time is up: writes still waiting then give up, leaving their messages
	// unacknowledged.
	stopCtx  context.Context
	stopNow  context.CancelFunc
	queue    chan Message
	pending  atomic.Int64
	budget   deadBudget
	health   writeHealth
	statuses chan status

	// queued bounds the payload bytes waiting in queue, so that memory does not scale with message size.
	qbMu   sync.Mutex
	qbCond *sync.Cond
	queued int64

	mu      sync.Mutex
	cond    *sync.Cond
	cur     *batch
	seen    map[string]time.Time
	kick    chan struct{}
	slots   chan struct{}
	writes  sync.WaitGroup
	fullLog atomic.Int64
}

// PipelineDeps are the pipeline's collaborators. Spool, DeadSpool and HoldSpool are required with a Writer:
// they are what makes an acknowledgement safe while InfluxDB or PostgreSQL is away. Without a Writer the
// pipeline only feeds the rules (the rules role: other processes store the readings), and acknowledges each
// message once the rules have seen it.
type PipelineDeps struct {
	Log     *slog.Logger
	Metrics *Metrics
	Cache   *SensorCache
	Bands   *BandResolver
	Rules   *rules.Engine
	Writer  PointWriter
	Spool   *spool.Spool
	Dead    DeadLetterWriter
	// DeadSpool keeps dead letters while PostgreSQL is away.
	DeadSpool *spool.Spool
	// HoldSpool keeps readings of sensors the cache does not know while PostgreSQL is away, until the registry
	// can say whose they are.
	HoldSpool *spool.Spool
	Gateways  GatewayStatuses
}

// NewPipeline builds a pipeline; Run starts it.
func NewPipeline(cfg PipelineConfig, d PipelineDeps) *Pipeline {
	cfg = cfg.withDefaults()
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Metrics == nil {
		d.Metrics = NewMetrics(nil)
	}
	p := &Pipeline{cfg: cfg, log: d.Log, m: d.Metrics, cache: d.Cache, bands: d.Bands, rules: d.Rules, writer: d.Writer,
		spool: d.Spool, dead: d.Dead, deadSpool: d.DeadSpool, holdSpool: d.HoldSpool, gateways: d.Gateways, Now: time.Now,
		queue: make(chan Message, cfg.QueueLen), cur: &batch{}, seen: map[string]time.Time{},
		kick: make(chan struct{}, 1), slots: make(chan struct{}, cfg.MaxWrites), statuses: make(chan status, 1024)}
	p.stopCtx, p.stopNow = context.WithCancel(context.Background())
	p.cond = sync.NewCond(&p.mu)
	p.qbCond = sync.NewCond(&p.qbMu)
	p.budget = newDeadBudget(cfg.DeadLetterRate, cfg.DeadLetterBurst)
	if p.writer != nil {
		p.m.InfluxUp.Set(1)
	}
	return p
}

// RegisterSpoolMetrics exports the spools' depth.
func (p *Pipeline) RegisterSpoolMetrics(reg prometheus.Registerer) {
	for _, s := range []struct {
		name string
		sp   *spool.Spool
	}{{"readings", p.spool}, {"dead_letter", p.deadSpool}, {"registry_wait", p.holdSpool}} {
		sp := s.sp
		if sp == nil {
			continue
		}
		labels := prometheus.Labels{"spool": s.name}
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "suilong", Subsystem: "ingest", Name: "spool_bytes",
				Help: "Bytes waiting in the local spool.", ConstLabels: labels},
				func() float64 { return float64(sp.Stats().Bytes) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "suilong", Subsystem: "ingest", Name: "spool_records",
				Help: "Records waiting in the local spool.", ConstLabels: labels},
				func() float64 { return float64(sp.Stats().Records) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "suilong", Subsystem: "ingest", Name: "spool_max_bytes",
				Help: "Bound of the local spool.", ConstLabels: labels},
				func() float64 { return float64(sp.Stats().MaxBytes) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "suilong", Subsystem: "ingest", Name: "spool_corrupt_records",
				Help: "Damaged records skipped in the local spool since start.", ConstLabels: labels},
				func() float64 { return float64(sp.Stats().Corrupt) }),
		)
	}
}

// Submit hands a message to the pipeline, blocking while the pipeline is full (backpressure to the broker). It
// returns false once the pipeline is stopping; the message is then not acknowledged and the broker will
// deliver it again.
func (p *Pipeline) Submit(m Message) bool {
	p.qmu.RLock()
	defer p.qmu.RUnlock()
	if p.closed || p.stopping.Load() {
		return false
	}
	size := int64(len(m.Payload))
	p.qbMu.Lock()
	for p.queued > 0 && p.queued+size > p.cfg.QueueBytes && !p.stopping.Load() {
		p.qbCond.Wait()
	}
	if p.stopping.Load() {
		p.qbMu.Unlock()
		return false
	}
	p.queued += size
	p.qbMu.Unlock()
	p.pending.Add(1)
	select {
	case p.queue <- m:
		return true
	case <-p.stopCtx.Done():
		p.dequeued(size)
		p.pending.Add(-1)
		return false
	}
}

func (p *Pipeline) dequeued(size int64) {
	p.qbMu.Lock()
	p.queued -= size
	p.qbCond.Broadcast()
	p.qbMu.Unlock()
}

// Run processes messages until ctx ends, then stops taking messages and makes everything taken durable within
// StopTimeout; what cannot be made durable by then is left unacknowledged, and Run returns.
func (p *Pipeline) Run(ctx context.Context) error {
	var workers, bg sync.WaitGroup
	for range p.cfg.Workers {
		workers.Go(p.worker)
	}
	bgCtx, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	flushDone := make(chan struct{})
	flusherDone := make(chan struct{})
	go func() {
		defer close(flusherDone)
		p.flusher(flushDone)
	}()
	if p.writer != nil {
		bg.Go(func() { p.replay(bgCtx, "readings", p.spool, p.replayReadings) })
		bg.Go(func() { p.replay(bgCtx, "dead_letter", p.deadSpool, p.replayDead) })
		if p.holdSpool != nil {
			bg.Go(func() { p.replayHeld(bgCtx) })
		}
		bg.Go(func() { p.statusLoop(bgCtx) })
	}

	<-ctx.Done()
	// Refuse new messages at once, and wake every Submit waiting for room, before anything else: a source
	// blocked in Submit must not hold the stop up.
	p.stopping.Store(true)
	timer := time.AfterFunc(p.cfg.StopTimeout, p.stopNow)
	defer timer.Stop()
	p.qbMu.Lock()
	p.qbCond.Broadcast()
	p.qbMu.Unlock()
	stopBG() // replay stops; the replay loops own no unacknowledged messages
	p.qmu.Lock()
	p.closed = true
	close(p.queue)
	p.qmu.Unlock()
	workers.Wait()
	close(flushDone) // the flusher writes what is left, then returns
	<-flusherDone
	p.writes.Wait()
	bg.Wait()
	p.stopNow()
	return nil
}

// Drain waits until every submitted message has been processed and written (tests, benchmarks).
func (p *Pipeline) Drain(ctx context.Context) error {
	for {
		p.mu.Lock()
		idle := p.pending.Load() == 0 && p.cur.msgs == 0 && len(p.slots) == 0
		p.mu.Unlock()
		if idle {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// writeHealth remembers whether writes to InfluxDB are failing, for /readyz.
type writeHealth struct {
	mu      sync.Mutex
	since   time.Time // first failure of the current run of failures; zero while writes succeed
	status  string
	err     error
	backoff time.Duration
	until   time.Time // InfluxDB is presumed away until then: batches go straight to the spool
}

// Healthy returns nil while writes to InfluxDB succeed, else an error saying since when they fail and why
// (a database dropped, a password changed, the server away). The readings meanwhile wait in the spool.
func (p *Pipeline) Healthy() error {
	if p.writer == nil {
		return nil
	}
	h := &p.health
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.since.IsZero() {
		return nil
	}
	st := p.spool.Stats()
	return fmt.Errorf("InfluxDB writes failing since %s (status %s: %v); %d records (%d bytes) wait in the spool",
		h.since.UTC().Format(time.RFC3339), h.status, h.err, st.Records, st.Bytes)
}
