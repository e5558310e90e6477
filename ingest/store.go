package ingest

import (
	"time"

	"github.com/suilong/suilong/internal/pg"
)

// Store is the ingest registry and its records in PostgreSQL: gateways, assets, sensors, alarms, the dead letter
// and the rules' saved state.
type Store struct {
	db  pg.DB
	Now func() time.Time
}

// NewStore returns a store on db.
func NewStore(db pg.DB) *Store { return &Store{db: db, Now: time.Now} }

// DB returns the store's database.
func (s *Store) DB() pg.DB { return s.db }

// Page is a page request (see pg.Page: lists read by keyset, totals counted up to pg.CountCap).
type Page = pg.Page
