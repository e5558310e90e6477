package plan

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
	"github.com/suilong/suilong/plan/tree"
)

// Store keeps the plan's items and their tracking state in PostgreSQL.
type Store struct {
	db pg.DB
	// Now is the clock; "today" (for overdue, for the dates updates may carry) is its day in China.
	Now func() time.Time
}

// NewStore returns a store on db.
func NewStore(db pg.DB) *Store { return &Store{db: db, Now: time.Now} }

// Today is the current day in China.
func (s *Store) Today() Date { return DateOf(s.Now()) }

// Plan reads the whole plan (items not retired, with their tracking state) and applies the roll-up rules.
func (s *Store) Plan(ctx context.Context) (*Plan, error) {
	rows, err := s.db.Query(ctx, `SELECT i.code, i.kind, coalesce(i.parent, ''), i.position, i.number, i.title, i.title_en, i.body,
			coalesce(t.lead_guangzhou, ''), coalesce(t.lead_longyan, ''), coalesce(t.status, 'not_started'), t.progress, t.target_date,
			t.updated_at, coalesce(t.updated_by, '')
		FROM plan_items i LEFT JOIN plan_tracking t ON t.code = i.code
		WHERE i.retired_at IS NULL ORDER BY i.position`)
	if err != nil {
		return nil, pg.Err(err, "plan")
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Item, error) {
		it := &Item{}
		var progress *int16
		var target *time.Time
		err := r.Scan(&it.Code, &it.Kind, &it.Parent, &it.Position, &it.Number, &it.Title, &it.TitleEN, &it.Text,
			&it.Tracking.LeadGuangzhou, &it.Tracking.LeadLongyan, &it.Tracking.Status, &progress, &target,
			&it.Tracking.UpdatedAt, &it.Tracking.UpdatedBy)
		if progress != nil {
			p := int(*progress)
			it.Tracking.Progress = &p
		}
		if target != nil {
			it.Tracking.TargetDate = NewDate(target.Year(), target.Month(), target.Day())
		}
		return it, err
	})
	if err != nil {
		return nil, pg.Err(err, "plan")
	}
	if len(items) == 0 {
		return nil, errs.E(errs.NotFound, "the plan is not loaded yet: run `suilong migrate` or `suilong plan load`")
	}
	p := &Plan{AsOf: s.Today(), byCode: make(map[string]*Item, len(items)), all: items}
	for _, it := range items {
		p.byCode[it.Code] = it
	}
	for _, it := range items {
		parent, ok := p.byCode[it.Parent]
		switch {
		case it.Parent != "" && ok:
			parent.Children = append(parent.Children, it)
		case it.Kind == tree.KindGoal:
			p.Goals = append(p.Goals, it)
		case it.Kind == tree.KindDomain:
			p.Domains = append(p.Domains, it)
		case it.Kind == tree.KindSafeguard:
			p.Safeguards = append(p.Safeguards, it)
		}
	}
	Rollup(p.Goals, p.AsOf)
	Rollup(p.Domains, p.AsOf)
	Rollup(p.Safeguards, p.AsOf)
	p.Progress = mean(p.Domains)
	return p, nil
}

// item checks that a code names a current item. Errors: NotFound.
func item(ctx context.Context, db pg.DB, code string) error {
	var ok bool
	err := db.QueryRow(ctx, `SELECT true FROM plan_items WHERE code = $1 AND retired_at IS NULL`, code).Scan(&ok)
	if err != nil {
		return pg.Err(err, "plan item "+strconv.Quote(code))
	}
	return nil
}

// Opt is a field of a partial update: absent (Set false), null (Null true: clear it) or a value.
type Opt[T any] struct {
	Set  bool
	Null bool
	V    T
}

// UnmarshalJSON records that the field was present.
func (o *Opt[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		o.Null = true
		return nil
	}
	return json.Unmarshal(b, &o.V)
}

// TrackingPatch changes some of an item's tracking fields; absent fields stay as they are. Progress and
// TargetDate may be null to clear them (progress then rolls up again).
type TrackingPatch struct {
	LeadGuangzhou Opt[string] `json:"lead_guangzhou"`
	LeadLongyan   Opt[string] `json:"lead_longyan"`
	Status        Opt[string] `json:"status"`
	Progress      Opt[int]    `json:"progress"`
	TargetDate    Opt[string] `json:"target_date"`
}

