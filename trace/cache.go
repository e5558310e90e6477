package trace

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/internal/pg"
)

// A leg's readings summary (windows of BaseEvery and the out-of-band readings) is computed in InfluxDB once and
// kept in PostgreSQL: aggregating a 30-day leg takes InfluxDB 1.8 seconds, reading the summary back
// milliseconds. Each use checks the summary against the count and sum of the readings it came from, which
// InfluxDB answers without aggregating windows; readings that arrived late change them and the summary is
// computed again. An open leg's summary is extended as the leg goes on; the last Settle of it is always read
// live.

// chunk bounds one Series query: at 5-minute windows a week is 2,016 windows.
const chunk = 7 * 24 * time.Hour

type cacheEntry struct {
	to      time.Time
	count   int64
	sum     float64
	windows []Window
	outside []Sample
}

func cacheKey(asset string, from time.Time, b Band) string {
	bound := func(p *float64) string {
		if p == nil {
			return "-"
		}
		return fmt.Sprint(*p)
	}
	return fmt.Sprintf("%s|%s|%s|%s", asset, from.UTC().Format(time.RFC3339Nano), bound(b.MinC), bound(b.MaxC))
}

// legReadings returns the readings summary of a leg, from the cache where it can.
func (s *Service) legReadings(ctx context.Context, leg Leg, band Band, now time.Time) (LegReadings, error) {
	from, to := leg.From, leg.End(now)
	if !to.After(from) {
		return LegReadings{}, nil
	}
	// Up to `settled` the summary is kept; after it, read live.
	settled := to
	if limit := now.Add(-s.Settle); to.After(limit) {
		settled = limit.Truncate(BaseEvery)
	}
	if !settled.After(from) {
		e, err := s.fetch(ctx, leg.AssetID, from, to, band)
		return LegReadings{Windows: e.windows, Outside: e.outside}, err
	}
	key := cacheKey(leg.AssetID, from, band)
	e, err := s.cached(ctx, key, leg.AssetID, from, settled, band)
	if err != nil {
		return LegReadings{}, err
	}
	if to.After(settled) {
		tail, err := s.fetch(ctx, leg.AssetID, settled, to, band)
		if err != nil {
			return LegReadings{}, err
		}
		e.windows = appendWindows(e.windows, tail.windows)
		e.outside = append(e.outside, tail.outside...)
	}
	return LegReadings{Windows: e.windows, Outside: e.outside}, nil
}

// cached returns the summary of [from, upto), reusing, extending or recomputing the stored one.
func (s *Service) cached(ctx context.Context, key, asset string, from, upto time.Time, band Band) (cacheEntry, error) {
	e, err := s.Store.getCache(ctx, key)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		s.metrics.cache.WithLabelValues("miss").Inc()
	case err != nil:
		return cacheEntry{}, err
	case e.to.After(upto):
		// The leg ended earlier than the summary reaches (a receipt recorded late): start again.
		s.metrics.cache.WithLabelValues("miss").Inc()
	default:
		n, sum, err := s.Readings.Fingerprint(ctx, asset, from, e.to)
		if err != nil {
			return cacheEntry{}, err
		}
		if n != e.count || math.Abs(sum-e.sum) > 1e-6*max(1, math.Abs(sum)) {
			s.metrics.cache.WithLabelValues("stale").Inc()
			s.Log.Info("trace: readings arrived late; summarising the leg again", "asset", asset, "from", from, "to", e.to, "upto", upto, "readings", n, "had", e.count, "sum", sum, "had_sum", e.sum)
			break
		}
		if e.to.Equal(upto) {
			s.metrics.cache.WithLabelValues("hit").Inc()
			return e, nil
		}
		ext, err := s.fetch(ctx, asset, e.to, upto, band)
		if err != nil {
			return cacheEntry{}, err
		}
		e.windows = appendWindows(e.windows, ext.windows)
		e.outside = append(e.outside, ext.outside...)
		e.count += ext.count
		e.sum += ext.sum
		e.to = upto
		s.metrics.cache.WithLabelValues("extended").Inc()
		return e, s.Store.putCache(ctx, key, asset, from, e)
	}
	e, err = s.fetch(ctx, asset, from, upto, band)
	if err != nil {
		return cacheEntry{}, err
	}
	return e, s.Store.putCache(ctx, key, asset, from, e)
}

