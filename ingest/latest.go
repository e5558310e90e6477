package ingest

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/suilong/suilong/internal/pg"
)

// LatestReading is a sensor's newest durable reading (sensor_latest), what the console shows as "now".
type LatestReading struct {
	SensorID    string    `json:"sensor_id"`
	TS          time.Time `json:"ts"`
	TempC       float64   `json:"temp_c"`
	HumidityPct *float64  `json:"humidity_pct,omitempty"`
	DoorOpen    *bool     `json:"door_open,omitempty"`
	BatteryPct  *float64  `json:"battery_pct,omitempty"`
	Lat         *float64  `json:"lat,omitempty"`
	Lon         *float64  `json:"lon,omitempty"`
}

// Latest maintains sensor_latest, each sensor's newest durable reading, so that a page of a whole fleet reads
// its latest values in one query instead of one InfluxDB query per sensor. The pipeline hands it each durable
// batch's lines (Note), which costs the write path one slice append: the batch owns its lines and never reuses
// them. Run parses them and upserts the newest reading of each sensor once a second, off the hot path; with
// several ingest processes each upserts its own sensors and an older reading never replaces a newer one.
type Latest struct {
	db  pg.DB
	log *slog.Logger

	mu      sync.Mutex
	pending [][]byte
	bytes   int
	// MaxPending bounds the lines waiting for the next flush (default 64 MiB); beyond it the oldest batches
	// are dropped and counted: a sensor's value then waits for its next reading.
	MaxPending int
	dropped    prometheus.Counter
}

// NewLatest returns the cache on db; reg (optional) gets its counter of dropped batches.
func NewLatest(db pg.DB, reg prometheus.Registerer, log *slog.Logger) *Latest {
	if log == nil {
		log = slog.Default()
	}
	l := &Latest{db: db, log: log, MaxPending: 64 << 20,
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "suilong_ingest_latest_dropped_batches_total",
			Help: "Durable batches whose readings the latest-value cache dropped because its flushes fell behind."})}
	if reg != nil {
		_ = reg.Register(l.dropped)
	}
	return l
}

// Note takes the line protocol of a durable batch (AppendLine's format); the lines must not change after.
func (l *Latest) Note(lines []byte) {
	if len(lines) == 0 {
		return
	}
	l.mu.Lock()
	l.pending = append(l.pending, lines)
	l.bytes += len(lines)
	for l.bytes > l.MaxPending && len(l.pending) > 1 {
		l.bytes -= len(l.pending[0])
		l.pending = l.pending[1:]
		l.dropped.Inc()
	}
	l.mu.Unlock()
}

// Run flushes every interval (default 1s) until ctx ends, then once more.
func (l *Latest) Run(ctx context.Context, every time.Duration) {
	flushEvery(ctx, every, l.Flush, func(err error) {
		l.log.Warn("ingest: could not store the latest readings; will retry", "err", err)
	})
}

// flushEvery calls flush every interval (default 1s) until ctx ends, telling failed of each failure, then once
// more with a few seconds of its own, so that what was noted before a stop is not lost with it.
func flushEvery(ctx context.Context, every time.Duration, flush func(context.Context) error, failed func(error)) {
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if err := flush(fctx); err != nil {
				failed(err)
			}
			cancel()
			return
		case <-t.C:
			if err := flush(ctx); err != nil {
				failed(err)
			}
		}
	}
}

// Flush stores the newest reading of every sensor noted since the last flush. On failure the readings are
// kept for the next one.
func (l *Latest) Flush(ctx context.Context) error {
	l.mu.Lock()
	batches := l.pending
	l.pending, l.bytes = nil, 0
	l.mu.Unlock()
	if len(batches) == 0 {
		return nil
	}
	newest := map[string]LatestReading{}
	for _, b := range batches {
		for len(b) > 0 {
			i := 0
			for i < len(b) && b[i] != '\n' {
				i++
			}
			if r, ok := parseLatest(b[:i]); ok {
				if old, seen := newest[r.SensorID]; !seen || r.TS.After(old.TS) {
					newest[r.SensorID] = r
				}
			}
			if i < len(b) {
				i++
			}
			b = b[i:]
		}
	}
	n := len(newest)
	ids, ts, temp := make([]string, 0, n), make([]time.Time, 0, n), make([]float64, 0, n)
	hum, bat, lat, lon := make([]*float64, 0, n), make([]*float64, 0, n), make([]*float64, 0, n), make([]*float64, 0, n)
	door := make([]*bool, 0, n)
	for _, r := range newest {
		ids, ts, temp = append(ids, r.SensorID), append(ts, r.TS), append(temp, r.TempC)
		hum, bat, lat, lon, door = append(hum, r.HumidityPct), append(bat, r.BatteryPct), append(lat, r.Lat), append(lon, r.Lon), append(door, r.DoorOpen)
	}
	_, err := l.db.Exec(ctx, `INSERT INTO sensor_latest (sensor_id, ts, temp_c, humidity_pct, door_open, battery_pct, lat, lon, updated_at)
		SELECT v.*, now() FROM unnest($1::text[], $2::timestamptz[], $3::float8[], $4::float8[], $5::bool[], $6::float8[], $7::float8[], $8::float8[])
			AS v(sensor_id, ts, temp_c, humidity_pct, door_open, battery_pct, lat, lon)
		ON CONFLICT (sensor_id) DO UPDATE SET ts = EXCLUDED.ts, temp_c = EXCLUDED.temp_c, humidity_pct = EXCLUDED.humidity_pct,
			door_open = EXCLUDED.door_open, battery_pct = EXCLUDED.battery_pct, lat = EXCLUDED.lat, lon = EXCLUDED.lon, updated_at = now()
		WHERE sensor_latest.ts < EXCLUDED.ts`, ids, ts, temp, hum, door, bat, lat, lon)
	if err != nil {
		l.mu.Lock()
		l.pending = append(batches, l.pending...)
		for _, b := range batches {
			l.bytes += len(b)
		}
		l.mu.Unlock()
		return pg.Err(err, "latest readings")
	}
	return nil
}

// parseLatest reads one line of AppendLine's format: the sensor_id tag, the fields and the time.
func parseLatest(line []byte) (LatestReading, bool) {
	var r LatestReading
	parts := splitUnescaped(line, ' ', 3)
	if len(parts) != 3 {
		return r, false
	}
	for _, kv := range splitUnescaped(parts[0], ',', -1)[1:] {
		if k, v, ok := cutUnescaped(kv, '='); ok && string(k) == "sensor_id" {
			r.SensorID = unescapeTag(v)
		}
	}
	ns, err := strconv.ParseInt(string(parts[2]), 10, 64)
	if err != nil || r.SensorID == "" {
		return r, false
	}
	r.TS = time.Unix(0, ns).UTC()
	hasTemp := false
	for _, kv := range splitUnescaped(parts[1], ',', -1) {
		k, v, ok := cutUnescaped(kv, '=')
		if !ok {
			continue
		}
		if string(k) == "door_open" {
			b := string(v) == "true"
			r.DoorOpen = &b
			continue
		}
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			continue
		}
		switch string(k) {
		case "temp_c":
			r.TempC, hasTemp = f, true
		case "humidity_pct":
			r.HumidityPct = &f
		case "battery_pct":
			r.BatteryPct = &f
		case "lat":
			r.Lat = &f
		case "lon":
			r.Lon = &f
		}
	}
	return r, hasTemp
}