// Earliest and latest target dates accepted: the plan's period with some slack on either side.
var (
	minTarget = NewDate(FirstYear, 1, 1)
	maxTarget = NewDate(2035, 12, 31)
)

// cleanText trims s and rejects control characters other than newlines and tabs (which would corrupt CSV cells
// and audit lines for no benefit).
func cleanText(fe *errs.FieldErrors, field, s string, max int, multiline bool) string {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > max {
		fe.Add(field, "must be at most %d characters", max)
	}
	for _, r := range s {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t' || r == '\r')) {
			fe.Add(field, "must not contain control characters")
			break
		}
	}
	return s
}

// apply validates the patch against the current state and returns the new state. Errors: Unprocessable naming
// each bad field.
func (pt TrackingPatch) apply(cur Tracking) (Tracking, error) {
	next := cur
	var fe errs.FieldErrors
	if pt.LeadGuangzhou.Set {
		next.LeadGuangzhou = cleanText(&fe, "lead_guangzhou", pt.LeadGuangzhou.V, 200, false)
	}
	if pt.LeadLongyan.Set {
		next.LeadLongyan = cleanText(&fe, "lead_longyan", pt.LeadLongyan.V, 200, false)
	}
	if pt.Status.Set {
		st := Status(pt.Status.V)
		if pt.Status.Null || !st.Valid() {
			fe.Add("status", "must be one of not_started, on_track, at_risk, delayed, done")
		} else {
			next.Status = st
		}
	}
	if pt.Progress.Set {
		switch {
		case pt.Progress.Null:
			next.Progress = nil
		case pt.Progress.V < 0 || pt.Progress.V > 100:
			fe.Add("progress", "must be a whole number from 0 to 100, or null to roll it up from the item's children")
		default:
			v := pt.Progress.V
			next.Progress = &v
		}
	}
	if pt.TargetDate.Set {
		if pt.TargetDate.Null || pt.TargetDate.V == "" {
			next.TargetDate = Date{}
		} else if d, err := ParseDate(pt.TargetDate.V); err != nil {
			fe.Add("target_date", "must be a date like 2025-12-31 (or null to clear it)")
		} else if d.Before(minTarget) || d.After(maxTarget) {
			fe.Add("target_date", "must be between %s and %s", minTarget, maxTarget)
		} else {
			next.TargetDate = d
		}
	}
	return next, fe.Err()
}

// Change is one field's change, as the audit log keeps it.
type Change struct {
	Field string `json:"field"`
	Old   string `json:"old"`
	New   string `json:"new"`
}

func progressText(p *int) string {
	if p == nil {
		return ""
	}
	return strconv.Itoa(*p)
}

func diff(a, b Tracking) []Change {
	var out []Change
	add := func(f, x, y string) {
		if x != y {
			out = append(out, Change{f, x, y})
		}
	}
	add("lead_guangzhou", a.LeadGuangzhou, b.LeadGuangzhou)
	add("lead_longyan", a.LeadLongyan, b.LeadLongyan)
	add("status", string(a.Status), string(b.Status))
	add("progress", progressText(a.Progress), progressText(b.Progress))
	add("target_date", a.TargetDate.String(), b.TargetDate.String())
	return out
}

func tracking(ctx context.Context, db pg.DB, code string, lock bool) (Tracking, error) {
	q := `SELECT lead_guangzhou, lead_longyan, status, progress, target_date, updated_at, updated_by FROM plan_tracking WHERE code = $1`
	if lock {
		q += ` FOR UPDATE`
	}
	t := Tracking{Status: NotStarted}
	var progress *int16
	var target *time.Time
	var at time.Time
	err := db.QueryRow(ctx, q, code).Scan(&t.LeadGuangzhou, &t.LeadLongyan, &t.Status, &progress, &target, &at, &t.UpdatedBy)
	if err == pgx.ErrNoRows {
		return t, nil
	}
	if err != nil {
		return t, pg.Err(err, "tracking")
	}
	t.UpdatedAt = &at
	if progress != nil {
		p := int(*progress)
		t.Progress = &p
	}
	if target != nil {
		t.TargetDate = NewDate(target.Year(), target.Month(), target.Day())
	}
	return t, nil
}

