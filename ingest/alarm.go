package ingest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/ingest/rules"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
)

// Alarm statuses. An alarm is open until a person acknowledges it, and closed once it is acknowledged and its
// condition has ended; withdrawn when late readings showed it never happened.
const (
	StatusOpen         = "open"
	StatusAcknowledged = "acknowledged"
	StatusClosed       = "closed"
	StatusWithdrawn    = "withdrawn"
)

// Alarm is an alarm as the API shows it and as it is published on coldchain/v1/alarms/{asset_id}.
type Alarm struct {
	ID            int64      `json:"id"`
	AssetID       string     `json:"asset_id"`
	SensorID      string     `json:"sensor_id"`
	Kind          rules.Kind `json:"kind"`
	Status        string     `json:"status"`
	StartedAt     time.Time  `json:"started_at"`
	RaisedAt      time.Time  `json:"raised_at"`
	EndedAt       *time.Time `json:"ended_at"`
	PeakC         *float64   `json:"peak_c,omitempty"`
	BandMinC      *float64   `json:"band_min_c,omitempty"`
	BandMaxC      *float64   `json:"band_max_c,omitempty"`
	DegreeMinutes *float64   `json:"degree_minutes,omitempty"`
	AckedBy       *string    `json:"acked_by"`
	AckedAt       *time.Time `json:"acked_at"`
	AckComment    *string    `json:"ack_comment"`
	ClosedAt      *time.Time `json:"closed_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
	// MessageZH and MessageEN describe the alarm for people, Chinese first.
	MessageZH string `json:"message_zh"`
	MessageEN string `json:"message_en"`
}

// statusFor is the alarm workflow as a function of what happened.
func statusFor(acked, ended, withdrawn bool) string {
	switch {
	case withdrawn:
		return StatusWithdrawn
	case !acked:
		return StatusOpen
	case ended:
		return StatusClosed
	default:
		return StatusAcknowledged
	}
}

func fmtBand(lo, hi *float64) string {
	switch {
	case lo != nil && hi != nil:
		return fmt.Sprintf("%g–%g °C", *lo, *hi)
	case hi != nil:
		return fmt.Sprintf("≤ %g °C", *hi)
	case lo != nil:
		return fmt.Sprintf("≥ %g °C", *lo)
	}
	return "—"
}

func (a *Alarm) describe() {
	cst := time.FixedZone("CST", 8*3600)
	start := a.StartedAt.In(cst).Format("01-02 15:04")
	switch a.Kind {
	case rules.Excursion:
		peak := 0.0
		if a.PeakC != nil {
			peak = *a.PeakC
		}
		band := fmtBand(a.BandMinC, a.BandMaxC)
		a.MessageZH = fmt.Sprintf("温度超标：%s（传感器 %s）自 %s 起超出允许范围 %s，峰值 %g °C", a.AssetID, a.SensorID, start, band, peak)
		a.MessageEN = fmt.Sprintf("Temperature excursion: %s (sensor %s) outside %s since %s, peak %g °C", a.AssetID, a.SensorID, band, start, peak)
	case rules.DoorOpen:
		a.MessageZH = fmt.Sprintf("门开启过久：%s（传感器 %s）自 %s 起门未关", a.AssetID, a.SensorID, start)
		a.MessageEN = fmt.Sprintf("Door open too long: %s (sensor %s) open since %s", a.AssetID, a.SensorID, start)
	case rules.Silent:
		a.MessageZH = fmt.Sprintf("传感器离线：%s（传感器 %s）自 %s 起无数据", a.AssetID, a.SensorID, start)
		a.MessageEN = fmt.Sprintf("Sensor silent: %s (sensor %s) has sent nothing since %s", a.AssetID, a.SensorID, start)
	}
	if a.EndedAt != nil {
		end := a.EndedAt.In(cst).Format("01-02 15:04")
		a.MessageZH += "，已于 " + end + " 恢复"
		a.MessageEN += ", back to normal at " + end
	}
}

const alarmCols = `id, asset_id, sensor_id, kind, status, started_at, raised_at, ended_at, peak_c, band_min_c, band_max_c,
	degree_minutes, acked_by, acked_at, ack_comment, closed_at, updated_at`

func scanAlarm(row pgx.Row, extra ...any) (Alarm, error) {
	var a Alarm
	dest := append([]any{&a.ID, &a.AssetID, &a.SensorID, &a.Kind, &a.Status, &a.StartedAt, &a.RaisedAt, &a.EndedAt, &a.PeakC,
		&a.BandMinC, &a.BandMaxC, &a.DegreeMinutes, &a.AckedBy, &a.AckedAt, &a.AckComment, &a.ClosedAt, &a.UpdatedAt}, extra...)
	if err := row.Scan(dest...); err != nil {
		return a, err
	}
	a.describe()
	return a, nil
}

func finite(v float64) *float64 {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return nil
	}
	return &v
}

// ApplyAlarms stores the rule engine's view of alarms (new, updated, ended, withdrawn) and returns the alarms
// whose status or end changed, which are worth publishing. Applying the same view twice changes nothing.
func (s *Store) ApplyAlarms(ctx context.Context, views []rules.Alarm) ([]Alarm, error) {
	var changed []Alarm
	err := pg.WithTx(ctx, s.db, func(tx pgx.Tx) error {
		changed = changed[:0]
		for _, v := range views {
			var ended *time.Time
			if !v.Ongoing() {
				e := v.End
				ended = &e
			}
			var peak, lo, hi, dm *float64
			if v.Kind == rules.Excursion {
				peak, lo, hi, dm = finite(v.PeakC), finite(v.BandLo), finite(v.BandHi), finite(v.DegreeMinutes)
			}
			var oldStatus string
			var oldEnded *time.Time
			var acked bool
			err := tx.QueryRow(ctx, `SELECT status, ended_at, acked_at IS NOT NULL FROM alarms
				WHERE sensor_id = $1 AND kind = $2 AND started_at = $3 FOR UPDATE`, v.SensorID, v.Kind, v.Start).
				Scan(&oldStatus, &oldEnded, &acked)
			var a Alarm
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				if v.Withdrawn {
					continue // never stored, nothing to withdraw
				}
				a, err = scanAlarm(tx.QueryRow(ctx, `INSERT INTO alarms (asset_id, sensor_id, kind, status, started_at, raised_at,
					ended_at, peak_c, band_min_c, band_max_c, degree_minutes) VALUES ($1, $2, $3, 'open', $4, $5, $6, $7, $8, $9, $10)
					RETURNING `+alarmCols, v.AssetID, v.SensorID, v.Kind, v.Start, v.RaisedAt, ended, peak, lo, hi, dm))
				if err != nil {
					return pg.Err(err, "alarm")
				}
				if err := logAlarmChanges(ctx, tx, nil, a, s.Now()); err != nil {
					return err
				}
				changed = append(changed, a)
				continue
			case err != nil:
				return pg.Err(err, "alarm")
			}
			status := statusFor(acked, ended != nil, v.Withdrawn)
			a, err = scanAlarm(tx.QueryRow(ctx, `UPDATE alarms SET asset_id = $4, status = $5::text, raised_at = $6, ended_at = $7,
				peak_c = $8, band_min_c = $9, band_max_c = $10, degree_minutes = $11,
				closed_at = CASE WHEN $5::text = 'closed' THEN coalesce(closed_at, $12::timestamptz) END, updated_at = $12::timestamptz
				WHERE sensor_id = $1 AND kind = $2 AND started_at = $3 RETURNING `+alarmCols,
				v.SensorID, v.Kind, v.Start, v.AssetID, status, v.RaisedAt, ended, peak, lo, hi, dm, s.Now()))
			if err != nil {
				return pg.Err(err, "alarm")
			}
			before := Alarm{Status: oldStatus, EndedAt: oldEnded, AckedAt: a.AckedAt}
			if err := logAlarmChanges(ctx, tx, &before, a, s.Now()); err != nil {
				return err
			}
			if status != oldStatus || (ended == nil) != (oldEnded == nil) {
				changed = append(changed, a)
			}
		}
		return nil
	})
	return changed, err
}

// AlarmFilter narrows Alarms. Zero fields do not filter.
type AlarmFilter struct {
	AssetID  string
	SensorID string
	Kind     rules.Kind
	Status   []string
	// From and To select alarms whose condition overlapped [From, To).
	From, To time.Time
}

// PageKey is the alarm's place in Alarms' order, newest start first.
func (a Alarm) PageKey() []any { return []any{a.StartedAt, a.ID} }

// Alarms lists alarms, newest start first, with the total (up to pg.CountCap). Errors: Invalid (a cursor of
// another list).
func (s *Store) Alarms(ctx context.Context, f AlarmFilter, p Page) ([]Alarm, int, error) {
	where, args := []string{"true"}, []any{}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.AssetID != "" {
		add("asset_id = $%d", f.AssetID)
	}
	if f.SensorID != "" {
		add("sensor_id = $%d", f.SensorID)
	}
	if f.Kind != "" {
		add("kind = $%d", f.Kind)
	}
	if len(f.Status) > 0 {
		add("status = ANY($%d)", f.Status)
	}
	if !f.To.IsZero() {
		add("started_at < $%d", f.To)
	}
	if !f.From.IsZero() {
		add("(ended_at IS NULL OR ended_at >= $%d)", f.From)
	}
	q := pg.Query{Cols: alarmCols, From: "alarms", Where: where, Args: args, Key: "started_at, id", Desc: true}
	var startedAt time.Time
	var after int64
	return pg.List(ctx, s.db, q, p, "alarms", func(row pgx.Row, total *int) (Alarm, error) { return scanAlarm(row, total) }, &startedAt, &after)
}

// Alarm returns one alarm. Errors: NotFound.
func (s *Store) Alarm(ctx context.Context, id int64) (Alarm, error) {
	a, err := scanAlarm(s.db.QueryRow(ctx, `SELECT `+alarmCols+` FROM alarms WHERE id = $1`, id))
	return a, pg.Err(err, fmt.Sprintf("alarm %d", id))
}

// AckAlarm records that a person has seen an alarm and what they did about it. An alarm whose condition has
// already ended closes; otherwise it stays acknowledged until it ends. Errors: NotFound, Conflict (already
// acknowledged, or withdrawn), Unprocessable (comment too long).
func (s *Store) AckAlarm(ctx context.Context, id int64, by, comment string) (Alarm, error) {
	if len(comment) > 2000 {
		var fe errs.FieldErrors
		fe.Add("comment", "must be at most 2000 bytes")
		return Alarm{}, fe.Err()
	}
	var out Alarm
	err := pg.WithTx(ctx, s.db, func(tx pgx.Tx) error {
		a, err := scanAlarm(tx.QueryRow(ctx, `SELECT `+alarmCols+` FROM alarms WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return pg.Err(err, fmt.Sprintf("alarm %d", id))
		}
		switch {
		case a.Status == StatusWithdrawn:
			return errs.E(errs.Conflict, "alarm %d was withdrawn: later readings showed no such condition", id)
		case a.AckedAt != nil:
			return errs.E(errs.Conflict, "alarm %d was already acknowledged by %s at %s", id, *a.AckedBy, a.AckedAt.Format(time.RFC3339))
		}
		now := s.Now()
		status := statusFor(true, a.EndedAt != nil, false)
		out, err = scanAlarm(tx.QueryRow(ctx, `UPDATE alarms SET status = $2::text, acked_by = $3, acked_at = $4::timestamptz, ack_comment = $5,
			closed_at = CASE WHEN $2::text = 'closed' THEN $4::timestamptz END, updated_at = $4::timestamptz WHERE id = $1 RETURNING `+alarmCols,
			id, status, by, now, comment))
		if err != nil {
			return pg.Err(err, fmt.Sprintf("alarm %d", id))
		}
		return logAlarmChanges(ctx, tx, &a, out, now)
	})
	return out, err
}

