package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"runtime"
	"strings"
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

// PointWriter writes line protocol to InfluxDB.
type PointWriter interface {
	// WriteLines returns once InfluxDB has the points. An error wrapping ErrRejected means InfluxDB refused the
	// data itself (retrying cannot help); any other error means it could not be reached.
	WriteLines(ctx context.Context, lines []byte) error
}

// ErrRejected marks data InfluxDB refuses (a 4xx answer).
var ErrRejected = errors.New("influxdb rejected the data")

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
	c.Limits = c.Limits.withDefaults()
	return c
}

// Pipeline turns messages into durable readings: decode, validate, resolve the sensor, encode line protocol,
// batch, write to InfluxDB (or the spool when it is away), store the dead letter, then acknowledge. Rules see
// every accepted reading.
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
	gateways  GatewayStatuses
	// Now is the platform clock (validation of timestamps).
	Now func() time.Time
	// OnDurable, when set, is called with the newest reading time of each durable message (benchmarks).
	OnDurable func(newest []int64, at time.Time)

	qmu     sync.RWMutex
	closed  bool
	queue   chan Message
	pending atomic.Int64

	// queued bounds the payload bytes waiting in queue, so that memory does not scale with message size.
	qbMu   sync.Mutex
	qbCond *sync.Cond
	queued int64

	mu       sync.Mutex
	cond     *sync.Cond
	cur      *batch
	seen     map[string]time.Time
	kick     chan struct{}
	slots    chan struct{}
	writes   sync.WaitGroup
	downTill atomic.Int64 // unix ns until which InfluxDB is presumed down
	fullLog  atomic.Int64

	statuses chan status
}

type status struct {
	gateway, state string
	at             time.Time
}

type batch struct {
	lines  []byte
	n      int
	msgs   int
	acks   []func()
	newest []int64
	dead   []DeadLetter
	first  time.Time
}

// PipelineDeps are the pipeline's collaborators. Spool and DeadSpool are required: they are what makes an
// acknowledgement safe while InfluxDB or PostgreSQL is away.
type PipelineDeps struct {
	Log       *slog.Logger
	Metrics   *Metrics
	Cache     *SensorCache
	Bands     *BandResolver
	Rules     *rules.Engine
	Writer    PointWriter
	Spool     *spool.Spool
	Dead      DeadLetterWriter
	DeadSpool *spool.Spool
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
		spool: d.Spool, dead: d.Dead, deadSpool: d.DeadSpool, gateways: d.Gateways, Now: time.Now,
		queue: make(chan Message, cfg.QueueLen), cur: &batch{}, seen: map[string]time.Time{},
		kick: make(chan struct{}, 1), slots: make(chan struct{}, cfg.MaxWrites), statuses: make(chan status, 1024)}
	p.cond = sync.NewCond(&p.mu)
	p.qbCond = sync.NewCond(&p.qbMu)
	p.m.InfluxUp.Set(1)
	return p
}

// RegisterSpoolMetrics exports the spools' depth.
func (p *Pipeline) RegisterSpoolMetrics(reg prometheus.Registerer) {
	for _, s := range []struct {
		name string
		sp   *spool.Spool
	}{{"readings", p.spool}, {"dead_letter", p.deadSpool}} {
		sp := s.sp
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "suilong", Subsystem: "ingest", Name: "spool_bytes",
				Help: "Bytes waiting in the local spool.", ConstLabels: prometheus.Labels{"spool": s.name}},
				func() float64 { return float64(sp.Stats().Bytes) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "suilong", Subsystem: "ingest", Name: "spool_records",
				Help: "Batches waiting in the local spool.", ConstLabels: prometheus.Labels{"spool": s.name}},
				func() float64 { return float64(sp.Stats().Records) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "suilong", Subsystem: "ingest", Name: "spool_max_bytes",
				Help: "Bound of the local spool.", ConstLabels: prometheus.Labels{"spool": s.name}},
				func() float64 { return float64(sp.Stats().MaxBytes) }),
		)
	}
}

