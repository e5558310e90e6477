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

// Demand is a buyer's need: a product of at least a grade, delivered to a market by a time, at no more than a
// price. Its kilograms are split into proposed, ordered and available like an offer's.
type Demand struct {
	ID                     int64      `json:"id"`
	OrgID                  int64      `json:"org_id"`
	OrgName                string     `json:"org_name"`
	Product                string     `json:"product"`
	MinGrade               int        `json:"min_grade"` // the worst grade accepted (1 is best)
	QuantityKg             int64      `json:"quantity_kg"`
	MaxPricePerKg          Fen        `json:"max_price_per_kg"`
	Destination            string     `json:"destination"`
	DeliverBy              time.Time  `json:"deliver_by"`
	RequiredCertifications []string   `json:"required_certifications"`
	RequireInspection      bool       `json:"require_inspection"` // only offers naming a lot whose latest 农残检测 passed
	Note                   string     `json:"note"`
	Status                 Status     `json:"status"`
	Version                int        `json:"version"`
	ProposedKg             int64      `json:"proposed_kg"`
	OrderedKg              int64      `json:"ordered_kg"`
	AvailableKg            int64      `json:"available_kg"`
	CreatedAt              time.Time  `json:"created_at"`
	UpdatedAt              time.Time  `json:"updated_at"`
	WithdrawnAt            *time.Time `json:"withdrawn_at,omitempty"`
	RoundID                *int64     `json:"round_id"`           // the trading round it was posted into; nil: the open pool
	StandingDemandID       *int64     `json:"standing_demand_id"` // the standing demand it was made from
}

// NewDemand is what a buyer posts.
type NewDemand struct {
	Product                string     `json:"product"`
	MinGrade               int        `json:"min_grade"`
	QuantityKg             int64      `json:"quantity_kg"`
	MaxPricePerKg          *Fen       `json:"max_price_per_kg"`
	Destination            string     `json:"destination"`
	DeliverBy              *time.Time `json:"deliver_by"`
	RequiredCertifications []string   `json:"required_certifications"`
	RequireInspection      bool       `json:"require_inspection"`
	Note                   string     `json:"note"`
	RoundID                *int64     `json:"round_id"`
}

// DemandUpdate changes an open demand; nil fields are kept. Only the demand's buyer changes it.
type DemandUpdate struct {
	MinGrade               *int       `json:"min_grade"`
	QuantityKg             *int64     `json:"quantity_kg"`
	MaxPricePerKg          *Fen       `json:"max_price_per_kg"`
	Destination            *string    `json:"destination"`
	DeliverBy              *time.Time `json:"deliver_by"`
	RequiredCertifications *[]string  `json:"required_certifications"`
	RequireInspection      *bool      `json:"require_inspection"`
	Note                   *string    `json:"note"`
}

func (d *Demand) validate() error {
	var fe errs.FieldErrors
	if !slug.MatchString(d.Product) {
		fe.Add("product", slugRule)
	}
	if d.MinGrade < 1 || d.MinGrade > 5 {
		fe.Add("min_grade", "must be from 1 (best) to 5")
	}
	if d.QuantityKg < 1 || d.QuantityKg > maxKg {
		fe.Add("quantity_kg", "must be a whole number of kg from 1 to %d", maxKg)
	}
	if d.MaxPricePerKg < 0 || d.MaxPricePerKg > maxPrice {
		fe.Add("max_price_per_kg", "must be from 0 to 100000.00 CNY")
	}
	if !slug.MatchString(d.Destination) {
		fe.Add("destination", slugRule+" (a market, e.g. jiangnan-market)")
	}
	if d.DeliverBy.IsZero() {
		fe.Add("deliver_by", "is required (RFC 3339)")
	}
	validTime(&fe, "deliver_by", d.DeliverBy)
	validCerts(&fe, "required_certifications", d.RequiredCertifications)
	if utf8.RuneCountInString(d.Note) > 1000 {
		fe.Add("note", "at most 1000 characters")
	}
	return fe.Err()
}

const demandCols = `d.id, d.org_id, coalesce(g.name, ''), d.product, d.min_grade, d.quantity_kg, d.max_price_fen, d.destination,
	d.deliver_by, d.required_certifications, d.note, d.status, d.version, d.created_at, d.updated_at, d.withdrawn_at,
	h.proposed, h.ordered, d.require_inspection, d.round_id, d.standing_demand_id`