// Tracking returns an item's tracking state. Errors: NotFound for an unknown code.
func (s *Store) Tracking(ctx context.Context, code string) (Tracking, error) {
	if err := item(ctx, s.db, code); err != nil {
		return Tracking{}, err
	}
	return tracking(ctx, s.db, code, false)
}

// UpdateTracking applies a patch to an item's tracking state and writes one audit entry per changed field, in
// one transaction. A patch that changes nothing writes nothing. Errors: NotFound for an unknown code,
// Unprocessable naming each bad field (and then nothing is changed).
func (s *Store) UpdateTracking(ctx context.Context, p auth.Principal, code string, pt TrackingPatch) (Tracking, []Change, error) {
	var next Tracking
	var changes []Change
	err := pg.WithTx(ctx, s.db, func(tx pgx.Tx) error {
		// The item's row is the lock: an item nobody has tracked yet has no tracking row to lock, and two first
		// edits would otherwise both start from the defaults and the second overwrite the first.
		var ok bool
		if err := tx.QueryRow(ctx, `SELECT true FROM plan_items WHERE code = $1 AND retired_at IS NULL FOR NO KEY UPDATE`, code).Scan(&ok); err != nil {
			return pg.Err(err, "plan item "+strconv.Quote(code))
		}
		cur, err := tracking(ctx, tx, code, true)
		if err != nil {
			return err
		}
		if next, err = pt.apply(cur); err != nil {
			return err
		}
		if changes = diff(cur, next); len(changes) == 0 {
			next = cur
			return nil
		}
		now := s.Now()
		var target *time.Time
		if !next.TargetDate.IsZero() {
			t := next.TargetDate.Time()
			target = &t
		}
		_, err = tx.Exec(ctx, `INSERT INTO plan_tracking (code, lead_guangzhou, lead_longyan, status, progress, target_date, updated_at, updated_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (code) DO UPDATE SET lead_guangzhou = $2, lead_longyan = $3, status = $4, progress = $5, target_date = $6,
				updated_at = $7, updated_by = $8`,
			code, next.LeadGuangzhou, next.LeadLongyan, next.Status, next.Progress, target, now, p.Actor())
		if err != nil {
			return pg.Err(err, "tracking")
		}
		next.UpdatedAt, next.UpdatedBy = &now, p.Actor()
		return audit(ctx, tx, p, code, now, changes...)
	})
	return next, changes, err
}

func nullID(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

// audit writes audit entries inside the caller's transaction.
func audit(ctx context.Context, tx pgx.Tx, p auth.Principal, code string, at time.Time, changes ...Change) error {
	for _, c := range changes {
		_, err := tx.Exec(ctx, `INSERT INTO plan_audit (code, at, actor, user_id, org_id, field, old_value, new_value)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, code, at, p.Actor(), nullID(p.UserID), nullID(p.OrgID), c.Field, c.Old, c.New)
		if err != nil {
			return pg.Err(err, "audit entry")
		}
	}
	return nil
}

// AuditEntry is one recorded change of an item.
type AuditEntry struct {
	ID    int64     `json:"id"`
	Code  string    `json:"code"`
	At    time.Time `json:"at"`
	Actor string    `json:"actor"`
	Change
}

// PageKey is the entry's place in Audit's order, newest first.
func (a AuditEntry) PageKey() []any { return []any{a.ID} }

// Audit lists an item's changes, newest first, with the total (up to pg.CountCap). Errors: NotFound for an
// unknown code, Invalid (a cursor of another list).
func (s *Store) Audit(ctx context.Context, code string, page pg.Page) ([]AuditEntry, int, error) {
	if err := item(ctx, s.db, code); err != nil {
		return nil, 0, err
	}
	q := pg.Query{Cols: `id, code, at, actor, field, old_value, new_value`, From: "plan_audit", Where: []string{"code = $1"},
		Args: []any{code}, Key: "id", Desc: true}
	var after int64
	return pg.List(ctx, s.db, q, page, "audit log", func(row pgx.Row, total *int) (AuditEntry, error) {
		var a AuditEntry
		err := row.Scan(&a.ID, &a.Code, &a.At, &a.Actor, &a.Field, &a.Old, &a.New, total)
		return a, err
	}, &after)
}