// Submit hands a message to the pipeline, blocking while the pipeline is full (backpressure to the broker). It
// returns false once the pipeline is stopping; the message is then not acknowledged and the broker will
// deliver it again.
func (p *Pipeline) Submit(m Message) bool {
	p.qmu.RLock()
	defer p.qmu.RUnlock()
	if p.closed {
		return false
	}
	size := int64(len(m.Payload))
	p.qbMu.Lock()
	for p.queued > 0 && p.queued+size > p.cfg.QueueBytes {
		p.qbCond.Wait()
	}
	p.queued += size
	p.qbMu.Unlock()
	p.pending.Add(1)
	p.queue <- m
	return true
}

// Run processes messages until ctx ends, then stops taking messages, makes everything taken durable (or leaves
// it unacknowledged when that cannot be done within the write timeout) and returns.
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
	bg.Go(func() { p.replay(bgCtx, p.spool, p.replayReadings) })
	bg.Go(func() { p.replay(bgCtx, p.deadSpool, p.replayDead) })
	bg.Go(func() { p.statusLoop(bgCtx) })

	<-ctx.Done()
	p.qmu.Lock()
	p.closed = true
	close(p.queue)
	p.qmu.Unlock()
	workers.Wait()
	close(flushDone) // the flusher writes what is left, then returns
	<-flusherDone
	p.writes.Wait()
	stopBG()
	bg.Wait()
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

func gatewayOf(topic, prefix string) (string, bool) {
	if !strings.HasPrefix(topic, prefix) {
		return "", false
	}
	gw := topic[len(prefix):]
	if checkID([]byte(gw)) != "" {
		return "", false
	}
	return gw, true
}

type workerState struct {
	dec      Decoder
	readings []Reading
	rejs     []Rejection
	lines    []byte
	dead     []DeadLetter
}

func (p *Pipeline) worker() {
	w := &workerState{dec: Decoder{MaxPayload: p.cfg.MaxPayload, Intern: p.cache.Intern}}
	for m := range p.queue {
		p.qbMu.Lock()
		p.queued -= int64(len(m.Payload))
		p.qbCond.Signal()
		p.qbMu.Unlock()
		p.process(w, &m)
	}
}

// hardLimit bounds a batch while writes are slow: workers wait instead of growing it (backpressure).
func (p *Pipeline) hardLimit() int { return 4 * p.cfg.BatchSize }

