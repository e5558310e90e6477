package trace

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
)

// Food Safety Law (食品安全法) arts. 50 and 53: records of food and its cold chain are kept for at least six
// months past the product's shelf life, and for at least two years where a product has no clear shelf life.
const (
	// LawMinimum is the shortest retention the platform accepts: two years.
	LawMinimum = 2 * 365 * 24 * time.Hour
	// ShelfLifeMargin is what the law adds to a shelf life: six months (183 days, the longest six months).
	ShelfLifeMargin = 183 * 24 * time.Hour
	// MaxJourney is how long before its receipt a lot's first readings may lie and still be kept for the whole
	// of its record's life by the InfluxDB retention (InfluxRetention): a year, as long as a harvest may be
	// registered late (MaxLotAge).
	MaxJourney = MaxLotAge
)

// Retention is how long the platform keeps a lot's records: Records (at least LawMinimum), and longer for a
// product whose shelf life plus six months is longer.
type Retention struct {
	Records time.Duration
}

// Validate refuses a retention below the law's minimum.
func (r Retention) Validate() error {
	if r.Records < LawMinimum {
		return errs.E(errs.Invalid, "records must be kept at least 2 years (17520h; Food Safety Law arts. 50, 53), not %s", r.Records)
	}
	return nil
}

// For is the retention of the records of a lot of a product with the shelf life (0: none).
func (r Retention) For(shelfLife time.Duration) time.Duration {
	return max(r.Records, LawMinimum, shelfLife+ShelfLifeMargin)
}

// InfluxRetention is the retention the readings need in InfluxDB when the longest-lived product has the shelf
// life: the longest record's life, plus MaxJourney for the readings taken before the lot's receipt.
func (r Retention) InfluxRetention(longestShelfLife time.Duration) time.Duration {
	return r.For(longestShelfLife) + MaxJourney
}

// PurgeResult counts what a purge deleted.
type PurgeResult struct {
	Lots      int64 `json:"lots"`
	Events    int64 `json:"events"`
	Summaries int64 `json:"leg_summaries"`
	Recalls   int64 `json:"recalls"`
}

// purgeLock is the advisory lock that keeps one purge at a time across API replicas.
const purgeLock int64 = 0x7472_7075_7267 // "trpurg"

// Purge deletes the records no lot may still need, as of now: a lot is needed until its delivery (or, never
// delivered, its last event) plus its retention (Retention.For its shelf life), and while a recall that is
// not closed lists it; a closed recall is kept as long as its retention after closing; a leg summary goes with
// the last leg that used it. Events and legs go with their lot. Another process purging at the same time makes
// this one return at once with nothing done.
func (s *Store) Purge(ctx context.Context, r Retention, now time.Time) (PurgeResult, error) {
	var res PurgeResult
	if err := r.Validate(); err != nil {
		return res, err
	}
	minimum := r.For(0)
	err := pg.WithTx(ctx, s.db, func(tx pgx.Tx) error {
		var got bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, purgeLock).Scan(&got); err != nil || !got {
			return pg.Err(err, "purge lock")
		}
		// The margin of the law is written out in hours so that PostgreSQL computes the same instant as For.
		const lots = `SELECT l.id FROM lots l
			WHERE coalesce(l.delivered_at, greatest((SELECT max(at) FROM lot_events e WHERE e.lot_id = l.id), l.created_at))
				+ greatest($2 * interval '1 hour', coalesce(l.shelf_life_hours, 0) * interval '1 hour' + $3 * interval '1 hour') < $1::timestamptz
			AND NOT EXISTS (SELECT 1 FROM recall_lots rl JOIN recalls rc ON rc.id = rl.recall_id
				WHERE rl.lot_id = l.id AND rc.status <> 'closed')`
		args := []any{now, minimum.Hours(), ShelfLifeMargin.Hours()}
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM lot_events WHERE lot_id IN (`+lots+`)`, args...).Scan(&res.Events); err != nil {
			return pg.Err(err, "purge")
		}
		tag, err := tx.Exec(ctx, `DELETE FROM lots WHERE id IN (`+lots+`)`, args...)
		if err != nil {
			return pg.Err(err, "purge lots")
		}
		res.Lots = tag.RowsAffected()
		// A summary is computed again when a leg needs it, so one no leg uses is kept only a day (a lot being
		// registered could be about to use it).
		tag, err = tx.Exec(ctx, `DELETE FROM leg_readings_cache c WHERE c.computed_at < $1::timestamptz - interval '1 day'
			AND NOT EXISTS (SELECT 1 FROM lot_legs g WHERE g.asset_id = c.asset_id AND g.from_at = c.from_at)`, now)
		if err != nil {
			return pg.Err(err, "purge summaries")
		}
		res.Summaries = tag.RowsAffected()
		tag, err = tx.Exec(ctx, `DELETE FROM recalls WHERE status = 'closed' AND closed_at + $2 * interval '1 hour' < $1::timestamptz`, now, minimum.Hours())
		if err != nil {
			return pg.Err(err, "purge recalls")
		}
		res.Recalls = tag.RowsAffected()
		return nil
	})
	return res, err
}

// Purge runs Store.Purge with the service's retention and clock, and logs what it deleted.
func (s *Service) Purge(ctx context.Context) (PurgeResult, error) {
	res, err := s.Store.Purge(ctx, s.Retention, s.Now())
	if err == nil && (res.Lots > 0 || res.Summaries > 0 || res.Recalls > 0) {
		s.Log.Info("trace: records past their retention purged", "lots", res.Lots, "events", res.Events, "leg_summaries", res.Summaries, "recalls", res.Recalls)
	}
	return res, err
}
