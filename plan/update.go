package plan

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
)

// Update is a dated progress report on an item, with links to evidence (minutes, news items, documents).
type Update struct {
	ID        int64     `json:"id"`
	Code      string    `json:"code"`
	Date      Date      `json:"date"`
	Note      string    `json:"note"`
	Links     []string  `json:"links"`
	Author    string    `json:"author"`
	CreatedAt time.Time `json:"created_at"`
}

// NewUpdate is a request to post an update.
type NewUpdate struct {
	Date  string   `json:"date"`
	Note  string   `json:"note"`
	Links []string `json:"links"`
}

// Limits of an update.
const (
	MaxNote    = 4000
	MaxLinks   = 10
	MaxLinkLen = 2000
)

// ValidLink checks an evidence link: an absolute http or https URL with a host, no credentials in it, and no
// spaces or control characters. It returns the reason when the link is refused.
func ValidLink(raw string) (string, bool) {
	if raw == "" {
		return "must not be empty", false
	}
	if len(raw) > MaxLinkLen {
		return fmt.Sprintf("must be at most %d characters", MaxLinkLen), false
	}
	if strings.ContainsFunc(raw, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "must not contain spaces or control characters", false
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return "must be an http:// or https:// address", false
	}
	if u.User != nil {
		return "must not carry a user name or password", false
	}
	return "", true
}

// validate checks the update against today (an update reports what has happened: it may not be dated in the
// future, one day of slack aside for clocks and time zones). Errors: Unprocessable naming each bad field.
func (n NewUpdate) validate(today Date) (Date, string, []string, error) {
	var fe errs.FieldErrors
	d, err := ParseDate(strings.TrimSpace(n.Date))
	switch {
	case strings.TrimSpace(n.Date) == "":
		fe.Add("date", "is required: the day the update reports on, like %s", today)
	case err != nil:
		fe.Add("date", "must be a date like %s", today)
	case d.Before(minTarget):
		fe.Add("date", "must not be before %s, when the plan began", minTarget)
	case d.After(today.AddDays(1)):
		fe.Add("date", "must not be in the future (today is %s)", today)
	}
	note := cleanText(&fe, "note", n.Note, MaxNote, true)
	if note == "" {
		fe.Add("note", "is required: say what happened")
	}
	if len(n.Links) > MaxLinks {
		fe.Add("links", "at most %d links", MaxLinks)
	}
	var links []string
	for i, l := range n.Links {
		l = strings.TrimSpace(l)
		if why, ok := ValidLink(l); !ok {
			fe.Add("links["+strconv.Itoa(i)+"]", "%s", why)
			continue
		}
		links = append(links, l)
	}
	if links == nil {
		links = []string{}
	}
	return d, note, links, fe.Err()
}

