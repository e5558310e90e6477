package auth

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
)

// Org is an organisation: a produce base, a buyer, a coordinating office, a gateway operator.
type Org struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Role      Role      `json:"role"`
	CreatedAt time.Time `json:"created_at"`
}

// Store keeps organisations, API keys and (see user.go) coordinator accounts in PostgreSQL.
type Store struct {
	db   pg.DB
	Now  func() time.Time
	keys *keyCache // nil: no cache (CacheKeys)
}

// NewStore returns a store on db.
func NewStore(db pg.DB) *Store { return &Store{db: db, Now: time.Now} }

// CreateOrg creates an organisation. Errors: Unprocessable for a bad name or role, Conflict for a taken name.
func (s *Store) CreateOrg(ctx context.Context, name string, role Role) (Org, error) {
	name = strings.TrimSpace(name)
	var fe errs.FieldErrors
	if name == "" || len(name) > 200 {
		fe.Add("name", "must be 1 to 200 characters")
	}
	if !role.Valid() {
		fe.Add("role", "must be one of %s", RoleNames())
	}
	if err := fe.Err(); err != nil {
		return Org{}, err
	}
	o := Org{Name: name, Role: role}
	err := s.db.QueryRow(ctx, `INSERT INTO orgs (name, role) VALUES ($1, $2) RETURNING id, created_at`, name, role).
		Scan(&o.ID, &o.CreatedAt)
	if err != nil {
		return Org{}, pg.Err(err, "organisation "+name)
	}
	return o, nil
}

const orgCols = `id, name, role, created_at`

// Org returns an organisation by id. Errors: NotFound.
func (s *Store) Org(ctx context.Context, id int64) (Org, error) {
	var o Org
	err := s.db.QueryRow(ctx, `SELECT `+orgCols+` FROM orgs WHERE id = $1`, id).Scan(&o.ID, &o.Name, &o.Role, &o.CreatedAt)
	return o, pg.Err(err, "organisation")
}

// OrgByName returns an organisation by its unique name. Errors: NotFound.
func (s *Store) OrgByName(ctx context.Context, name string) (Org, error) {
	var o Org
	err := s.db.QueryRow(ctx, `SELECT `+orgCols+` FROM orgs WHERE name = $1`, name).Scan(&o.ID, &o.Name, &o.Role, &o.CreatedAt)
	return o, pg.Err(err, "organisation "+name)
}

// PageKey is the organisation's place in Orgs' order, by id.
func (o Org) PageKey() []any { return []any{o.ID} }

// Orgs lists organisations by id, optionally of one role, with the total (up to pg.CountCap) for pagination.
// Errors: Invalid (a cursor of another list).
func (s *Store) Orgs(ctx context.Context, role Role, page pg.Page) ([]Org, int, error) {
	q := pg.Query{Cols: orgCols, From: "orgs", Key: "id"}
	if role != "" {
		q.Where, q.Args = []string{"role = $1"}, []any{string(role)}
	}
	var after int64
	return pg.List(ctx, s.db, q, page, "organisations", func(row pgx.Row, total *int) (Org, error) {
		var o Org
		err := row.Scan(&o.ID, &o.Name, &o.Role, &o.CreatedAt, total)
		return o, err
	}, &after)
}

// CountOrgsByRole counts organisations per role (KPIs: registered bases and buyers).
func (s *Store) CountOrgsByRole(ctx context.Context) (map[Role]int, error) {
	rows, err := s.db.Query(ctx, `SELECT role, count(*) FROM orgs GROUP BY role`)
	if err != nil {
		return nil, pg.Err(err, "organisations")
	}
	defer rows.Close()
	out := map[Role]int{}
	for rows.Next() {
		var r Role
		var n int
		if err := rows.Scan(&r, &n); err != nil {
			return nil, pg.Err(err, "organisations")
		}
		out[r] = n
	}
	return out, pg.Err(rows.Err(), "organisations")
}
