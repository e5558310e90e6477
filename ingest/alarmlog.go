package ingest

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/internal/pg"
)

// Changes of an alarm, as the alarm event log records them. Every change people are told of is one of these.
const (
	ChangeRaised       = "raised"
	ChangeEnded        = "ended"
	ChangeAcknowledged = "acknowledged"
	ChangeWithdrawn    = "withdrawn"
	// ChangeReopened is an ended alarm whose condition late readings showed to go on.
	ChangeReopened = "reopened"
)

// AlarmEvent is one change of an alarm, with the alarm as it was right after it.
type AlarmEvent struct {
	ID      int64     `json:"id"`
	AlarmID int64     `json:"alarm_id"`
	AssetID string    `json:"asset_id"`
	OrgID   *int64    `json:"org_id,omitempty"` // the asset's organisation at the change
	Change  string    `json:"change"`
	At      time.Time `json:"at"`
	// Alarm is the alarm object (JSON, as the API shows it) after the change.
	Alarm json.RawMessage `json:"alarm"`
}

// alarmLogLock serialises the transactions that write the alarm event log, so that its ids are committed in
// the order they are handed out: a reader that has seen id n has seen every id below it, and a consumer may
// keep a plain cursor. The writers are few (one watcher per ingest process, people acknowledging), and the lock
// is held only for the rest of a short transaction.
const alarmLogLock = 0x5375696c6f6e6701 // "Suilong" 01

// changesOf are the changes from before (nil: the alarm is new) to after.
func changesOf(before *Alarm, after Alarm) []string {
	if before == nil {
		if after.Status == StatusWithdrawn {
			return nil
		}
		out := []string{ChangeRaised}
		if after.EndedAt != nil {
			out = append(out, ChangeEnded)
		}
		return out
	}
	var out []string
	switch {
	case after.Status == StatusWithdrawn && before.Status != StatusWithdrawn:
		return []string{ChangeWithdrawn}
	case before.EndedAt == nil && after.EndedAt != nil:
		out = append(out, ChangeEnded)
	case before.EndedAt != nil && after.EndedAt == nil:
		out = append(out, ChangeReopened)
	}
	if before.AckedAt == nil && after.AckedAt != nil {
		out = append(out, ChangeAcknowledged)
	}
	return out
}

// logAlarmChanges appends the changes from before to after to the alarm event log, inside tx: a change is in
// the log exactly when it is stored.
func logAlarmChanges(ctx context.Context, tx pgx.Tx, before *Alarm, after Alarm, at time.Time) error {
	changes := changesOf(before, after)
	if len(changes) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(alarmLogLock)); err != nil {
		return pg.Err(err, "alarm event log")
	}
	doc, err := json.Marshal(after)
	if err != nil {
		return err
	}
	for _, ch := range changes {
		if _, err := tx.Exec(ctx, `INSERT INTO alarm_events (alarm_id, asset_id, org_id, change, at, alarm)
			VALUES ($1, $2, (SELECT org_id FROM assets WHERE id = $2), $3, $4, $5)`, after.ID, after.AssetID, ch, at, doc); err != nil {
			return pg.Err(err, "alarm event log")
		}
	}
	return nil
}

// AlarmEvents returns up to limit events after the id, in order (the notification planner's feed).
func (s *Store) AlarmEvents(ctx context.Context, after int64, limit int) ([]AlarmEvent, error) {
	rows, err := s.db.Query(ctx, `SELECT id, alarm_id, asset_id, org_id, change, at, alarm FROM alarm_events
		WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return nil, pg.Err(err, "alarm events")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AlarmEvent, error) {
		var e AlarmEvent
		err := r.Scan(&e.ID, &e.AlarmID, &e.AssetID, &e.OrgID, &e.Change, &e.At, &e.Alarm)
		return e, err
	})
	return out, pg.Err(err, "alarm events")
}

// AlarmHistory returns the events of one alarm, in order.
func (s *Store) AlarmHistory(ctx context.Context, alarmID int64) ([]AlarmEvent, error) {
	rows, err := s.db.Query(ctx, `SELECT id, alarm_id, asset_id, org_id, change, at, alarm FROM alarm_events
		WHERE alarm_id = $1 ORDER BY id`, alarmID)
	if err != nil {
		return nil, pg.Err(err, "alarm events")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AlarmEvent, error) {
		var e AlarmEvent
		err := r.Scan(&e.ID, &e.AlarmID, &e.AssetID, &e.OrgID, &e.Change, &e.At, &e.Alarm)
		return e, err
	})
	return out, pg.Err(err, "alarm events")
}