// demandJoins add the buyer's name and the kilograms held by allocations to demands d.
const demandJoins = ` LEFT JOIN orgs g ON g.id = d.org_id
	CROSS JOIN LATERAL (SELECT coalesce(sum(quantity_kg) FILTER (WHERE status = 'proposed'), 0)::bigint AS proposed,
		coalesce(sum(quantity_kg) FILTER (WHERE status = 'ordered'), 0)::bigint AS ordered
		FROM allocations WHERE demand_id = d.id AND status IN ('proposed', 'ordered')) h`

const demandFrom = ` FROM demands d` + demandJoins

func scanDemand(r pgx.Row, extra ...any) (Demand, error) {
	var d Demand
	dst := append([]any{&d.ID, &d.OrgID, &d.OrgName, &d.Product, &d.MinGrade, &d.QuantityKg, &d.MaxPricePerKg, &d.Destination,
		&d.DeliverBy, &d.RequiredCertifications, &d.Note, &d.Status, &d.Version, &d.CreatedAt, &d.UpdatedAt, &d.WithdrawnAt,
		&d.ProposedKg, &d.OrderedKg, &d.RequireInspection, &d.RoundID, &d.StandingDemandID}, extra...)
	err := r.Scan(dst...)
	d.AvailableKg = max(0, d.QuantityKg-d.ProposedKg-d.OrderedKg)
	if d.Status != StatusOpen {
		d.AvailableKg = 0
	}
	if d.RequiredCertifications == nil {
		d.RequiredCertifications = []string{}
	}
	return d, err
}

// getDemand is getOffer for demands.
func getDemand(ctx context.Context, db pg.DB, id int64, lock bool) (Demand, error) {
	if lock {
		if err := lockRow(ctx, db, `SELECT 1 FROM demands WHERE id = $1 FOR UPDATE`, id); err != nil {
			return Demand{}, notFoundAs(err, "demand", id)
		}
	}
	d, err := scanDemand(db.QueryRow(ctx, `SELECT `+demandCols+demandFrom+` WHERE d.id = $1`, id))
	if errs.Is(pg.Err(err, ""), errs.NotFound) {
		return d, notFound("demand", id)
	}
	return d, pg.Err(err, "demand")
}

// CreateDemand posts a demand of the caller's buying organisation. Errors: Forbidden for anyone but a buyer,
// Unprocessable naming the fields.
func (s *Store) CreateDemand(ctx context.Context, p auth.Principal, n NewDemand) (Demand, error) {
	if p.Role != auth.RoleBuyer {
		return Demand{}, forbidden("only a buyer posts demands")
	}
	d := Demand{OrgID: p.OrgID, Product: n.Product, MinGrade: n.MinGrade, QuantityKg: n.QuantityKg, Destination: n.Destination,
		RequiredCertifications: append([]string{}, n.RequiredCertifications...), Note: strings.TrimSpace(n.Note),
		RequireInspection: n.RequireInspection}
	var fe errs.FieldErrors
	if n.MaxPricePerKg == nil {
		fe.Add("max_price_per_kg", "is required (CNY per kg, e.g. 5.00)")
	} else {
		d.MaxPricePerKg = *n.MaxPricePerKg
	}
	if n.DeliverBy != nil {
		d.DeliverBy = *n.DeliverBy
	}
	d.RoundID = n.RoundID
	if err := s.roundDelivery(ctx, &fe, &d, n.DeliverBy != nil); err != nil {
		return Demand{}, err
	}
	if err := d.validate(); err != nil {
		fe = append(fe, errs.As(err).Fields...)
	}
	if len(fe) > 0 { // an unknown product is reported with the other faults
		if err := s.productExists(ctx, s.db, &fe, d.Product); err != nil {
			return Demand{}, err
		}
		return Demand{}, fe.Err()
	}
	// One statement, shared with the demands posted at the same moment (demandBatch): the row is written only
	// for a known product and, in a round, while the round takes records.
	out, err := s.insertDemand(ctx, d)
	if errors.Is(err, errNotWritten) {
		return Demand{}, s.notWritten(ctx, d.Product, d.RoundID)
	}
	if err != nil {
		return Demand{}, err
	}
	s.m.posted.WithLabelValues("demand").Inc()
	return out, nil
}

// Demand returns a demand its buyer or staff may see. Errors: NotFound (also for another organisation's).
func (s *Store) Demand(ctx context.Context, p auth.Principal, id int64) (Demand, error) {
	d, err := getDemand(ctx, s.db, id, false)
	if err != nil {
		return Demand{}, err
	}
	if !owns(p, d.OrgID) {
		return Demand{}, notFound("demand", id)
	}
	return d, nil
}

// PageKey is the demand's place in Demands' order, newest first.
func (d Demand) PageKey() []any { return []any{d.ID} }

