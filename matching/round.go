package matching

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
)

// RoundStatus is the state of a trading round.
type RoundStatus string

// A round is open from its creation (it takes offers and demands between opens_at and closes_at), closed once
// its run at the close is done, or cancelled by a coordinator before that.
const (
	RoundOpen      RoundStatus = "open"
	RoundClosed    RoundStatus = "closed"
	RoundCancelled RoundStatus = "cancelled"
)

// The defaults of a round's delivery window and answer deadline, counted from its close: deliveries from the
// close to two days after it, answers within the first twelve hours (the morning after an evening close), so
// that what is declined or lapses can still be matched by a follow-up run and delivered in the window.
const (
	DefaultDeliveryWindow = 48 * time.Hour
	DefaultAnswerWindow   = 12 * time.Hour
)

// Round is a trading round: a market cycle a coordinator opens for some products and destinations (empty lists:
// all), with a close at which its run starts by itself, a delivery window and an answer deadline.
type Round struct {
	ID            int64       `json:"id"`
	Name          string      `json:"name"`
	OpensAt       time.Time   `json:"opens_at"`
	ClosesAt      time.Time   `json:"closes_at"`
	Products      []string    `json:"products"`
	Destinations  []string    `json:"destinations"`
	DeliverFrom   time.Time   `json:"deliver_from"`
	DeliverBy     time.Time   `json:"deliver_by"`
	AnswerBy      time.Time   `json:"answer_by"`
	PriceRule     PriceRule   `json:"price_rule"`
	Note          string      `json:"note"`
	Status        RoundStatus `json:"status"`
	Accepting     bool        `json:"accepting"` // open and between opens_at and closes_at now: offers and demands may name it
	CreatedBy     int64       `json:"created_by"`
	CreatedByName string      `json:"created_by_name"`
	ClosedAt      *time.Time  `json:"closed_at,omitempty"`
	CancelledAt   *time.Time  `json:"cancelled_at,omitempty"`
	RunIDs        []int64     `json:"run_ids"` // the run at the close first, then the follow-ups
	Version       int         `json:"version"`
	CreatedAt     time.Time   `json:"created_at"`
	UpdatedAt     time.Time   `json:"updated_at"`
}

// NewRound is what a coordinator opens. Only Name, OpensAt and ClosesAt are required.
type NewRound struct {
	Name         string     `json:"name"`
	OpensAt      *time.Time `json:"opens_at"`
	ClosesAt     *time.Time `json:"closes_at"`
	Products     []string   `json:"products"`
	Destinations []string   `json:"destinations"`
	DeliverFrom  *time.Time `json:"deliver_from"`
	DeliverBy    *time.Time `json:"deliver_by"`
	AnswerBy     *time.Time `json:"answer_by"`
	PriceRule    PriceRule  `json:"price_rule"`
	Note         string     `json:"note"`
}

// RoundUpdate changes a round before its close; nil fields are kept.
type RoundUpdate struct {
	Name         *string    `json:"name"`
	OpensAt      *time.Time `json:"opens_at"`
	ClosesAt     *time.Time `json:"closes_at"`
	Products     *[]string  `json:"products"`
	Destinations *[]string  `json:"destinations"`
	DeliverFrom  *time.Time `json:"deliver_from"`
	DeliverBy    *time.Time `json:"deliver_by"`
	AnswerBy     *time.Time `json:"answer_by"`
	PriceRule    *PriceRule `json:"price_rule"`
	Note         *string    `json:"note"`
}

func validSlugs(fe *errs.FieldErrors, field string, names []string, rule string) {
	if len(names) > 100 {
		fe.Add(field, "at most 100 names")
	}
	seen := map[string]bool{}
	for i, n := range names {
		switch {
		case !slug.MatchString(n):
			fe.Add(field+"["+itoa(i)+"]", "%s", rule)
		case seen[n]:
			fe.Add(field+"["+itoa(i)+"]", "%q is listed twice", n)
		}
		seen[n] = true
	}
}

