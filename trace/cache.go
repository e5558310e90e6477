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
// milliseconds. Readings that arrive late change a summary: ingest tells of them (ReadingsArrivedLate), which
// drops the summaries they fall in. As a safety net against a notice lost in a crash, a summary not checked
// for VerifyEvery is checked against the count and sum of the readings it came from, which InfluxDB answers
// without aggregating windows. An open leg's summary is extended as the leg goes on; the last Settle of it is
// always read live.

// chunk bounds one Series query: at 5-minute windows a week is 2,016 windows.
const chunk = 7 * 24 * time.Hour

type cacheEntry struct {
	to time.Time
	// verified is when the summary was last known to hold every reading of its range.
	verified time.Time
	count    int64
	sum      float64
	windows  []Window
	outside  []Sample
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
	e, err := s.cached(ctx, key, leg.AssetID, from, settled, band, now)
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
func (s *Service) cached(ctx context.Context, key, asset string, from, upto time.Time, band Band, now time.Time) (cacheEntry, error) {
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
		if now.Sub(e.verified) >= s.VerifyEvery {
			n, sum, err := s.Readings.Fingerprint(ctx, asset, from, e.to)
			if err != nil {
				return cacheEntry{}, err
			}
			if n != e.count || math.Abs(sum-e.sum) > 1e-6*max(1, math.Abs(sum)) {
				s.metrics.cache.WithLabelValues("stale").Inc()
				s.Log.Warn("trace: a leg's summary missed readings nobody told of; summarising it again", "asset", asset, "from", from,
					"to", e.to, "upto", upto, "readings", n, "had", e.count, "sum", sum, "had_sum", e.sum)
				break
			}
			e.verified = now
			if err := s.Store.verifiedCache(ctx, key, now); err != nil {
				return cacheEntry{}, err
			}
		}
		if e.to.Equal(upto) {
			s.metrics.cache.WithLabelValues("hit").Inc()
			return e, nil
		}
		started := s.Now()
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
		return e, s.Store.putCache(ctx, key, asset, from, e, started)
	}
	started := s.Now()
	e, err = s.fetch(ctx, asset, from, upto, band)
	if err != nil {
		return cacheEntry{}, err
	}
	e.verified = started
	return e, s.Store.putCache(ctx, key, asset, from, e, started)
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
	err := s.db.QueryRow(ctx, `SELECT to_at, verified_at, readings, temp_sum, windows, outside FROM leg_readings_cache WHERE key = $1`, key).
		Scan(&e.to, &e.verified, &e.count, &e.sum, &ws, &out)
	if err != nil {
		return e, err
	}
	e.windows, e.outside = decodeWindows(ws), decodeSamples(out)
	return e, nil
}

// putCache stores a summary whose InfluxDB reads began at started. If late readings of the asset in its range
// were noted since (or about then: the clocks of servers differ), the reads may have missed them, and the
// summary is stored unverified, to be checked at its next use.
func (s *Store) putCache(ctx context.Context, key, asset string, from time.Time, e cacheEntry, started time.Time) error {
	_, err := s.db.Exec(ctx, `INSERT INTO leg_readings_cache (key, asset_id, from_at, to_at, readings, temp_sum, windows, outside, computed_at, verified_at)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8, now(),
			CASE WHEN EXISTS (SELECT 1 FROM leg_readings_late l WHERE l.asset_id = $2 AND l.noted_at >= $9::timestamptz - interval '1 minute'
				AND l.from_at < $4 AND l.to_at >= $3) THEN 'epoch'::timestamptz ELSE least($10::timestamptz, $9::timestamptz) END
		ON CONFLICT (key) DO UPDATE SET to_at = EXCLUDED.to_at, readings = EXCLUDED.readings, temp_sum = EXCLUDED.temp_sum,
			windows = EXCLUDED.windows, outside = EXCLUDED.outside, computed_at = now(), verified_at = EXCLUDED.verified_at`,
		key, asset, from, e.to, e.count, e.sum, encodeWindows(e.windows), encodeSamples(e.outside), started, e.verified)
	return pg.Err(err, "readings summary")
}

func (s *Store) verifiedCache(ctx context.Context, key string, at time.Time) error {
	_, err := s.db.Exec(ctx, `UPDATE leg_readings_cache SET verified_at = $2 WHERE key = $1`, key, at)
	return pg.Err(err, "readings summary")
}

// ReadingsLate is a stretch of an asset's readings stored after their time had settled.
type ReadingsLate struct {
	AssetID  string
	From, To time.Time
}

// arrivedLate notes late readings: it drops the summaries they fall in and revises the lots whose legs they fall
// in, in one statement.
func (s *Store) arrivedLate(ctx context.Context, rs []ReadingsLate) error {
	ids, from, to := make([]string, len(rs)), make([]time.Time, len(rs)), make([]time.Time, len(rs))
	for i, r := range rs {
		ids[i], from[i], to[i] = r.AssetID, r.From, r.To
	}
	_, err := s.db.Exec(ctx, `WITH r AS (SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) AS r(asset_id, from_at, to_at)),
		noted AS (INSERT INTO leg_readings_late (asset_id, from_at, to_at) SELECT asset_id, from_at, to_at FROM r),
		pruned AS (DELETE FROM leg_readings_late WHERE noted_at < now() - interval '1 day'),
		dropped AS (DELETE FROM leg_readings_cache c USING r WHERE c.asset_id = r.asset_id AND c.from_at <= r.to_at AND c.to_at > r.from_at)
		UPDATE lots SET revision = revision + 1 WHERE id IN (SELECT g.lot_id FROM lot_legs g JOIN r ON g.asset_id = r.asset_id
			AND g.from_at <= r.to_at AND (g.to_at IS NULL OR g.to_at > r.from_at))`, ids, from, to)
	return pg.Err(err, "late readings")
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