// AlarmCounts counts alarms that are not closed, by kind and status (the open-alarms metric).
func (s *Store) AlarmCounts(ctx context.Context) (map[[2]string]int, error) {
	rows, err := s.db.Query(ctx, `SELECT kind, status, count(*) FROM alarms WHERE status IN ('open', 'acknowledged') GROUP BY 1, 2`)
	if err != nil {
		return nil, pg.Err(err, "alarms")
	}
	defer rows.Close()
	out := map[[2]string]int{}
	for rows.Next() {
		var k, st string
		var n int
		if err := rows.Scan(&k, &st, &n); err != nil {
			return nil, pg.Err(err, "alarms")
		}
		out[[2]string{k, st}] = n
	}
	return out, pg.Err(rows.Err(), "alarms")
}

// SaveRuleStates stores the rules' snapshots.
func (s *Store) SaveRuleStates(ctx context.Context, snaps []rules.Snapshot) error {
	if len(snaps) == 0 {
		return nil
	}
	ids := make([]string, len(snaps))
	data := make([][]byte, len(snaps))
	for i, sn := range snaps {
		ids[i], data[i] = sn.SensorID, sn.Data
	}
	_, err := s.db.Exec(ctx, `INSERT INTO rule_states (sensor_id, state, saved_at)
		SELECT * FROM unnest($1::text[], $2::bytea[]), now()
		ON CONFLICT (sensor_id) DO UPDATE SET state = EXCLUDED.state, saved_at = EXCLUDED.saved_at`, ids, data)
	return pg.Err(err, "rule state")
}

// RuleStates loads every saved snapshot.
func (s *Store) RuleStates(ctx context.Context) ([]rules.Snapshot, error) {
	rows, err := s.db.Query(ctx, `SELECT sensor_id, state FROM rule_states`)
	if err != nil {
		return nil, pg.Err(err, "rule state")
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (rules.Snapshot, error) {
		var sn rules.Snapshot
		err := r.Scan(&sn.SensorID, &sn.Data)
		return sn, err
	})
}