func (r *Round) validate() error {
	var fe errs.FieldErrors
	if n := utf8.RuneCountInString(r.Name); n < 1 || n > 200 {
		fe.Add("name", "is required, at most 200 characters")
	}
	if r.OpensAt.IsZero() {
		fe.Add("opens_at", "is required (RFC 3339)")
	}
	if r.ClosesAt.IsZero() {
		fe.Add("closes_at", "is required (RFC 3339)")
	}
	for _, t := range []struct {
		f string
		t time.Time
	}{{"opens_at", r.OpensAt}, {"closes_at", r.ClosesAt}, {"deliver_from", r.DeliverFrom}, {"deliver_by", r.DeliverBy}, {"answer_by", r.AnswerBy}} {
		validTime(&fe, t.f, t.t)
	}
	if !r.OpensAt.IsZero() && !r.ClosesAt.IsZero() {
		if !r.ClosesAt.After(r.OpensAt) {
			fe.Add("closes_at", "must be after opens_at")
		}
		if !r.DeliverBy.After(r.DeliverFrom) {
			fe.Add("deliver_by", "must be after deliver_from")
		}
		// Strictly after: the sweep that follows the close in the same tick would otherwise lapse every
		// allocation before either side could answer.
		if !r.AnswerBy.After(r.ClosesAt) {
			fe.Add("answer_by", "must be after closes_at")
		}
	}
	validSlugs(&fe, "products", r.Products, slugRule)
	validSlugs(&fe, "destinations", r.Destinations, slugRule+" (a market, e.g. jiangnan-market)")
	if !r.PriceRule.Valid() {
		fe.Add("price_rule", "must be midpoint, offer_price or demand_price")
	}
	if utf8.RuneCountInString(r.Note) > 1000 {
		fe.Add("note", "at most 1000 characters")
	}
	return fe.Err()
}

// defaults fills the delivery window and answer deadline a coordinator left out.
func (r *Round) defaults(from, by, answer *time.Time) {
	r.DeliverFrom, r.DeliverBy, r.AnswerBy = r.ClosesAt, r.ClosesAt.Add(DefaultDeliveryWindow), r.ClosesAt.Add(DefaultAnswerWindow)
	if from != nil {
		r.DeliverFrom = *from
		if by == nil {
			r.DeliverBy = r.DeliverFrom.Add(DefaultDeliveryWindow)
		}
	}
	if by != nil {
		r.DeliverBy = *by
	}
	if answer != nil {
		r.AnswerBy = *answer
	}
}

// knownProducts adds a field error for each name in products that is not a product profile.
func knownProducts(ctx context.Context, db pg.DB, fe *errs.FieldErrors, products []string) error {
	if len(products) == 0 {
		return nil
	}
	var known []string
	if err := db.QueryRow(ctx, `SELECT coalesce(array_agg(name), '{}') FROM products WHERE name = ANY($1)`, products).Scan(&known); err != nil {
		return pg.Err(err, "products")
	}
	for i, n := range products {
		if slug.MatchString(n) && !slices.Contains(known, n) {
			fe.Add("products["+itoa(i)+"]", "unknown product %q (see GET /api/v1/products)", n)
		}
	}
	return nil
}

const roundCols = `r.id, r.name, r.opens_at, r.closes_at, r.products, r.destinations, r.deliver_from, r.deliver_by, r.answer_by,
	r.price_rule, r.note, r.status, coalesce(r.created_by, 0), r.created_by_name, r.closed_at, r.cancelled_at, r.version, r.created_at,
	r.updated_at, coalesce((SELECT array_agg(m.id ORDER BY m.id) FROM matching_runs m WHERE m.round_id = r.id), '{}')`

func (s *Store) scanRound(row pgx.Row, extra ...any) (Round, error) {
	var r Round
	err := row.Scan(append([]any{&r.ID, &r.Name, &r.OpensAt, &r.ClosesAt, &r.Products, &r.Destinations, &r.DeliverFrom, &r.DeliverBy,
		&r.AnswerBy, &r.PriceRule, &r.Note, &r.Status, &r.CreatedBy, &r.CreatedByName, &r.ClosedAt, &r.CancelledAt, &r.Version,
		&r.CreatedAt, &r.UpdatedAt, &r.RunIDs}, extra...)...)
	now := s.Now()
	r.Accepting = r.Status == RoundOpen && !now.Before(r.OpensAt) && now.Before(r.ClosesAt)
	if r.Products == nil {
		r.Products = []string{}
	}
	if r.Destinations == nil {
		r.Destinations = []string{}
	}
	if r.RunIDs == nil {
		r.RunIDs = []int64{}
	}
	return r, err
}

func (s *Store) getRound(ctx context.Context, db pg.DB, id int64, lock bool) (Round, error) {
	q := `SELECT ` + roundCols + ` FROM rounds r WHERE r.id = $1`
	if lock {
		q += ` FOR UPDATE OF r`
	}
	r, err := s.scanRound(db.QueryRow(ctx, q, id))
	if errs.Is(pg.Err(err, ""), errs.NotFound) {
		return r, notFound("round", id)
	}
	return r, pg.Err(err, "round")
}