func (p *Pipeline) process(w *workerState, m *Message) {
	ctx := context.Background()
	now := p.Now()
	if gw, ok := gatewayOf(m.Topic, TopicStatus); ok {
		p.m.statusMessages.Inc()
		p.status(gw, m.Payload, now)
		if m.Ack != nil {
			m.Ack()
		}
		p.pending.Add(-1)
		return
	}
	p.m.readingMessages.Inc()
	w.lines, w.dead = w.lines[:0], w.dead[:0]
	n := 0
	var newest int64
	gw, ok := gatewayOf(m.Topic, TopicReadings)
	if !ok {
		rej := Rejection{Index: -1, Reason: ReasonBadTopic, Detail: "topic must be " + TopicReadings + "{gateway_id}", Raw: excerpt(m.Payload)}
		w.dead = append(w.dead, deadLetterOf(&rej, "", m.Topic, m.Received))
		p.m.Rejected.WithLabelValues(string(rej.Reason)).Inc()
	} else {
		w.readings, w.rejs = w.dec.Decode(m.Payload, w.readings[:0], w.rejs[:0])
		p.m.Received.Add(float64(len(w.readings)))
		for k := range w.readings {
			r := &w.readings[k]
			if rej, ok := p.cfg.Limits.Validate(r, now); !ok {
				w.rejs = append(w.rejs, rej)
				continue
			}
			info, reason := p.cache.Lookup(ctx, r.SensorID)
			if reason != "" {
				detail := "sensor " + r.SensorID + " is not registered"
				if reason == ReasonRegistryDown {
					detail = "sensor " + r.SensorID + " is not cached and the registry (PostgreSQL) is unreachable"
				}
				w.rejs = append(w.rejs, Rejection{Index: r.Index, Reason: reason, Field: "sensor_id", Detail: detail, SensorID: r.SensorID, Raw: r.raw})
				continue
			}
			if info.GatewayID != gw {
				w.rejs = append(w.rejs, Rejection{Index: r.Index, Reason: ReasonForeignSensor, Field: "sensor_id",
					Detail: "sensor " + r.SensorID + " belongs to gateway " + info.GatewayID + ", not " + gw, SensorID: r.SensorID, Raw: r.raw})
				continue
			}
			w.lines = AppendLine(w.lines, r, info.Placement())
			n++
			ts := r.TS.UnixNano()
			newest = max(newest, ts)
			if p.rules != nil {
				p.rules.Observe(r.SensorID, info.AssetID, sampleOf(r, p.bands.Band(ctx, info, r.TS)))
			}
		}
		for k := range w.rejs {
			w.dead = append(w.dead, deadLetterOf(&w.rejs[k], gw, m.Topic, m.Received))
			p.m.Rejected.WithLabelValues(string(w.rejs[k].Reason)).Inc()
		}
		p.m.Accepted.Add(float64(n))
	}

	p.mu.Lock()
	for p.cur.n >= p.hardLimit() {
		p.cond.Wait()
	}
	b := p.cur
	if b.msgs == 0 {
		b.first = now
	}
	b.lines = append(b.lines, w.lines...)
	b.n += n
	b.msgs++
	if m.Ack != nil {
		b.acks = append(b.acks, m.Ack)
	}
	if n > 0 {
		b.newest = append(b.newest, newest)
	}
	b.dead = append(b.dead, w.dead...)
	if gw != "" {
		p.seen[gw] = now
	}
	p.mu.Unlock()
	p.pending.Add(-1)
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

func sampleOf(r *Reading, b Band) rules.Sample {
	s := rules.Sample{TS: r.TS.UnixMilli(), TempC: float32(r.TempC), Lo: float32(math.Inf(-1)), Hi: float32(math.Inf(1))}
	if b.MinC != nil {
		s.Lo = float32(*b.MinC)
	}
	if b.MaxC != nil {
		s.Hi = float32(*b.MaxC)
	}
	if r.Has&HasDoor != 0 {
		s.Door = rules.DoorClosed
		if r.DoorOpen {
			s.Door = rules.DoorOpened
		}
	}
	return s
}

// status records a gateway's status message: {"state":"online"|"offline","ts":...}.
func (p *Pipeline) status(gw string, payload []byte, now time.Time) {
	var doc struct {
		State string          `json:"state"`
		TS    json.RawMessage `json:"ts"`
	}
	if err := json.Unmarshal(payload, &doc); err != nil || (doc.State != "online" && doc.State != "offline") {
		p.log.Debug("ingest: ignoring a malformed status message", "gateway", gw)
		return
	}
	at := now
	var d Decoder
	if len(doc.TS) > 0 {
		if rs, _ := d.Decode([]byte(`{"ts":`+string(doc.TS)+`}`), nil, nil); len(rs) == 1 && rs[0].Has&HasTS != 0 {
			at = rs[0].TS
		}
	}
	select {
	case p.statuses <- status{gw, doc.State, at}:
	default: // a status storm; the retained status will be seen again
	}
}

func (p *Pipeline) statusLoop(ctx context.Context) {
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	flushSeen := func() {
		p.mu.Lock()
		seen := p.seen
		p.seen = map[string]time.Time{}
		p.mu.Unlock()
		if p.gateways != nil && len(seen) > 0 {
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if err := p.gateways.TouchGateways(wctx, seen); err != nil {
				p.log.Debug("ingest: could not record when gateways were last seen", "err", err)
			}
			cancel()
		}
	}
	for {
		select {
		case <-ctx.Done():
			flushSeen()
			return
		case s := <-p.statuses:
			if p.gateways != nil {
				wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				if err := p.gateways.SetGatewayStatus(wctx, s.gateway, s.state, s.at); err != nil {
					p.log.Warn("ingest: could not record a gateway's status", "gateway", s.gateway, "err", err)
				}
				cancel()
			}
		case <-tick.C:
			flushSeen()
		}
	}
}

// flusher starts a write whenever the current batch is ready and a write slot is free.
func (p *Pipeline) flusher(done <-chan struct{}) {
	timer := time.NewTimer(p.cfg.FlushInterval)
	defer timer.Stop()
	final := false
	for {
		select {
		case <-p.kick:
		case <-timer.C:
		case <-done:
			final, done = true, nil
		}
		for {
			b := p.take(final)
			if b == nil {
				break
			}
			p.writes.Add(1)
			go p.write(b)
		}
		if final {
			p.mu.Lock()
			empty := p.cur.msgs == 0
			p.mu.Unlock()
			if empty {
				return
			}
		}
		timer.Reset(p.cfg.Linger)
	}
}

// take swaps out the current batch when it is ready: full, old enough, or nothing else is coming (the workers
// are idle). At high load the writes in flight hold the slots, so batches grow while they wait: group commit.
func (p *Pipeline) take(final bool) *batch {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.cur
	if b.msgs == 0 {
		return nil
	}
	age := time.Since(b.first)
	ready := final || b.n >= p.cfg.BatchSize || len(b.dead) >= 1000 || age >= p.cfg.FlushInterval ||
		(p.pending.Load() == 0 && age >= p.cfg.Linger)
	if !ready {
		return nil
	}
	if final {
		p.slots <- struct{}{} // wait for a slot at the end
	} else {
		select {
		case p.slots <- struct{}{}:
		default:
			return nil
		}
	}
	p.cur = &batch{lines: make([]byte, 0, len(b.lines)), acks: make([]func(), 0, len(b.acks))}
	p.cond.Broadcast()
	return b
}

func (p *Pipeline) influxDown() bool { return time.Now().UnixNano() < p.downTill.Load() }

func (p *Pipeline) write(b *batch) {
	defer func() {
		<-p.slots
		p.writes.Done()
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}()
	deadline := time.Now().Add(3 * p.cfg.WriteTimeout)
	if len(b.lines) > 0 && !p.writeReadings(b, deadline) {
		return // not durable: leave the messages unacknowledged, the broker delivers them again
	}
	if len(b.dead) > 0 && !p.writeDead(b.dead, deadline) {
		return
	}
	for _, ack := range b.acks {
		ack()
	}
	now := time.Now()
	for _, ts := range b.newest {
		p.m.DelaySeconds.Observe(max(0, float64(now.UnixNano()-ts)/1e9))
	}
	if p.OnDurable != nil {
		p.OnDurable(b.newest, now)
	}
}

// writeReadings makes a batch's readings durable: in InfluxDB, or in the spool. While the spool holds anything,
// new batches queue behind it so that replay keeps the order of arrival.
func (p *Pipeline) writeReadings(b *batch, deadline time.Time) bool {
	p.m.BatchReadings.Observe(float64(b.n))
	for attempt := 0; ; attempt++ {
		if p.spool.Empty() && !p.influxDown() {
			ctx, cancel := context.WithTimeout(context.Background(), p.cfg.WriteTimeout)
			start := time.Now()
			err := p.writer.WriteLines(ctx, b.lines)
			cancel()
			switch {
			case err == nil:
				p.m.WriteSeconds.Observe(time.Since(start).Seconds())
				p.m.writtenDirect.Add(float64(b.n))
				p.m.InfluxUp.Set(1)
				return true
			case errors.Is(err, ErrRejected):
				p.rejectedByInflux(b.lines, err)
				return true
			default:
				p.downTill.Store(time.Now().Add(2 * time.Second).UnixNano())
				if p.m.InfluxUp != nil {
					p.m.InfluxUp.Set(0)
				}
				p.log.Warn("ingest: InfluxDB write failed; spooling readings locally", "readings", b.n, "err", err)
			}
		}
		err := p.spool.Append(b.lines)
		if err == nil {
			p.m.Spooled.Add(float64(b.n))
			return true
		}
		if errors.Is(err, spool.ErrFull) {
			p.m.SpoolFull.Inc()
			if last := p.fullLog.Load(); time.Now().UnixNano()-last > int64(10*time.Second) {
				p.fullLog.Store(time.Now().UnixNano())
				st := p.spool.Stats()
				p.log.Error("ingest: spool is full and InfluxDB is away; ingest is paused, messages stay unacknowledged at the broker",
					"spool_bytes", st.Bytes, "max_bytes", st.MaxBytes)
			}
		} else {
			p.log.Error("ingest: cannot append to the spool", "err", err)
		}
		if time.Now().After(deadline) && p.stopping() {
			return false
		}
		time.Sleep(min(time.Duration(attempt+1)*200*time.Millisecond, 2*time.Second))
	}
}

func (p *Pipeline) stopping() bool {
	p.qmu.RLock()
	defer p.qmu.RUnlock()
	return p.closed
}

// rejectedByInflux keeps what InfluxDB refused in the dead letter: retrying cannot fix it.
func (p *Pipeline) rejectedByInflux(lines []byte, err error) {
	p.log.Error("ingest: InfluxDB refused a batch; it goes to the dead letter", "err", err)
	rej := Rejection{Index: -1, Reason: ReasonStorageRejected, Detail: err.Error(), Raw: lines}
	d := deadLetterOf(&rej, "", "", time.Now())
	p.m.Rejected.WithLabelValues(string(ReasonStorageRejected)).Inc()
	p.writeDead([]DeadLetter{d}, time.Now().Add(p.cfg.WriteTimeout))
}

func (p *Pipeline) writeDead(ds []DeadLetter, deadline time.Time) bool {
	for attempt := 0; ; attempt++ {
		if p.deadSpool.Empty() {
			ctx, cancel := context.WithTimeout(context.Background(), p.cfg.WriteTimeout)
			err := p.dead.InsertDeadLetters(ctx, ds)
			cancel()
			if err == nil {
				p.m.DeadLetters.Add(float64(len(ds)))
				return true
			}
			p.log.Warn("ingest: could not store dead letters; spooling them locally", "records", len(ds), "err", err)
		}
		data, _ := json.Marshal(ds)
		err := p.deadSpool.Append(data)
		if err == nil {
			return true
		}
		p.log.Error("ingest: cannot spool dead letters", "err", err)
		if time.Now().After(deadline) && p.stopping() {
			return false
		}
		time.Sleep(min(time.Duration(attempt+1)*200*time.Millisecond, 2*time.Second))
	}
}

// replay drains a spool in order, retrying with backoff while the destination is away.
func (p *Pipeline) replay(ctx context.Context, sp *spool.Spool, store func(context.Context, []spool.Record) error) {
	backoff := 250 * time.Millisecond
	for {
		if sp.Empty() {
			select {
			case <-ctx.Done():
				return
			case <-time.After(250 * time.Millisecond):
			}
			continue
		}
		recs, err := sp.Peek(64, 8<<20)
		if err == nil && len(recs) > 0 {
			wctx, cancel := context.WithTimeout(ctx, p.cfg.WriteTimeout)
			err = store(wctx, recs)
			cancel()
			if err == nil {
				err = sp.Commit(recs)
			}
		}
		if err == nil {
			backoff = 250 * time.Millisecond
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (p *Pipeline) replayReadings(ctx context.Context, recs []spool.Record) error {
	var buf []byte
	if len(recs) == 1 {
		buf = recs[0].Data
	} else {
		for _, r := range recs {
			buf = append(buf, r.Data...)
		}
	}
	err := p.writer.WriteLines(ctx, buf)
	if errors.Is(err, ErrRejected) {
		p.rejectedByInflux(buf, err)
		err = nil
	}
	if err != nil {
		return err
	}
	p.m.InfluxUp.Set(1)
	p.m.writtenSpool.Add(float64(bytes.Count(buf, []byte{'\n'})))
	return nil
}

func (p *Pipeline) replayDead(ctx context.Context, recs []spool.Record) error {
	var all []DeadLetter
	for _, r := range recs {
		var ds []DeadLetter
		if err := json.Unmarshal(r.Data, &ds); err != nil {
			p.log.Error("ingest: unreadable dead letters in the spool; skipped", "err", err)
			continue
		}
		all = append(all, ds...)
	}
	if err := p.dead.InsertDeadLetters(ctx, all); err != nil {
		return err
	}
	p.m.DeadLetters.Add(float64(len(all)))
	return nil
}
