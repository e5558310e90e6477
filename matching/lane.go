package matching

import (
	"context"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
)

// Lane is a transport link from a Longyan county to a Guangzhou market: what a kilogram costs to carry and how
// long the reefer truck takes.
type Lane struct {
	ID              int64     `json:"id"`
	Origin          string    `json:"origin"` // county slug, e.g. shanghang
	OriginName      string    `json:"origin_name"`
	Destination     string    `json:"destination"` // market slug, e.g. jiangnan-market
	DestinationName string    `json:"destination_name"`
	CostPerKg       Fen       `json:"cost_per_kg"`
	TransitHours    int       `json:"transit_hours"`
	UpdatedAt       time.Time `json:"updated_at"`
}

// Transit is the lane's transit time.
func (l Lane) Transit() time.Duration { return time.Duration(l.TransitHours) * time.Hour }

// NewLane is a lane to register. Transit is in whole hours, as in the matching file format.
type NewLane struct {
	Origin          string `json:"origin"`
	OriginName      string `json:"origin_name"`
	Destination     string `json:"destination"`
	DestinationName string `json:"destination_name"`
	CostPerKg       *Fen   `json:"cost_per_kg"`
	TransitHours    int    `json:"transit_hours"`
}

// LaneUpdate changes a lane's cost, transit time or names; nil fields are kept.
type LaneUpdate struct {
	OriginName      *string `json:"origin_name"`
	DestinationName *string `json:"destination_name"`
	CostPerKg       *Fen    `json:"cost_per_kg"`
	TransitHours    *int    `json:"transit_hours"`
}

func validLane(l Lane, cost *Fen, fe *errs.FieldErrors) {
	if l.TransitHours < 0 || l.TransitHours > 720 {
		fe.Add("transit_hours", "must be a whole number of hours from 0 to 720")
	}
	if !slug.MatchString(l.Origin) {
		fe.Add("origin", slugRule)
	}
	if !slug.MatchString(l.Destination) {
		fe.Add("destination", slugRule)
	}
	if utf8.RuneCountInString(l.OriginName) > 100 {
		fe.Add("origin_name", "at most 100 characters")
	}
	if utf8.RuneCountInString(l.DestinationName) > 100 {
		fe.Add("destination_name", "at most 100 characters")
	}
	switch {
	case cost == nil:
		fe.Add("cost_per_kg", "is required (CNY per kg, e.g. 0.40)")
	case *cost < 0 || *cost > 100000:
		fe.Add("cost_per_kg", "must be from 0 to 1000.00 CNY")
	}
}

const laneCols = `id, origin, origin_name, destination, destination_name, cost_per_kg_fen, transit_hours, updated_at`

func scanLane(r pgx.Row, extra ...any) (Lane, error) {
	var l Lane
	err := r.Scan(append([]any{&l.ID, &l.Origin, &l.OriginName, &l.Destination, &l.DestinationName, &l.CostPerKg, &l.TransitHours,
		&l.UpdatedAt}, extra...)...)
	return l, err
}