// member reports whether p takes part in rounds: staff, bases and buyers.
func member(p auth.Principal) bool {
	return p.Staff() || p.Role == auth.RoleBase || p.Role == auth.RoleBuyer
}

// CreateRound opens a trading round. Errors: Forbidden (staff only), Unprocessable naming the fields.
func (s *Store) CreateRound(ctx context.Context, p auth.Principal, n NewRound) (Round, error) {
	if !p.Staff() {
		return Round{}, forbidden("only coordinators open trading rounds")
	}
	r := Round{Name: strings.TrimSpace(n.Name), Products: append([]string{}, n.Products...),
		Destinations: append([]string{}, n.Destinations...), PriceRule: n.PriceRule, Note: strings.TrimSpace(n.Note)}
	if r.PriceRule == "" {
		r.PriceRule = PriceMidpoint
	}
	if n.OpensAt != nil {
		r.OpensAt = *n.OpensAt
	}
	if n.ClosesAt != nil {
		r.ClosesAt = *n.ClosesAt
	}
	r.defaults(n.DeliverFrom, n.DeliverBy, n.AnswerBy)
	var fe errs.FieldErrors
	if err := r.validate(); err != nil {
		fe = append(fe, errs.As(err).Fields...)
	}
	if !r.ClosesAt.IsZero() && !r.ClosesAt.After(s.Now()) {
		fe.Add("closes_at", "must be in the future")
	}
	if err := knownProducts(ctx, s.db, &fe, r.Products); err != nil {
		return Round{}, err
	}
	if err := fe.Err(); err != nil {
		return Round{}, err
	}
	var by *int64
	if p.OrgID != 0 {
		by = &p.OrgID
	}
	var id int64
	err := s.db.QueryRow(ctx, `INSERT INTO rounds (name, opens_at, closes_at, products, destinations, deliver_from, deliver_by, answer_by,
		price_rule, note, created_by, created_by_name) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`,
		r.Name, r.OpensAt, r.ClosesAt, r.Products, r.Destinations, r.DeliverFrom, r.DeliverBy, r.AnswerBy, string(r.PriceRule), r.Note,
		by, p.Actor()).Scan(&id)
	if err != nil {
		return Round{}, pg.Err(err, "round")
	}
	return s.getRound(ctx, s.db, id, false)
}

// Round returns a round. Bases and buyers see every round (they post into them). Errors: Forbidden, NotFound.
func (s *Store) Round(ctx context.Context, p auth.Principal, id int64) (Round, error) {
	if !member(p) {
		return Round{}, forbidden("only bases, buyers and coordinators see trading rounds")
	}
	return s.getRound(ctx, s.db, id, false)
}

// RoundFilter selects rounds; Accepting keeps those that take offers and demands now.
type RoundFilter struct {
	Status    RoundStatus
	Accepting bool
	Page
}

// PageKey is the round's place in Rounds' order, newest first.
func (r Round) PageKey() []any { return []any{r.ID} }

// Rounds lists rounds, newest first. Errors: Forbidden, Invalid (a cursor of another list).
func (s *Store) Rounds(ctx context.Context, p auth.Principal, f RoundFilter) ([]Round, int, error) {
	if !member(p) {
		return nil, 0, forbidden("only bases, buyers and coordinators see trading rounds")
	}
	var where []string
	var args []any
	if f.Status != "" {
		args = append(args, string(f.Status))
		where = append(where, "r.status = $"+itoa(len(args)))
	}
	if f.Accepting {
		args = append(args, s.Now())
		where = append(where, "r.status = 'open' AND r.opens_at <= $"+itoa(len(args))+" AND r.closes_at > $"+itoa(len(args)))
	}
	q := pg.Query{Cols: roundCols, From: "rounds r", Where: where, Args: args, Key: "r.id", Desc: true}
	var after int64
	return pg.List(ctx, s.db, q, f.Page, "rounds", func(r pgx.Row, total *int) (Round, error) { return s.scanRound(r, total) }, &after)
}

