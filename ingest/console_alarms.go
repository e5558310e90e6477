package ingest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/ingest/rules"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
)

// ConsoleAlarms narrows the console's alarm inbox. Zero fields do not filter.
type ConsoleAlarms struct {
	Status  []string
	AssetID string
	Kind    rules.Kind
	// From selects alarms whose condition went on at or after it.
	From time.Time
}

// Alarms lists the alarms p sees, newest start first, with the total. Errors: Forbidden.
func (c *Console) Alarms(ctx context.Context, p auth.Principal, f ConsoleAlarms, pg0 Page) ([]Alarm, int, error) {
	sc, err := ScopeOf(p)
	if err != nil {
		return nil, 0, err
	}
	args := []any{}
	// The scope is the assets p sees: a condition on each alarm's asset, so that a page of alarms comes from the
	// alarms' own index on their order.
	where := []string{"EXISTS (SELECT 1 FROM assets a WHERE a.id = x.asset_id AND " + sc.where("a", &args) + ")"}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if len(f.Status) > 0 {
		add("x.status = ANY($%d)", f.Status)
	}
	if f.AssetID != "" {
		add("x.asset_id = $%d", f.AssetID)
	}
	if f.Kind != "" {
		add("x.kind = $%d", f.Kind)
	}
	if !f.From.IsZero() {
		add("(x.ended_at IS NULL OR x.ended_at >= $%d)", f.From)
	}
	cols := "x." + strings.ReplaceAll(strings.ReplaceAll(alarmCols, "\n\t", " "), ", ", ", x.")
	q := pg.Query{Cols: cols, From: "alarms x", Where: where, Args: args, Key: "x.started_at, x.id", Desc: true}
	var startedAt time.Time
	var after int64
	return pg.List(ctx, c.Store.db, q, pg0, "alarms", func(row pgx.Row, total *int) (Alarm, error) { return scanAlarm(row, total) },
		&startedAt, &after)
}

// Alarm returns one alarm p sees. Errors: Forbidden, NotFound (also for alarms of assets p may not see).
func (c *Console) Alarm(ctx context.Context, p auth.Principal, id int64) (Alarm, error) {
	sc, err := ScopeOf(p)
	if err != nil {
		return Alarm{}, err
	}
	a, err := c.Store.Alarm(ctx, id)
	if err != nil {
		return Alarm{}, err
	}
	if !sc.All {
		asset, err := c.Store.Asset(ctx, a.AssetID)
		if err != nil || !sc.Owns(asset.OrgID) {
			return Alarm{}, errs.E(errs.NotFound, "alarm %d not found", id)
		}
	}
	return a, nil
}

// AckResult is the outcome of acknowledging one alarm of several.
type AckResult struct {
	ID    int64  `json:"id"`
	Alarm *Alarm `json:"alarm,omitempty"`
	Err   error  `json:"-"`
}

// MaxAck bounds how many alarms one acknowledgement may cover.
const MaxAck = 200

// Ack acknowledges each alarm p sees with one comment, in the name of p (Principal.Actor); each alarm on its
// own, so that one already acknowledged does not stop the others. Errors (per alarm, in AckResult): NotFound,
// Conflict, Unprocessable. Errors: Forbidden, Unprocessable (no alarms, too many).
func (c *Console) Ack(ctx context.Context, p auth.Principal, ids []int64, comment string) ([]AckResult, error) {
	if _, err := ScopeOf(p); err != nil {
		return nil, err
	}
	var fe errs.FieldErrors
	switch {
	case len(ids) == 0:
		fe.Add("ids", "choose at least one alarm")
	case len(ids) > MaxAck:
		fe.Add("ids", "at most %d alarms at once", MaxAck)
	}
	if len(comment) > 2000 {
		fe.Add("comment", "must be at most 2000 bytes")
	}
	if err := fe.Err(); err != nil {
		return nil, err
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	out := make([]AckResult, 0, len(ids))
	for _, id := range ids {
		r := AckResult{ID: id}
		if _, err := c.Alarm(ctx, p, id); err != nil {
			r.Err = err
		} else if a, err := c.Store.AckAlarm(ctx, id, p.Actor(), comment); err != nil {
			r.Err = err
		} else {
			r.Alarm = &a
			if c.Changes != nil {
				PublishAlarm(ctx, c.Changes.Pub, a, c.Changes.Log)
			}
		}
		out = append(out, r)
	}
	return out, nil
}
