package ingest

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
)

const assetCols = `id, kind, name, city, org_id, band_min_c, band_max_c, coalesce(product, ''), created_at`

func scanAsset(row pgx.Row) (Asset, error) {
	var a Asset
	err := row.Scan(&a.ID, &a.Kind, &a.Name, &a.City, &a.OrgID, &a.Band.MinC, &a.Band.MaxC, &a.Product, &a.CreatedAt)
	return a, err
}

func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// CreateAsset registers a truck or a cold store. Errors: Unprocessable, Conflict.
func (s *Store) CreateAsset(ctx context.Context, a Asset) (Asset, error) {
	if err := a.Validate(); err != nil {
		return Asset{}, err
	}
	out, err := scanAsset(s.db.QueryRow(ctx, `INSERT INTO assets (id, kind, name, city, org_id, band_min_c, band_max_c, product)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING `+assetCols,
		a.ID, a.Kind, a.Name, a.City, a.OrgID, a.Band.MinC, a.Band.MaxC, nullIfEmpty(a.Product)))
	return out, pg.Err(err, "asset "+a.ID)
}

// Asset returns one asset. Errors: NotFound.
func (s *Store) Asset(ctx context.Context, id string) (Asset, error) {
	a, err := scanAsset(s.db.QueryRow(ctx, `SELECT `+assetCols+` FROM assets WHERE id = $1`, id))
	return a, pg.Err(err, "asset "+id)
}

// AssetFilter narrows Assets.
type AssetFilter struct {
	Kind AssetKind
	City string
	// Among, when OnlyAmong is set, keeps only these assets (none when it is empty): what a base or buyer may see.
	Among     []string
	OnlyAmong bool
}

// PageKey is the asset's place in Assets' order, by id.
func (a Asset) PageKey() []any { return []any{a.ID} }

// Assets lists assets by id, with the total (up to pg.CountCap). Errors: Invalid (a cursor of another list).
func (s *Store) Assets(ctx context.Context, f AssetFilter, p Page) ([]Asset, int, error) {
	where, args := []string{"true"}, []any{}
	if f.Kind != "" {
		args = append(args, f.Kind)
		where = append(where, fmt.Sprintf("kind = $%d", len(args)))
	}
	if f.City != "" {
		args = append(args, f.City)
		where = append(where, fmt.Sprintf("city = $%d", len(args)))
	}
	if f.OnlyAmong {
		args = append(args, append([]string{}, f.Among...)) // never nil: = ANY(NULL) would be NULL, not false
		where = append(where, fmt.Sprintf("id = ANY($%d::text[])", len(args)))
	}
	q := pg.Query{Cols: assetCols, From: "assets", Where: where, Args: args, Key: "id"}
	var after string
	return pg.List(ctx, s.db, q, p, "assets", func(row pgx.Row, total *int) (Asset, error) {
		var a Asset
		err := row.Scan(&a.ID, &a.Kind, &a.Name, &a.City, &a.OrgID, &a.Band.MinC, &a.Band.MaxC, &a.Product, &a.CreatedAt, total)
		return a, err
	}, &after)
}

// AssetUpdate changes an asset; nil fields stay. ClearBand removes the asset's own band.
type AssetUpdate struct {
	Name    *string `json:"name"`
	City    *string `json:"city"`
	Band    *Band   `json:"band"`
	Product *string `json:"product"`
}

// UpdateAsset changes an asset. Errors: NotFound, Unprocessable.
func (s *Store) UpdateAsset(ctx context.Context, id string, u AssetUpdate) (Asset, error) {
	var out Asset
	err := pg.WithTx(ctx, s.db, func(tx pgx.Tx) error {
		a, err := scanAsset(tx.QueryRow(ctx, `SELECT `+assetCols+` FROM assets WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return pg.Err(err, "asset "+id)
		}
		if u.Name != nil {
			a.Name = *u.Name
		}
		if u.City != nil {
			a.City = *u.City
		}
		if u.Band != nil {
			a.Band = *u.Band
		}
		if u.Product != nil {
			a.Product = *u.Product
		}
		if err := a.Validate(); err != nil {
			return err
		}
		out, err = scanAsset(tx.QueryRow(ctx, `UPDATE assets SET name = $2, city = $3, band_min_c = $4, band_max_c = $5,
			product = $6, updated_at = now() WHERE id = $1 RETURNING `+assetCols,
			id, a.Name, a.City, a.Band.MinC, a.Band.MaxC, nullIfEmpty(a.Product)))
		return pg.Err(err, "asset "+id)
	})
	return out, err
}

// DeleteAsset removes an asset. Errors: NotFound, Conflict while sensors are mounted in it.
func (s *Store) DeleteAsset(ctx context.Context, id string) error {
	tag, err := s.db.Exec(ctx, `DELETE FROM assets WHERE id = $1`, id)
	if err != nil {
		if errs.CodeOf(pg.Err(err, "")) == errs.Unprocessable {
			return errs.E(errs.Conflict, "asset %s still has sensors; move or delete them first", id)
		}
		return pg.Err(err, "asset "+id)
	}
	if tag.RowsAffected() == 0 {
		return errs.E(errs.NotFound, "asset %s not found", id)
	}
	return nil
}

// AssetStats counts the cold chain's equipment and its alarms, for KPIs.
type AssetStats struct {
	Trucks       int `json:"trucks"`
	ColdStores   int `json:"cold_stores"`
	Sensors      int `json:"sensors"`
	Gateways     int `json:"gateways"`
	OpenAlarms   int `json:"open_alarms"`   // raised, not yet acknowledged
	ActiveAlarms int `json:"active_alarms"` // open or acknowledged, not closed
}

// AssetStats returns the counts.
func (s *Store) AssetStats(ctx context.Context) (AssetStats, error) {
	var st AssetStats
	err := s.db.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM assets WHERE kind = 'truck'),
		(SELECT count(*) FROM assets WHERE kind = 'cold_store'),
		(SELECT count(*) FROM sensors),
		(SELECT count(*) FROM gateways),
		(SELECT count(*) FROM alarms WHERE status = 'open'),
		(SELECT count(*) FROM alarms WHERE status IN ('open', 'acknowledged'))`).
		Scan(&st.Trucks, &st.ColdStores, &st.Sensors, &st.Gateways, &st.OpenAlarms, &st.ActiveAlarms)
	return st, pg.Err(err, "asset stats")
}