// UpdateRound changes a round before its close. Offers and demands already in it stay, whatever the new
// products and destinations. Errors: Forbidden, NotFound, Conflict (closed, cancelled or past its close),
// Unprocessable.
func (s *Store) UpdateRound(ctx context.Context, p auth.Principal, id int64, u RoundUpdate) (Round, error) {
	if !p.Staff() {
		return Round{}, forbidden("only coordinators change trading rounds")
	}
	err := pg.WithTx(ctx, s.db, func(tx pgx.Tx) error {
		r, err := s.getRound(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if r.Status != RoundOpen || !s.Now().Before(r.ClosesAt) {
			return errs.E(errs.Conflict, "round %d has closed (%s); it can no longer be changed", id, r.Status)
		}
		if u.Name != nil {
			r.Name = strings.TrimSpace(*u.Name)
		}
		if u.OpensAt != nil {
			r.OpensAt = *u.OpensAt
		}
		if u.Products != nil {
			r.Products = append([]string{}, *u.Products...)
		}
		if u.Destinations != nil {
			r.Destinations = append([]string{}, *u.Destinations...)
		}
		if u.PriceRule != nil {
			r.PriceRule = *u.PriceRule
		}
		if u.Note != nil {
			r.Note = strings.TrimSpace(*u.Note)
		}
		// A new close moves the defaulted window and deadline with it, unless they are given.
		if u.ClosesAt != nil {
			shift := u.ClosesAt.Sub(r.ClosesAt)
			r.ClosesAt = *u.ClosesAt
			r.DeliverFrom, r.DeliverBy, r.AnswerBy = r.DeliverFrom.Add(shift), r.DeliverBy.Add(shift), r.AnswerBy.Add(shift)
		}
		if u.DeliverFrom != nil {
			r.DeliverFrom = *u.DeliverFrom
		}
		if u.DeliverBy != nil {
			r.DeliverBy = *u.DeliverBy
		}
		if u.AnswerBy != nil {
			r.AnswerBy = *u.AnswerBy
		}
		var fe errs.FieldErrors
		if err := r.validate(); err != nil {
			fe = append(fe, errs.As(err).Fields...)
		}
		if u.ClosesAt != nil && !r.ClosesAt.After(s.Now()) {
			fe.Add("closes_at", "must be in the future")
		}
		if err := knownProducts(ctx, tx, &fe, r.Products); err != nil {
			return err
		}
		if err := fe.Err(); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE rounds SET name = $2, opens_at = $3, closes_at = $4, products = $5, destinations = $6,
			deliver_from = $7, deliver_by = $8, answer_by = $9, price_rule = $10, note = $11, version = version + 1, updated_at = now()
			WHERE id = $1`, id, r.Name, r.OpensAt, r.ClosesAt, r.Products, r.Destinations, r.DeliverFrom, r.DeliverBy, r.AnswerBy,
			string(r.PriceRule), r.Note)
		return pg.Err(err, "round")
	})
	if err != nil {
		return Round{}, err
	}
	return s.getRound(ctx, s.db, id, false)
}

// CancelRound cancels a round before its run. Its offers and demands move to the open pool, as if posted
// without a round (their owners may withdraw them there); cancelling twice is harmless. Errors: Forbidden,
// NotFound, Conflict (its run has happened).
func (s *Store) CancelRound(ctx context.Context, p auth.Principal, id int64) (Round, error) {
	if !p.Staff() {
		return Round{}, forbidden("only coordinators cancel trading rounds")
	}
	err := pg.WithTx(ctx, s.db, func(tx pgx.Tx) error {
		r, err := s.getRound(ctx, tx, id, true)
		if err != nil {
			return err
		}
		switch r.Status {
		case RoundCancelled:
			return nil
		case RoundClosed:
			return errs.E(errs.Conflict, "round %d has closed and its run is done; it can no longer be cancelled", id)
		}
		if _, err := tx.Exec(ctx, `UPDATE rounds SET status = 'cancelled', cancelled_at = $2, version = version + 1, updated_at = now()
			WHERE id = $1`, id, s.Now()); err != nil {
			return pg.Err(err, "round")
		}
		for _, t := range []string{"offers", "demands"} {
			if _, err := tx.Exec(ctx, `UPDATE `+t+` SET round_id = NULL, version = version + 1, updated_at = now() WHERE round_id = $1`, id); err != nil {
				return pg.Err(err, t)
			}
		}
		return nil
	})
	if err != nil {
		return Round{}, err
	}
	return s.getRound(ctx, s.db, id, false)
}

// errNotDue ends a round's run transaction when another process has run it already (or it is not due).
var errNotDue = errors.New("round not due")