// AddUpdate posts an update on an item and records it in the audit log. Errors: NotFound for an unknown code,
// Unprocessable naming each bad field.
func (s *Store) AddUpdate(ctx context.Context, p auth.Principal, code string, n NewUpdate) (Update, error) {
	d, note, links, err := n.validate(s.Today())
	if err != nil {
		return Update{}, err
	}
	u := Update{Code: code, Date: d, Note: note, Links: links, Author: p.Actor(), CreatedAt: s.Now()}
	err = pg.WithTx(ctx, s.db, func(tx pgx.Tx) error {
		if err := item(ctx, tx, code); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `INSERT INTO plan_updates (code, on_date, note, links, author, user_id, org_id, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
			code, d.Time(), note, links, u.Author, nullID(p.UserID), nullID(p.OrgID), u.CreatedAt).Scan(&u.ID)
		if err != nil {
			return pg.Err(err, "update")
		}
		return audit(ctx, tx, p, code, u.CreatedAt, Change{Field: fmt.Sprintf("updates[%d]", u.ID), New: d.String() + " " + Excerpt(note, 120)})
	})
	return u, err
}

const updateCols = `id, code, on_date, note, links, author, created_at`

func scanUpdate(r pgx.CollectableRow) (Update, error) {
	var u Update
	var d time.Time
	err := r.Scan(&u.ID, &u.Code, &d, &u.Note, &u.Links, &u.Author, &u.CreatedAt)
	u.Date = NewDate(d.Year(), d.Month(), d.Day())
	return u, err
}

// PageKey is the update's place in Updates' order, latest date first.
func (u Update) PageKey() []any { return []any{u.Date.Time(), u.ID} }

// Updates lists an item's updates, latest date first, with the total (up to pg.CountCap). Errors: NotFound for
// an unknown code, Invalid (a cursor of another list).
func (s *Store) Updates(ctx context.Context, code string, page pg.Page) ([]Update, int, error) {
	if err := item(ctx, s.db, code); err != nil {
		return nil, 0, err
	}
	q := pg.Query{Cols: updateCols, From: "plan_updates", Where: []string{"code = $1"}, Args: []any{code},
		Key: "on_date, id", Desc: true}
	var date time.Time
	var after int64
	return pg.List(ctx, s.db, q, page, "updates", func(row pgx.Row, total *int) (Update, error) {
		var u Update
		var d time.Time
		err := row.Scan(&u.ID, &u.Code, &d, &u.Note, &u.Links, &u.Author, &u.CreatedAt, total)
		u.Date = NewDate(d.Year(), d.Month(), d.Day())
		return u, err
	}, &date, &after)
}

// RecentUpdates lists the latest updates on any item, newest posted first.
func (s *Store) RecentUpdates(ctx context.Context, limit int) ([]Update, error) {
	rows, err := s.db.Query(ctx, `SELECT `+updateCols+` FROM plan_updates ORDER BY created_at DESC, id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, pg.Err(err, "updates")
	}
	out, err := pgx.CollectRows(rows, scanUpdate)
	return out, pg.Err(err, "updates")
}

// UpdatesBetween lists the updates dated from one day to another (inclusive), by date.
func (s *Store) UpdatesBetween(ctx context.Context, from, to Date) ([]Update, error) {
	rows, err := s.db.Query(ctx, `SELECT `+updateCols+` FROM plan_updates WHERE on_date BETWEEN $1 AND $2
		ORDER BY on_date, id`, from.Time(), to.Time())
	if err != nil {
		return nil, pg.Err(err, "updates")
	}
	out, err := pgx.CollectRows(rows, scanUpdate)
	return out, pg.Err(err, "updates")
}

// Annual is an entry of an item's annual work plan (年度工作计划): what is planned in a year, and whether it
// was done.
type Annual struct {
	ID        int64     `json:"id"`
	Code      string    `json:"code"`
	Year      int       `json:"year"`
	Planned   string    `json:"planned"`
	Done      bool      `json:"done"`
	Note      string    `json:"note"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
	UpdatedAt time.Time `json:"updated_at"`
	UpdatedBy string    `json:"updated_by"`
}

// NewAnnual is a request to add an annual entry.
type NewAnnual struct {
	Year    int    `json:"year"`
	Planned string `json:"planned"`
	Done    bool   `json:"done"`
	Note    string `json:"note"`
}

// AnnualPatch changes an annual entry; absent fields stay. The year is fixed once the entry exists.
type AnnualPatch struct {
	Planned *string `json:"planned"`
	Done    *bool   `json:"done"`
	Note    *string `json:"note"`
}

// Limits of an annual entry.
const (
	MaxPlanned = 2000
	MaxAnnNote = 2000
)

func validPlanned(fe *errs.FieldErrors, s string) string {
	s = cleanText(fe, "planned", s, MaxPlanned, true)
	if s == "" {
		fe.Add("planned", "is required: what is planned for the year")
	}
	return s
}

// AddAnnual adds an annual entry to an item and records it in the audit log. Errors: NotFound for an unknown
// code, Unprocessable naming each bad field.
func (s *Store) AddAnnual(ctx context.Context, p auth.Principal, code string, n NewAnnual) (Annual, error) {
	var fe errs.FieldErrors
	if n.Year < FirstYear || n.Year > LastYear {
		fe.Add("year", "must be a year of the plan, %d to %d", FirstYear, LastYear)
	}
	planned := validPlanned(&fe, n.Planned)
	note := cleanText(&fe, "note", n.Note, MaxAnnNote, true)
	if err := fe.Err(); err != nil {
		return Annual{}, err
	}
	now := s.Now()
	a := Annual{Code: code, Year: n.Year, Planned: planned, Done: n.Done, Note: note, CreatedAt: now, CreatedBy: p.Actor(), UpdatedAt: now, UpdatedBy: p.Actor()}
	err := pg.WithTx(ctx, s.db, func(tx pgx.Tx) error {
		if err := item(ctx, tx, code); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `INSERT INTO plan_annual (code, year, planned, done, note, created_at, created_by, updated_at, updated_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $6, $7) RETURNING id`, code, a.Year, a.Planned, a.Done, a.Note, now, a.CreatedBy).Scan(&a.ID)
		if err != nil {
			return pg.Err(err, "annual entry")
		}
		f := fmt.Sprintf("annual[%d]", a.ID)
		changes := []Change{{Field: f + ".planned", New: fmt.Sprintf("%d: %s", a.Year, Excerpt(a.Planned, 120))}}
		if a.Done {
			changes = append(changes, Change{Field: f + ".done", Old: "false", New: "true"})
		}
		if a.Note != "" {
			changes = append(changes, Change{Field: f + ".note", New: Excerpt(a.Note, 120)})
		}
		return audit(ctx, tx, p, code, now, changes...)
	})
	return a, err
}

const annualCols = `id, code, year, planned, done, note, created_at, created_by, updated_at, updated_by`

func scanAnnual(r pgx.Row) (Annual, error) {
	var a Annual
	err := r.Scan(&a.ID, &a.Code, &a.Year, &a.Planned, &a.Done, &a.Note, &a.CreatedAt, &a.CreatedBy, &a.UpdatedAt, &a.UpdatedBy)
	return a, err
}

// UpdateAnnual changes an annual entry of an item, one audit entry per changed field. Errors: NotFound for an
// unknown code or an entry that is not the item's, Unprocessable naming each bad field.
func (s *Store) UpdateAnnual(ctx context.Context, p auth.Principal, code string, id int64, pt AnnualPatch) (Annual, error) {
	var fe errs.FieldErrors
	var planned, note string
	if pt.Planned != nil {
		planned = validPlanned(&fe, *pt.Planned)
	}
	if pt.Note != nil {
		note = cleanText(&fe, "note", *pt.Note, MaxAnnNote, true)
	}
	if err := fe.Err(); err != nil {
		return Annual{}, err
	}
	var a Annual
	err := pg.WithTx(ctx, s.db, func(tx pgx.Tx) error {
		var err error
		a, err = scanAnnual(tx.QueryRow(ctx, `SELECT `+annualCols+` FROM plan_annual WHERE id = $1 AND code = $2 FOR UPDATE`, id, code))
		if err != nil {
			return pg.Err(err, "annual entry")
		}
		f := fmt.Sprintf("annual[%d]", a.ID)
		var changes []Change
		if pt.Planned != nil && planned != a.Planned {
			changes = append(changes, Change{f + ".planned", Excerpt(a.Planned, 120), Excerpt(planned, 120)})
			a.Planned = planned
		}
		if pt.Done != nil && *pt.Done != a.Done {
			changes = append(changes, Change{f + ".done", strconv.FormatBool(a.Done), strconv.FormatBool(*pt.Done)})
			a.Done = *pt.Done
		}
		if pt.Note != nil && note != a.Note {
			changes = append(changes, Change{f + ".note", Excerpt(a.Note, 120), Excerpt(note, 120)})
			a.Note = note
		}
		if len(changes) == 0 {
			return nil
		}
		now := s.Now()
		a.UpdatedAt, a.UpdatedBy = now, p.Actor()
		_, err = tx.Exec(ctx, `UPDATE plan_annual SET planned = $2, done = $3, note = $4, updated_at = $5, updated_by = $6 WHERE id = $1`,
			a.ID, a.Planned, a.Done, a.Note, now, a.UpdatedBy)
		if err != nil {
			return pg.Err(err, "annual entry")
		}
		return audit(ctx, tx, p, code, now, changes...)
	})
	return a, err
}

// AnnualOf lists an item's annual entries by year. Errors: NotFound for an unknown code.
func (s *Store) AnnualOf(ctx context.Context, code string) ([]Annual, error) {
	if err := item(ctx, s.db, code); err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT `+annualCols+` FROM plan_annual WHERE code = $1 ORDER BY year, id`, code)
	if err != nil {
		return nil, pg.Err(err, "annual entries")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Annual, error) { return scanAnnual(r) })
	return out, pg.Err(err, "annual entries")
}