// CreateLane registers a lane. Errors: Unprocessable, Conflict (a lane already joins the two places).
func (s *Store) CreateLane(ctx context.Context, n NewLane) (Lane, error) {
	var fe errs.FieldErrors
	l := Lane{Origin: n.Origin, OriginName: strings.TrimSpace(n.OriginName), Destination: n.Destination,
		DestinationName: strings.TrimSpace(n.DestinationName), TransitHours: n.TransitHours}
	validLane(l, n.CostPerKg, &fe)
	if err := fe.Err(); err != nil {
		return Lane{}, err
	}
	l.CostPerKg = *n.CostPerKg
	out, err := scanLane(s.db.QueryRow(ctx, `INSERT INTO lanes (origin, origin_name, destination, destination_name, cost_per_kg_fen, transit_hours)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+laneCols, l.Origin, l.OriginName, l.Destination, l.DestinationName, l.CostPerKg, l.TransitHours))
	return out, pg.Err(err, "lane "+l.Origin+" → "+l.Destination)
}

// PutLane creates the lane or replaces its cost, transit and names (demo data).
func (s *Store) PutLane(ctx context.Context, n NewLane) (Lane, error) {
	var fe errs.FieldErrors
	l := Lane{Origin: n.Origin, OriginName: n.OriginName, Destination: n.Destination, DestinationName: n.DestinationName,
		TransitHours: n.TransitHours}
	validLane(l, n.CostPerKg, &fe)
	if err := fe.Err(); err != nil {
		return Lane{}, err
	}
	out, err := scanLane(s.db.QueryRow(ctx, `INSERT INTO lanes (origin, origin_name, destination, destination_name, cost_per_kg_fen, transit_hours)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (origin, destination) DO UPDATE SET origin_name = $2, destination_name = $4, cost_per_kg_fen = $5,
			transit_hours = $6, updated_at = now()
		RETURNING `+laneCols, l.Origin, l.OriginName, l.Destination, l.DestinationName, *n.CostPerKg, l.TransitHours))
	return out, pg.Err(err, "lane")
}

// Lane returns one lane. Errors: NotFound.
func (s *Store) Lane(ctx context.Context, id int64) (Lane, error) {
	l, err := scanLane(s.db.QueryRow(ctx, `SELECT `+laneCols+` FROM lanes WHERE id = $1`, id))
	return l, pg.Err(err, "lane "+strconv.FormatInt(id, 10))
}

// LaneFilter selects lanes; empty fields do not filter.
type LaneFilter struct {
	Origin, Destination string
	Page
}

// PageKey is the lane's place in Lanes' order (origin, then destination: one lane joins them).
func (l Lane) PageKey() []any { return []any{l.Origin, l.Destination} }

// Lanes lists lanes by origin and destination, with the total count (up to pg.CountCap). Errors: Invalid (a
// cursor of another list).
func (s *Store) Lanes(ctx context.Context, f LaneFilter) ([]Lane, int, error) {
	var where []string
	var args []any
	if f.Origin != "" {
		args = append(args, f.Origin)
		where = append(where, "origin = $"+itoa(len(args)))
	}
	if f.Destination != "" {
		args = append(args, f.Destination)
		where = append(where, "destination = $"+itoa(len(args)))
	}
	q := pg.Query{Cols: laneCols, From: "lanes", Where: where, Args: args, Key: "origin, destination"}
	var origin, destination string
	return pg.List(ctx, s.db, q, f.Page, "lanes", func(r pgx.Row, total *int) (Lane, error) { return scanLane(r, total) }, &origin, &destination)
}

// UpdateLane changes a lane. Errors: NotFound, Unprocessable.
func (s *Store) UpdateLane(ctx context.Context, id int64, u LaneUpdate) (Lane, error) {
	var out Lane
	err := pg.WithTx(ctx, s.db, func(tx pgx.Tx) error {
		l, err := scanLane(tx.QueryRow(ctx, `SELECT `+laneCols+` FROM lanes WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return pg.Err(err, "lane "+strconv.FormatInt(id, 10))
		}
		var fe errs.FieldErrors
		if u.OriginName != nil {
			l.OriginName = strings.TrimSpace(*u.OriginName)
		}
		if u.DestinationName != nil {
			l.DestinationName = strings.TrimSpace(*u.DestinationName)
		}
		if u.CostPerKg != nil {
			l.CostPerKg = *u.CostPerKg
		}
		if u.TransitHours != nil {
			l.TransitHours = *u.TransitHours
		}
		cost := l.CostPerKg
		validLane(l, &cost, &fe)
		if err := fe.Err(); err != nil {
			return err
		}
		out, err = scanLane(tx.QueryRow(ctx, `UPDATE lanes SET origin_name = $2, destination_name = $3, cost_per_kg_fen = $4,
			transit_hours = $5, updated_at = now() WHERE id = $1 RETURNING `+laneCols, id, l.OriginName, l.DestinationName, l.CostPerKg, l.TransitHours))
		return pg.Err(err, "lane")
	})
	return out, err
}

// DeleteLane removes a lane; runs after it no longer use it. Errors: NotFound.
func (s *Store) DeleteLane(ctx context.Context, id int64) error {
	tag, err := s.db.Exec(ctx, `DELETE FROM lanes WHERE id = $1`, id)
	if err == nil && tag.RowsAffected() == 0 {
		return notFound("lane", id)
	}
	return pg.Err(err, "lane")
}
