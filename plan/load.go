package plan

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/internal/pg"
	"github.com/suilong/suilong/plan/tree"
)

// LoadResult says what a load changed in plan_items.
type LoadResult struct {
	Added     int `json:"added"`
	Changed   int `json:"changed"`
	Retired   int `json:"retired"`
	Unchanged int `json:"unchanged"`
}

// Changes reports whether the load changed anything.
func (r LoadResult) Changes() bool { return r.Added+r.Changed+r.Retired > 0 }

// loadLock serialises loads from several processes (two `suilong serve` starting at once).
const loadLock = 0x706c616e // "plan"

type itemRow struct {
	kind                         string
	parent                       *string
	position                     int
	number, title, titleEN, body string
	retired                      bool
}

// Load makes plan_items match the tree: new items are added, items whose kind, place, number, titles or text
// changed are updated, items no longer in the tree are retired (kept, with their history, but no longer shown),
// and an item that comes back is un-retired. Rows that already match are not written, so loading the same tree
// twice changes nothing; tracking state, updates and annual entries live in other tables and are never touched.
func (s *Store) Load(ctx context.Context, t *tree.Tree) (LoadResult, error) {
	var res LoadResult
	err := pg.WithTx(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, loadLock); err != nil {
			return pg.Err(err, "plan load lock")
		}
		rows, err := tx.Query(ctx, `SELECT code, kind, parent, position, number, title, title_en, body, retired_at IS NOT NULL FROM plan_items`)
		if err != nil {
			return pg.Err(err, "plan items")
		}
		have := map[string]itemRow{}
		for rows.Next() {
			var code string
			var r itemRow
			if err := rows.Scan(&code, &r.kind, &r.parent, &r.position, &r.number, &r.title, &r.titleEN, &r.body, &r.retired); err != nil {
				rows.Close()
				return pg.Err(err, "plan items")
			}
			have[code] = r
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return pg.Err(err, "plan items")
		}
		now := s.Now()
		seen := map[string]bool{}
		for i, it := range t.All() {
			seen[it.Code] = true
			var parent *string
			if it.Parent != "" {
				p := it.Parent
				parent = &p
			}
			want := itemRow{kind: string(it.Kind), parent: parent, position: i + 1, number: it.Number, title: it.Title, titleEN: it.TitleEN, body: it.Text}
			old, ok := have[it.Code]
			switch {
			case !ok:
				_, err = tx.Exec(ctx, `INSERT INTO plan_items (code, kind, parent, position, number, title, title_en, body, loaded_at)
					VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, it.Code, want.kind, want.parent, want.position, want.number, want.title, want.titleEN, want.body, now)
				res.Added++
			case !sameRow(old, want):
				_, err = tx.Exec(ctx, `UPDATE plan_items SET kind = $2, parent = $3, position = $4, number = $5, title = $6, title_en = $7,
					body = $8, loaded_at = $9, retired_at = NULL WHERE code = $1`, it.Code, want.kind, want.parent, want.position, want.number, want.title, want.titleEN, want.body, now)
				res.Changed++
			default:
				res.Unchanged++
			}
			if err != nil {
				return pg.Err(err, "plan item "+it.Code)
			}
		}
		for code, old := range have {
			if seen[code] || old.retired {
				continue
			}
			if _, err := tx.Exec(ctx, `UPDATE plan_items SET retired_at = $2 WHERE code = $1`, code, now); err != nil {
				return pg.Err(err, "plan item "+code)
			}
			res.Retired++
		}
		return nil
	})
	return res, err
}

func sameRow(a, b itemRow) bool {
	samePtr := (a.parent == nil) == (b.parent == nil) && (a.parent == nil || *a.parent == *b.parent)
	return !a.retired && samePtr && a.kind == b.kind && a.position == b.position && a.number == b.number &&
		a.title == b.title && a.titleEN == b.titleEN && a.body == b.body
}