// AnnualFor lists every item's entries for a year (0: every year), by item position.
func (s *Store) AnnualFor(ctx context.Context, year int) ([]Annual, error) {
	rows, err := s.db.Query(ctx, `SELECT a.id, a.code, a.year, a.planned, a.done, a.note, a.created_at, a.created_by, a.updated_at, a.updated_by
		FROM plan_annual a JOIN plan_items i ON i.code = a.code
		WHERE ($1 = 0 OR a.year = $1) AND i.retired_at IS NULL ORDER BY i.position, a.year, a.id`, year)
	if err != nil {
		return nil, pg.Err(err, "annual entries")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Annual, error) { return scanAnnual(r) })
	return out, pg.Err(err, "annual entries")
}

// Counts are per-item totals of updates and annual entries, for the CSV export.
type Counts struct {
	Updates    int
	LastUpdate Date
	Annual     int
	AnnualDone int
}

// CountsByItem returns the counts of every item that has any.
func (s *Store) CountsByItem(ctx context.Context) (map[string]Counts, error) {
	out := map[string]Counts{}
	rows, err := s.db.Query(ctx, `SELECT code, count(*), max(on_date) FROM plan_updates GROUP BY code`)
	if err != nil {
		return nil, pg.Err(err, "update counts")
	}
	for rows.Next() {
		var code string
		var n int
		var last time.Time
		if err := rows.Scan(&code, &n, &last); err != nil {
			rows.Close()
			return nil, pg.Err(err, "update counts")
		}
		c := out[code]
		c.Updates, c.LastUpdate = n, NewDate(last.Year(), last.Month(), last.Day())
		out[code] = c
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, pg.Err(err, "update counts")
	}
	rows, err = s.db.Query(ctx, `SELECT code, count(*), count(*) FILTER (WHERE done) FROM plan_annual GROUP BY code`)
	if err != nil {
		return nil, pg.Err(err, "annual counts")
	}
	defer rows.Close()
	for rows.Next() {
		var code string
		var n, done int
		if err := rows.Scan(&code, &n, &done); err != nil {
			return nil, pg.Err(err, "annual counts")
		}
		c := out[code]
		c.Annual, c.AnnualDone = n, done
		out[code] = c
	}
	return out, pg.Err(rows.Err(), "annual counts")
}