// fetch summarises [from, to) from InfluxDB.
func (s *Service) fetch(ctx context.Context, asset string, from, to time.Time, band Band) (cacheEntry, error) {
	e := cacheEntry{to: to}
	for c0 := from; c0.Before(to); {
		c1 := c0.Add(chunk).Truncate(BaseEvery)
		if c1.After(to) {
			c1 = to
		}
		ws, err := s.Readings.Series(ctx, asset, c0, c1, BaseEvery)
		if err != nil {
			return e, fmt.Errorf("readings of %s: %w", asset, err)
		}
		e.windows = appendWindows(e.windows, ws)
		c0 = c1
	}
	for _, w := range e.windows {
		e.count += int64(w.Count)
		e.sum += w.MeanC * float64(w.Count)
	}
	if !band.IsZero() {
		out, err := s.Readings.Outside(ctx, asset, from, to, band)
		if err != nil {
			return e, fmt.Errorf("readings of %s outside the band: %w", asset, err)
		}
		e.outside = out
	}
	return e, nil
}

// appendWindows appends b to a, merging a window that both have (a range split inside a window).
func appendWindows(a, b []Window) []Window {
	if len(a) > 0 && len(b) > 0 && a[len(a)-1].Start.Equal(b[0].Start) {
		a = append(a[:len(a)-1:len(a)-1], Downsample([]Window{a[len(a)-1], b[0]}, BaseEvery)...)
		b = b[1:]
	}
	return append(a, b...)
}

func (s *Store) getCache(ctx context.Context, key string) (cacheEntry, error) {
	var e cacheEntry
	var ws, out []byte
	err := s.db.QueryRow(ctx, `SELECT to_at, readings, temp_sum, windows, outside FROM leg_readings_cache WHERE key = $1`, key).
		Scan(&e.to, &e.count, &e.sum, &ws, &out)
	if err != nil {
		return e, err
	}
	e.windows, e.outside = decodeWindows(ws), decodeSamples(out)
	return e, nil
}

func (s *Store) putCache(ctx context.Context, key, asset string, from time.Time, e cacheEntry) error {
	_, err := s.db.Exec(ctx, `INSERT INTO leg_readings_cache (key, asset_id, from_at, to_at, readings, temp_sum, windows, outside, computed_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,now())
		ON CONFLICT (key) DO UPDATE SET to_at = EXCLUDED.to_at, readings = EXCLUDED.readings, temp_sum = EXCLUDED.temp_sum,
			windows = EXCLUDED.windows, outside = EXCLUDED.outside, computed_at = now()`,
		key, asset, from, e.to, e.count, e.sum, encodeWindows(e.windows), encodeSamples(e.outside))
	return pg.Err(err, "readings summary")
}

// Windows are stored as 24 bytes each: start (Unix seconds), min, mean, max (float32: a hundredth of a degree
// survives), count.
func encodeWindows(ws []Window) []byte {
	b := make([]byte, 0, 24*len(ws))
	for _, w := range ws {
		b = binary.LittleEndian.AppendUint64(b, uint64(w.Start.Unix()))
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(w.MinC)))
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(w.MeanC)))
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(w.MaxC)))
		b = binary.LittleEndian.AppendUint32(b, uint32(w.Count))
	}
	return b
}

func decodeWindows(b []byte) []Window {
	ws := make([]Window, 0, len(b)/24)
	for ; len(b) >= 24; b = b[24:] {
		ws = append(ws, Window{
			Start: time.Unix(int64(binary.LittleEndian.Uint64(b)), 0).UTC(),
			MinC:  f32(b[8:]), MeanC: f32(b[12:]), MaxC: f32(b[16:]),
			Count: int(binary.LittleEndian.Uint32(b[20:])),
		})
	}
	return ws
}

// Samples: time (Unix milliseconds) and temperature, 12 bytes.
func encodeSamples(ss []Sample) []byte {
	b := make([]byte, 0, 12*len(ss))
	for _, x := range ss {
		b = binary.LittleEndian.AppendUint64(b, uint64(x.At.UnixMilli()))
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(x.TempC)))
	}
	return b
}

func decodeSamples(b []byte) []Sample {
	ss := make([]Sample, 0, len(b)/12)
	for ; len(b) >= 12; b = b[12:] {
		ss = append(ss, Sample{At: time.UnixMilli(int64(binary.LittleEndian.Uint64(b))).UTC(), TempC: f32(b[8:])})
	}
	return ss
}

// f32 reads a stored float32 back, rounded to what it held (0.1 stored as float32 is 0.100000001…).
func f32(b []byte) float64 {
	v := float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
	return math.Round(v*1e4) / 1e4
}
