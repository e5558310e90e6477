package matching

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
)

// Product is a product profile: how long it keeps and the temperature band its cold chain must hold. The band
// is what ingest's rules apply to an asset carrying the product, and what trace's verdict is judged against.
type Product struct {
	Name           string   `json:"name"`    // slug, e.g. choy-sum
	NameZH         string   `json:"name_zh"` // 菜心
	ShelfLifeHours int      `json:"shelf_life_hours"`
	TempMinC       *float64 `json:"temp_min_c"` // nil: no lower bound
	TempMaxC       *float64 `json:"temp_max_c"` // nil: no upper bound (frozen goods have only a max)
}

// Validate checks a product's fields. Errors: Unprocessable naming each field at fault.
func (p Product) Validate() error {
	var fe errs.FieldErrors
	if !slug.MatchString(p.Name) {
		fe.Add("name", slugRule)
	}
	if utf8.RuneCountInString(p.NameZH) > 100 {
		fe.Add("name_zh", "at most 100 characters")
	}
	if p.ShelfLifeHours < 1 || p.ShelfLifeHours > 87600 {
		fe.Add("shelf_life_hours", "must be from 1 to 87600 (ten years)")
	}
	for _, t := range []struct {
		f string
		v *float64
	}{{"temp_min_c", p.TempMinC}, {"temp_max_c", p.TempMaxC}} {
		if t.v != nil && (*t.v < -60 || *t.v > 60 || *t.v != *t.v) {
			fe.Add(t.f, "must be from -60 to 60 °C")
		}
	}
	if p.TempMinC != nil && p.TempMaxC != nil && *p.TempMinC > *p.TempMaxC {
		fe.Add("temp_min_c", "must not be above temp_max_c")
	}
	return fe.Err()
}

// ProductUpdate changes some of a product's fields; nil fields are kept. ClearMin/ClearMax open a band's end.
type ProductUpdate struct {
	NameZH         *string  `json:"name_zh"`
	ShelfLifeHours *int     `json:"shelf_life_hours"`
	TempMinC       *float64 `json:"temp_min_c"`
	TempMaxC       *float64 `json:"temp_max_c"`
	ClearMin       bool     `json:"clear_temp_min_c"`
	ClearMax       bool     `json:"clear_temp_max_c"`
}

const productCols = `name, name_zh, shelf_life_hours, temp_min_c::float8, temp_max_c::float8`

func scanProduct(r pgx.Row) (Product, error) {
	var p Product
	err := r.Scan(&p.Name, &p.NameZH, &p.ShelfLifeHours, &p.TempMinC, &p.TempMaxC)
	return p, err
}

// CreateProduct registers a product profile. Errors: Unprocessable, Conflict (name taken).
func (s *Store) CreateProduct(ctx context.Context, p Product) (Product, error) {
	p.NameZH = strings.TrimSpace(p.NameZH)
	if err := p.Validate(); err != nil {
		return Product{}, err
	}
	out, err := scanProduct(s.db.QueryRow(ctx, `INSERT INTO products (name, name_zh, shelf_life_hours, temp_min_c, temp_max_c)
		VALUES ($1, $2, $3, $4, $5) RETURNING `+productCols, p.Name, p.NameZH, p.ShelfLifeHours, p.TempMinC, p.TempMaxC))
	return out, pg.Err(err, "product "+p.Name)
}

// PutProduct creates the product or replaces its fields (the demo data and `suilong` seeds use it).
func (s *Store) PutProduct(ctx context.Context, p Product) (Product, error) {
	if err := p.Validate(); err != nil {
		return Product{}, err
	}
	out, err := scanProduct(s.db.QueryRow(ctx, `INSERT INTO products (name, name_zh, shelf_life_hours, temp_min_c, temp_max_c)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (name) DO UPDATE SET name_zh = $2, shelf_life_hours = $3, temp_min_c = $4, temp_max_c = $5, updated_at = now()
		RETURNING `+productCols, p.Name, p.NameZH, p.ShelfLifeHours, p.TempMinC, p.TempMaxC))
	return out, pg.Err(err, "product "+p.Name)
}

// Product returns one product profile. Errors: NotFound.
func (s *Store) Product(ctx context.Context, name string) (Product, error) {
	p, err := scanProduct(s.db.QueryRow(ctx, `SELECT `+productCols+` FROM products WHERE name = $1`, name))
	return p, pg.Err(err, "product "+name)
}

// PageKey is the product's place in Products' order, by name.
func (p Product) PageKey() []any { return []any{p.Name} }

// Products lists product profiles by name, with the total count (up to pg.CountCap). Errors: Invalid (a cursor
// of another list).
func (s *Store) Products(ctx context.Context, page Page) ([]Product, int, error) {
	q := pg.Query{Cols: productCols, From: "products", Key: "name"}
	var after string
	return pg.List(ctx, s.db, q, page, "products", func(r pgx.Row, total *int) (Product, error) {
		var p Product
		err := r.Scan(&p.Name, &p.NameZH, &p.ShelfLifeHours, &p.TempMinC, &p.TempMaxC, total)
		return p, err
	}, &after)
}

// UpdateProduct changes a product profile. Errors: NotFound, Unprocessable.
func (s *Store) UpdateProduct(ctx context.Context, name string, u ProductUpdate) (Product, error) {
	var out Product
	err := pg.WithTx(ctx, s.db, func(tx pgx.Tx) error {
		p, err := scanProduct(tx.QueryRow(ctx, `SELECT `+productCols+` FROM products WHERE name = $1 FOR UPDATE`, name))
		if err != nil {
			return pg.Err(err, "product "+name)
		}
		if u.NameZH != nil {
			p.NameZH = strings.TrimSpace(*u.NameZH)
		}
		if u.ShelfLifeHours != nil {
			p.ShelfLifeHours = *u.ShelfLifeHours
		}
		if u.TempMinC != nil {
			p.TempMinC = u.TempMinC
		}
		if u.TempMaxC != nil {
			p.TempMaxC = u.TempMaxC
		}
		if u.ClearMin {
			p.TempMinC = nil
		}
		if u.ClearMax {
			p.TempMaxC = nil
		}
		if err := p.Validate(); err != nil {
			return err
		}
		out, err = scanProduct(tx.QueryRow(ctx, `UPDATE products SET name_zh = $2, shelf_life_hours = $3, temp_min_c = $4,
			temp_max_c = $5, updated_at = now() WHERE name = $1 RETURNING `+productCols, name, p.NameZH, p.ShelfLifeHours, p.TempMinC, p.TempMaxC))
		return pg.Err(err, "product "+name)
	})
	return out, err
}
