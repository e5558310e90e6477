package ingest

import (
	"bytes"
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// AssetReadings is a stretch of an asset's readings that were just stored: the oldest and the newest of them.
type AssetReadings struct {
	AssetID  string
	From, To time.Time
}

// LateSink is told of readings stored after their time had settled: traceability keeps summaries of settled
// stretches of its legs (and the pages built on them) and must build those again.
type LateSink interface {
	ReadingsArrivedLate(ctx context.Context, rs []AssetReadings) error
}

// Late finds, in each batch of line protocol the pipeline has stored in InfluxDB (direct or replayed from the
// spool), the readings older than Horizon, and tells the sink about them once a second, one stretch per asset,
// off the write path. Readings arrive late after a gateway was offline or while InfluxDB was away; in a
// healthy fleet a batch has none, and costs a scan of its timestamps.
type Late struct {
	sink    LateSink
	horizon time.Duration
	log     *slog.Logger
	now     func() time.Time

	mu      sync.Mutex
	pending map[string]AssetReadings
	// MaxAssets bounds the assets waiting for the next flush (default 100,000); beyond it the stretches are
	// dropped and counted, and the sink's own periodic check must find them.
	MaxAssets int
	dropped   prometheus.Counter
	failures  prometheus.Counter
}

// NewLate returns the finder of readings older than horizon; reg (optional) gets its counters.
func NewLate(sink LateSink, horizon time.Duration, reg prometheus.Registerer, log *slog.Logger) *Late {
	if log == nil {
		log = slog.Default()
	}
	l := &Late{sink: sink, horizon: horizon, log: log, now: time.Now, pending: map[string]AssetReadings{}, MaxAssets: 100_000,
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "suilong_ingest_late_dropped_total",
			Help: "Stretches of late readings that could not be passed on to traceability (too many waiting); its periodic check finds them."}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "suilong_ingest_late_flush_failures_total",
			Help: "Failed attempts to tell traceability of late readings (they are kept for the next)."})}
	if reg != nil {
		_ = reg.Register(l.dropped)
		_ = reg.Register(l.failures)
	}
	return l
}

// Note takes lines now stored in InfluxDB (AppendLine's format).
func (l *Late) Note(lines []byte) {
	cut := l.now().Add(-l.horizon).UnixNano()
	for len(lines) > 0 {
		i := bytes.IndexByte(lines, '\n')
		line := lines
		if i >= 0 {
			line, lines = lines[:i], lines[i+1:]
		} else {
			lines = nil
		}
		sp := bytes.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		ns, err := strconv.ParseInt(string(line[sp+1:]), 10, 64)
		if err != nil || ns >= cut {
			continue
		}
		if asset := lineTag(line, "asset_id"); asset != "" {
			l.add(asset, time.Unix(0, ns).UTC())
		}
	}
}

func (l *Late) add(asset string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r, ok := l.pending[asset]
	switch {
	case !ok && len(l.pending) >= l.MaxAssets:
		l.dropped.Inc()
		return
	case !ok:
		r = AssetReadings{AssetID: asset, From: at, To: at}
	case at.Before(r.From):
		r.From = at
	case at.After(r.To):
		r.To = at
	}
	l.pending[asset] = r
}

// Run flushes every interval (default 1s) until ctx ends, then once more.
func (l *Late) Run(ctx context.Context, every time.Duration) {
	flushEvery(ctx, every, l.Flush, func(err error) {
		l.log.Warn("ingest: could not tell traceability of late readings; will retry", "err", err)
	})
}

// Flush passes on what was noted since the last flush; on failure it is kept for the next.
func (l *Late) Flush(ctx context.Context) error {
	l.mu.Lock()
	if len(l.pending) == 0 {
		l.mu.Unlock()
		return nil
	}
	batch := l.pending
	l.pending = map[string]AssetReadings{}
	l.mu.Unlock()
	rs := make([]AssetReadings, 0, len(batch))
	for _, r := range batch {
		rs = append(rs, r)
	}
	if err := l.sink.ReadingsArrivedLate(ctx, rs); err != nil {
		l.failures.Inc()
		for _, r := range rs {
			l.add(r.AssetID, r.From)
			l.add(r.AssetID, r.To)
		}
		return err
	}
	return nil
}

// lineTag returns the value of a tag of a line of AppendLine's format, unescaped ("" without it).
func lineTag(line []byte, key string) string {
	parts := splitUnescaped(line, ' ', 2)
	if len(parts) == 0 {
		return ""
	}
	for _, kv := range splitUnescaped(parts[0], ',', -1)[1:] {
		if k, v, ok := cutUnescaped(kv, '='); ok && string(k) == key {
			return unescapeTag(v)
		}
	}
	return ""
}
