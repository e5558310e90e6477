package trace

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/internal/pg"
)

// Aboard is a lot in an asset now.
type Aboard struct {
	AssetID    string
	Code       string
	Product    string
	ProductZH  string
	QuantityKg int64
	Since      time.Time
	Band       Band
}

// OnBoard returns the lots in each of the assets now (open legs), in one query: what the duty officers'
// console shows a whole fleet carrying.
func (s *Store) OnBoard(ctx context.Context, assetIDs []string) ([]Aboard, error) {
	rows, err := s.db.Query(ctx, `SELECT g.asset_id, l.code, l.product, l.product_zh, l.quantity_kg, g.from_at, l.band_min_c, l.band_max_c
		FROM lot_legs g JOIN lots l ON l.id = g.lot_id
		WHERE g.to_at IS NULL AND g.asset_id = ANY($1) ORDER BY g.asset_id, g.from_at, l.id`, assetIDs)
	if err != nil {
		return nil, pg.Err(err, "lots on board")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Aboard, error) {
		var a Aboard
		err := r.Scan(&a.AssetID, &a.Code, &a.Product, &a.ProductZH, &a.QuantityKg, &a.Since, &a.Band.MinC, &a.Band.MaxC)
		return a, err
	})
	return out, pg.Err(err, "lots on board")
}