// Demands lists demands, newest first, with the total count (up to pg.CountCap): a buyer's own, or all for
// staff. Errors: Forbidden, Invalid (a cursor of another list).
func (s *Store) Demands(ctx context.Context, p auth.Principal, f Filter) ([]Demand, int, error) {
	if !p.Staff() && p.Role != auth.RoleBuyer {
		return nil, 0, forbidden("only buyers and coordinators list demands")
	}
	f.scope(p)
	where, args := f.where("d")
	q := pg.Query{Cols: demandCols, From: "demands d", Joins: demandJoins, Where: where, Args: args, Key: "d.id", Desc: true}
	var after int64
	return pg.List(ctx, s.db, q, f.Page, "demands", func(r pgx.Row, total *int) (Demand, error) { return scanDemand(r, total) }, &after)
}

// UpdateDemand changes an open demand, with UpdateOffer's rules: new terms withdraw its proposed allocations,
// and the quantity cannot drop below the ordered kg. Errors: NotFound, Forbidden, Conflict, Unprocessable.
func (s *Store) UpdateDemand(ctx context.Context, p auth.Principal, id int64, u DemandUpdate) (Demand, error) {
	err := pg.WithTx(ctx, s.db, func(tx pgx.Tx) error {
		d, err := getDemand(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if !owns(p, d.OrgID) {
			return notFound("demand", id)
		}
		if p.OrgID != d.OrgID {
			return forbidden("only the demand's buyer changes it")
		}
		if d.Status != StatusOpen {
			return errs.E(errs.Conflict, "demand %d is withdrawn", id)
		}
		old := d
		if u.MinGrade != nil {
			d.MinGrade = *u.MinGrade
		}
		if u.QuantityKg != nil {
			d.QuantityKg = *u.QuantityKg
		}
		if u.MaxPricePerKg != nil {
			d.MaxPricePerKg = *u.MaxPricePerKg
		}
		if u.Destination != nil {
			d.Destination = *u.Destination
		}
		if u.DeliverBy != nil {
			d.DeliverBy = *u.DeliverBy
		}
		if u.RequiredCertifications != nil {
			d.RequiredCertifications = append([]string{}, *u.RequiredCertifications...)
		}
		if u.Note != nil {
			d.Note = strings.TrimSpace(*u.Note)
		}
		if u.RequireInspection != nil {
			d.RequireInspection = *u.RequireInspection
		}
		if err := d.validate(); err != nil {
			return err
		}
		// Only a change of where or by when is held to the round: a round whose window was narrowed later
		// must not refuse its buyer's change of a price or a note.
		if d.Destination != old.Destination || !d.DeliverBy.Equal(old.DeliverBy) {
			if err := s.roundTerms(ctx, tx, d); err != nil {
				return err
			}
		}
		if d.QuantityKg < d.OrderedKg {
			return errs.E(errs.Conflict, "demand %d has %d kg in placed orders; its quantity cannot drop below that", id, d.OrderedKg)
		}
		termsChanged := d.MinGrade != old.MinGrade || d.MaxPricePerKg != old.MaxPricePerKg || d.Destination != old.Destination ||
			!d.DeliverBy.Equal(old.DeliverBy) || !slices.Equal(d.RequiredCertifications, old.RequiredCertifications) ||
			d.QuantityKg < old.ProposedKg+old.OrderedKg || d.RequireInspection != old.RequireInspection
		if termsChanged {
			if err := withdrawProposals(ctx, tx, "demand_id", id); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `UPDATE demands SET min_grade = $2, quantity_kg = $3, max_price_fen = $4, destination = $5, deliver_by = $6,
			required_certifications = $7, note = $8, require_inspection = $9, version = version + 1, updated_at = now() WHERE id = $1`,
			id, d.MinGrade, d.QuantityKg, int64(d.MaxPricePerKg), d.Destination, d.DeliverBy, d.RequiredCertifications, d.Note,
			d.RequireInspection)
		return pg.Err(err, "demand")
	})
	if err != nil {
		return Demand{}, err
	}
	return getDemand(ctx, s.db, id, false)
}

// WithdrawDemand takes a demand out of the pool: its proposed allocations are withdrawn, placed orders stand.
// Errors: NotFound, Forbidden.
func (s *Store) WithdrawDemand(ctx context.Context, p auth.Principal, id int64) (Demand, error) {
	if err := s.withdraw(ctx, p, demandSide, id); err != nil {
		return Demand{}, err
	}
	return getDemand(ctx, s.db, id, false)
}
