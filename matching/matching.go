// Package matching is the 菜篮子 scheme's marketplace: product profiles (shelf life and cold-chain band), lanes
// from Longyan's counties to Guangzhou's markets, the bases' supply offers and the buyers' demands, matching runs
// that allocate kilograms at the optimum found by matching/solve, and the orders that allocations become when
// both sides accept.
//
// Who sees what: a base sees and changes only its own offers, a buyer only its own demands; each sees the
// allocations and orders that involve it, without the other side's reservation price. Admins and coordinators
// see everything, keep products and lanes, set priority bonuses and start runs.
package matching

import (
	"context"
	"regexp"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
	"github.com/suilong/suilong/matching/solve"
)

// Fen is money in fen (1 CNY = 100 fen); in JSON a CNY amount with two decimals.
type Fen = solve.Fen

// Store is matching's records in PostgreSQL and the rules that guard them.
type Store struct {
	db  pg.DB
	Now func() time.Time
	// Lots answers for traceability's lots (offers naming the lot they sell, inspections in runs); nil: offers
	// cannot name lots.
	Lots    Lots
	m       *metrics
	demands demandBatch // CreateDemand's group commit
}

// NewStore returns a store on db. Its metrics are unregistered until Register is called.
func NewStore(db pg.DB) *Store { return &Store{db: db, Now: time.Now, m: newMetrics()} }

// Page is a page request (see pg.Page: lists read by keyset, totals counted up to pg.CountCap).
type Page = pg.Page

// slug is the shape of product names, origins and destinations: they appear in URLs, files and other systems.
var slug = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

const slugRule = "must be 1-63 lower-case letters, digits or '-', e.g. choy-sum"

// certSlug is the shape of a certification code (green-food, organic, geographical-indication, cailanzi-base).
var certSlug = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

func validCerts(fe *errs.FieldErrors, field string, certs []string) {
	seen := map[string]bool{}
	if len(certs) > 20 {
		fe.Add(field, "at most 20 certifications")
	}
	for i, c := range certs {
		switch {
		case !certSlug.MatchString(c):
			fe.Add(field+"["+itoa(i)+"]", "must be a certification code such as green-food, organic, geographical-indication, cailanzi-base")
		case seen[c]:
			fe.Add(field+"["+itoa(i)+"]", "%q is listed twice", c)
		}
		seen[c] = true
	}
}

// owns reports whether p may see a record of org: its owner, or staff.
func owns(p auth.Principal, org int64) bool { return p.Staff() || p.OrgID == org }

func notFound(what string, id int64) error { return errs.E(errs.NotFound, "%s %d not found", what, id) }

func forbidden(format string, args ...any) error { return errs.E(errs.Forbidden, format, args...) }

// runLock is the PostgreSQL advisory lock (transaction-scoped) that serialises runs across processes.
const runLock int64 = 0x73756c6f6e67 // "sulong"

func itoa(i int) string { return strconv.Itoa(i) }

// collect runs q on db and scans every row with scan; errors are classified and name what.
func collect[T any](ctx context.Context, db pg.DB, what string, scan func(pgx.Row) (T, error), q string, args ...any) ([]T, error) {
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return nil, pg.Err(err, what)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) { return scan(r) })
	return out, pg.Err(err, what)
}

// lockRow runs a SELECT … FOR UPDATE of one row. Errors: NotFound when there is no such row.
func lockRow(ctx context.Context, db pg.DB, q string, id int64) error {
	var one int
	return pg.Err(db.QueryRow(ctx, q, id).Scan(&one), "")
}

// notFoundAs names a NotFound error; other errors pass unchanged.
func notFoundAs(err error, what string, id int64) error {
	if errs.Is(err, errs.NotFound) {
		return notFound(what, id)
	}
	return err
}

// Times must lie in the solver's range (solve rejects an instance with any time outside it), or one record
// would make every run fail.
var (
	earliest = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	latest   = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

func validTime(fe *errs.FieldErrors, field string, t time.Time) {
	if !t.IsZero() && (t.Before(earliest) || !t.Before(latest)) {
		fe.Add(field, "must be between 2000 and 2199")
	}
}

// DB returns the store's database.
func (s *Store) DB() pg.DB { return s.db }
