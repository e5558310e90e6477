package matching_test

import (
	"context"
	"testing"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/auth/authtest"
	"github.com/suilong/suilong/internal/pg"
	"github.com/suilong/suilong/internal/pg/pgtest"
	"github.com/suilong/suilong/matching"
)

// A page of a buyer with 100,000 demands costs what a page costs: BenchmarkDemandsPage/* against
// BenchmarkDemandsPage/baseline, one primary-key read of a demand in the same database (ns/op ratio; before
// keyset pages and capped totals, the first page read and summed every demand of the buyer: ~700 ms).
func BenchmarkDemandsPage(b *testing.B) {
	db := pgtest.New(b)
	ctx := context.Background()
	org, _ := authtest.Org(b, db, "广州江南果菜批发市场", auth.RoleBuyer)
	if _, err := db.Exec(ctx, `INSERT INTO products (name, shelf_life_hours) VALUES ('choy-sum', 72)`); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO demands (org_id, product, min_grade, quantity_kg, max_price_fen, destination, deliver_by)
		SELECT $1, 'choy-sum', 2, 100 + n % 900, 500, 'jiangnan-market', '2026-12-01T04:00:00Z' FROM generate_series(1, 100000) n`, org.ID); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(ctx, `VACUUM ANALYZE demands`); err != nil {
		b.Fatal(err)
	}
	s := matching.NewStore(db)
	buyer := auth.Principal{OrgID: org.ID, OrgName: org.Name, Role: auth.RoleBuyer}
	page := func(b *testing.B, p pg.Page) {
		for b.Loop() {
			ds, total, err := s.Demands(ctx, buyer, matching.Filter{Page: p})
			if err != nil || len(ds) != p.Limit || total != pg.CountCap+1 {
				b.Fatalf("%d demands, total %d: %v", len(ds), total, err)
			}
		}
	}
	first, _, err := s.Demands(ctx, buyer, matching.Filter{Page: pg.Page{Limit: 50}})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("baseline", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Demand(ctx, buyer, first[0].ID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("first", func(b *testing.B) { page(b, pg.Page{Limit: 51}) })
	b.Run("after", func(b *testing.B) { page(b, pg.Page{Limit: 51, After: pg.Cursor(first[49].ID)}) })
	b.Run("offset_50000", func(b *testing.B) { page(b, pg.Page{Limit: 51, Offset: 50000}) })
}
