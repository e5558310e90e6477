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

// Status is the state of an offer or demand: open (in the pool) or withdrawn by its owner.
type Status string

// The statuses of offers and demands.
const (
	StatusOpen      Status = "open"
	StatusWithdrawn Status = "withdrawn"
)

// Offer is a base's lot for sale. Of its QuantityKg, ProposedKg wait in allocations for both sides' answer,
// OrderedKg are sold; the rest, AvailableKg, is in the pool of the next run.
type Offer struct {
	ID                 int64      `json:"id"`
	OrgID              int64      `json:"org_id"`
	OrgName            string     `json:"org_name"`
	Product            string     `json:"product"`
	Grade              int        `json:"grade"` // 1 is best
	QuantityKg         int64      `json:"quantity_kg"`
	MinPricePerKg      Fen        `json:"min_price_per_kg"`
	Origin             string     `json:"origin"`
	HarvestedAt        time.Time  `json:"harvested_at"`
	AvailableFrom      time.Time  `json:"available_from"`
	Certifications     []string   `json:"certifications"`
	PriorityBonusPerKg Fen        `json:"priority_bonus_per_kg"`
	LotID              *int64     `json:"lot_id"` // the base's trace lot the offer sells, if named
	Note               string     `json:"note"`
	Status             Status     `json:"status"`
	Version            int        `json:"version"`
	ProposedKg         int64      `json:"proposed_kg"`
	OrderedKg          int64      `json:"ordered_kg"`
	AvailableKg        int64      `json:"available_kg"`
	CreatedAt          time.Time  `json:"created_at"`
	UpdatedAt          time.Time  `json:"updated_at"`
	WithdrawnAt        *time.Time `json:"withdrawn_at,omitempty"`
	RoundID            *int64     `json:"round_id"` // the trading round it was posted into; nil: the open pool
}

// NewOffer is what a base posts. AvailableFrom defaults to HarvestedAt.
type NewOffer struct {
	Product        string     `json:"product"`
	Grade          int        `json:"grade"`
	QuantityKg     int64      `json:"quantity_kg"`
	MinPricePerKg  *Fen       `json:"min_price_per_kg"`
	Origin         string     `json:"origin"`
	HarvestedAt    *time.Time `json:"harvested_at"`
	AvailableFrom  *time.Time `json:"available_from"`
	Certifications []string   `json:"certifications"`
	LotID          *int64     `json:"lot_id"`
	Note           string     `json:"note"`
	RoundID        *int64     `json:"round_id"`
}

// OfferUpdate changes an open offer; nil fields are kept. PriorityBonusPerKg is for coordinators only, every
// other field for the offer's base only.
type OfferUpdate struct {
	Grade              *int       `json:"grade"`
	QuantityKg         *int64     `json:"quantity_kg"`
	MinPricePerKg      *Fen       `json:"min_price_per_kg"`
	Origin             *string    `json:"origin"`
	HarvestedAt        *time.Time `json:"harvested_at"`
	AvailableFrom      *time.Time `json:"available_from"`
	Certifications     *[]string  `json:"certifications"`
	LotID              *int64     `json:"lot_id"` // 0 unnames the lot
	Note               *string    `json:"note"`
	PriorityBonusPerKg *Fen       `json:"priority_bonus_per_kg"`
}

func (u OfferUpdate) termsOnly() bool {
	return u.Grade == nil && u.QuantityKg == nil && u.MinPricePerKg == nil && u.Origin == nil && u.HarvestedAt == nil &&
		u.AvailableFrom == nil && u.Certifications == nil && u.Note == nil && u.LotID == nil
}

// maxKg bounds one offer or demand: 10,000 t, more than any lot. With runs capping the pool at solve.MaxTotalKg
// it keeps every sum of kg × fen exact in int64.
const maxKg = 10_000_000
const maxPrice = 10_000_000

func (o *Offer) validate() error {
	var fe errs.FieldErrors
	if !slug.MatchString(o.Product) {
		fe.Add("product", slugRule)
	}
	if o.Grade < 1 || o.Grade > 5 {
		fe.Add("grade", "must be from 1 (best) to 5")
	}
	if o.QuantityKg < 1 || o.QuantityKg > maxKg {
		fe.Add("quantity_kg", "must be a whole number of kg from 1 to %d", maxKg)
	}
	if o.MinPricePerKg < 0 || o.MinPricePerKg > maxPrice {
		fe.Add("min_price_per_kg", "must be from 0 to 100000.00 CNY")
	}
	if !slug.MatchString(o.Origin) {
		fe.Add("origin", slugRule+" (a county: xinluo, yongding, shanghang, wuping, changting, liancheng, zhangping)")
	}
	if o.HarvestedAt.IsZero() {
		fe.Add("harvested_at", "is required (RFC 3339)")
	}
	if !o.HarvestedAt.IsZero() && o.AvailableFrom.Before(o.HarvestedAt) {
		fe.Add("available_from", "must not be before harvested_at")
	}
	validTime(&fe, "harvested_at", o.HarvestedAt)
	validTime(&fe, "available_from", o.AvailableFrom)
	validCerts(&fe, "certifications", o.Certifications)
	if o.PriorityBonusPerKg < 0 || o.PriorityBonusPerKg > 1000000 {
		fe.Add("priority_bonus_per_kg", "must be from 0 to 10000.00 CNY")
	}
	if utf8.RuneCountInString(o.Note) > 1000 {
		fe.Add("note", "at most 1000 characters")
	}
	return fe.Err()
}

const offerCols = `o.id, o.org_id, coalesce(g.name, ''), o.product, o.grade, o.quantity_kg, o.min_price_fen, o.origin, o.harvested_at,
	o.available_from, o.certifications, o.priority_bonus_fen, o.note, o.status, o.version, o.created_at, o.updated_at, o.withdrawn_at,
	h.proposed, h.ordered, o.lot_id, o.round_id`

// offerJoins join offers o with their organisation and the kilograms their allocations hold (through the
// partial index on the allocations that hold kilograms).
const offerJoins = ` LEFT JOIN orgs g ON g.id = o.org_id
	CROSS JOIN LATERAL (SELECT coalesce(sum(quantity_kg) FILTER (WHERE status = 'proposed'), 0)::bigint AS proposed,
		coalesce(sum(quantity_kg) FILTER (WHERE status = 'ordered'), 0)::bigint AS ordered
		FROM allocations WHERE offer_id = o.id AND status IN ('proposed', 'ordered')) h`

const offerFrom = ` FROM offers o` + offerJoins

func scanOffer(r pgx.Row, extra ...any) (Offer, error) {
	var o Offer
	dst := append([]any{&o.ID, &o.OrgID, &o.OrgName, &o.Product, &o.Grade, &o.QuantityKg, &o.MinPricePerKg, &o.Origin,
		&o.HarvestedAt, &o.AvailableFrom, &o.Certifications, &o.PriorityBonusPerKg, &o.Note, &o.Status, &o.Version,
		&o.CreatedAt, &o.UpdatedAt, &o.WithdrawnAt, &o.ProposedKg, &o.OrderedKg, &o.LotID, &o.RoundID}, extra...)
	err := r.Scan(dst...)
	o.AvailableKg = max(0, o.QuantityKg-o.ProposedKg-o.OrderedKg)
	if o.Status != StatusOpen {
		o.AvailableKg = 0
	}
	if o.Certifications == nil {
		o.Certifications = []string{}
	}
	return o, err
}

// getOffer reads an offer with the kilograms its allocations hold. With lock, the offer row is locked first and
// then read afresh, so the held kilograms are those of the transactions that committed before the lock was
// granted, not of the snapshot a waiting FOR UPDATE would have computed them from.
func getOffer(ctx context.Context, db pg.DB, id int64, lock bool) (Offer, error) {
	if lock {
		if err := lockRow(ctx, db, `SELECT 1 FROM offers WHERE id = $1 FOR UPDATE`, id); err != nil {
			return Offer{}, notFoundAs(err, "offer", id)
		}
	}
	o, err := scanOffer(db.QueryRow(ctx, `SELECT `+offerCols+offerFrom+` WHERE o.id = $1`, id))
	if errs.Is(pg.Err(err, ""), errs.NotFound) {
		return o, notFound("offer", id)
	}
	return o, pg.Err(err, "offer")
}

func (s *Store) productExists(ctx context.Context, db pg.DB, fe *errs.FieldErrors, name string) error {
	if !slug.MatchString(name) {
		return nil // validate reports it
	}
	var ok bool
	if err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM products WHERE name = $1)`, name).Scan(&ok); err != nil {
		return pg.Err(err, "product")
	}
	if !ok {
		fe.Add("product", "unknown product %q (see GET /api/v1/products)", name)
	}
	return nil
}

// CreateOffer posts an offer of the caller's base. Errors: Forbidden for anyone but a base, Unprocessable
// naming the fields (an unknown product included).
func (s *Store) CreateOffer(ctx context.Context, p auth.Principal, n NewOffer) (Offer, error) {
	if p.Role != auth.RoleBase {
		return Offer{}, forbidden("only a produce base posts offers")
	}
	o := Offer{OrgID: p.OrgID, Product: n.Product, Grade: n.Grade, QuantityKg: n.QuantityKg, Origin: n.Origin,
		Certifications: append([]string{}, n.Certifications...), Note: strings.TrimSpace(n.Note), LotID: n.LotID}
	var fe errs.FieldErrors
	if n.MinPricePerKg == nil {
		fe.Add("min_price_per_kg", "is required (CNY per kg, e.g. 3.20)")
	} else {
		o.MinPricePerKg = *n.MinPricePerKg
	}
	if n.HarvestedAt != nil {
		o.HarvestedAt = *n.HarvestedAt
	}
	o.AvailableFrom = o.HarvestedAt
	if n.AvailableFrom != nil {
		o.AvailableFrom = *n.AvailableFrom
	}
	if err := o.validate(); err != nil {
		fe = append(fe, errs.As(err).Fields...)
	}
	if err := s.checkLot(ctx, p, &fe, o.LotID, o.Product); err != nil {
		return Offer{}, err
	}
	o.RoundID = n.RoundID
	if err := s.fitsRound(ctx, &fe, n.RoundID, o.Product, ""); err != nil {
		return Offer{}, err
	}
	if len(fe) > 0 { // an unknown product is reported with the other faults
		if err := s.productExists(ctx, s.db, &fe, o.Product); err != nil {
			return Offer{}, err
		}
		return Offer{}, fe.Err()
	}
	// One statement, as in CreateDemand.
	out, err := scanOffer(s.db.QueryRow(ctx, `WITH o AS (INSERT INTO offers (org_id, product, grade, quantity_kg, min_price_fen, origin,
			harvested_at, available_from, certifications, note, lot_id, round_id)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 WHERE EXISTS (SELECT 1 FROM products WHERE name = $2) AND `+roundStillOpen(12, 13)+`
		RETURNING *)
		SELECT `+offerCols+` FROM o LEFT JOIN orgs g ON g.id = o.org_id, (VALUES (0::bigint, 0::bigint)) h (proposed, ordered)`,
		o.OrgID, o.Product, o.Grade, o.QuantityKg, int64(o.MinPricePerKg), o.Origin, o.HarvestedAt, o.AvailableFrom,
		o.Certifications, o.Note, o.LotID, o.RoundID, s.Now()))
	if errors.Is(err, pgx.ErrNoRows) {
		return Offer{}, s.notWritten(ctx, o.Product, o.RoundID)
	}
	if err != nil {
		return Offer{}, pg.Err(err, "offer")
	}
	s.m.posted.WithLabelValues("offer").Inc()
	return out, nil
}

// Offer returns an offer its base or staff may see. Errors: NotFound (also for another organisation's offer).
func (s *Store) Offer(ctx context.Context, p auth.Principal, id int64) (Offer, error) {
	o, err := getOffer(ctx, s.db, id, false)
	if err != nil {
		return Offer{}, err
	}
	if !owns(p, o.OrgID) {
		return Offer{}, notFound("offer", id)
	}
	return o, nil
}

// Filter selects offers or demands. Non-staff callers always see only their own organisation's.
type Filter struct {
	OrgID   *int64
	Product string
	Status  Status
	RoundID *int64
	Page
}

func (f *Filter) scope(p auth.Principal) {
	if !p.Staff() {
		f.OrgID = &p.OrgID
	}
}

// where is the filter's conditions on the offers or demands t, with their arguments.
func (f Filter) where(t string) ([]string, []any) {
	var where []string
	var args []any
	add := func(col string, v any) {
		args = append(args, v)
		where = append(where, t+"."+col+" = $"+itoa(len(args)))
	}
	if f.OrgID != nil {
		add("org_id", *f.OrgID)
	}
	if f.Product != "" {
		add("product", f.Product)
	}
	if f.Status != "" {
		add("status", string(f.Status))
	}
	if f.RoundID != nil {
		add("round_id", *f.RoundID)
	}
	return where, args
}

// PageKey is the offer's place in Offers' order, newest first.
func (o Offer) PageKey() []any { return []any{o.ID} }

// Offers lists offers, newest first, with the total count (up to pg.CountCap): a base's own, or all for staff.
// Errors: Forbidden, Invalid (a cursor of another list).
func (s *Store) Offers(ctx context.Context, p auth.Principal, f Filter) ([]Offer, int, error) {
	if !p.Staff() && p.Role != auth.RoleBase {
		return nil, 0, forbidden("only bases and coordinators list offers")
	}
	f.scope(p)
	where, args := f.where("o")
	q := pg.Query{Cols: offerCols, From: "offers o", Joins: offerJoins, Where: where, Args: args, Key: "o.id", Desc: true}
	var after int64
	return pg.List(ctx, s.db, q, f.Page, "offers", func(r pgx.Row, total *int) (Offer, error) { return scanOffer(r, total) }, &after)
}

// UpdateOffer changes an open offer. A change of terms (anything but the note, the priority bonus or more kg)
// withdraws the offer's proposed allocations, whose buyers agreed to nothing yet on the new terms: their kg go
// back to the pool. Orders already placed stand, so the quantity cannot drop below the ordered kg.
// Errors: NotFound, Forbidden (a base setting its own bonus, staff changing a base's terms), Conflict (withdrawn
// offer, quantity below ordered kg), Unprocessable.
func (s *Store) UpdateOffer(ctx context.Context, p auth.Principal, id int64, u OfferUpdate) (Offer, error) {
	err := pg.WithTx(ctx, s.db, func(tx pgx.Tx) error {
		o, err := getOffer(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if !owns(p, o.OrgID) {
			return notFound("offer", id)
		}
		if u.PriorityBonusPerKg != nil && !p.Staff() {
			return forbidden("only coordinators set a priority bonus")
		}
		if p.OrgID != o.OrgID && !u.termsOnly() {
			return forbidden("only the offer's base changes its terms; coordinators set only priority_bonus_per_kg")
		}
		if o.Status != StatusOpen {
			return errs.E(errs.Conflict, "offer %d is withdrawn", id)
		}
		old := o
		if u.Grade != nil {
			o.Grade = *u.Grade
		}
		if u.QuantityKg != nil {
			o.QuantityKg = *u.QuantityKg
		}
		if u.MinPricePerKg != nil {
			o.MinPricePerKg = *u.MinPricePerKg
		}
		if u.Origin != nil {
			o.Origin = *u.Origin
		}
		if u.HarvestedAt != nil {
			o.HarvestedAt = *u.HarvestedAt
		}
		if u.AvailableFrom != nil {
			o.AvailableFrom = *u.AvailableFrom
		}
		if u.Certifications != nil {
			o.Certifications = append([]string{}, *u.Certifications...)
		}
		if u.Note != nil {
			o.Note = strings.TrimSpace(*u.Note)
		}
		if u.PriorityBonusPerKg != nil {
			o.PriorityBonusPerKg = *u.PriorityBonusPerKg
		}
		if u.LotID != nil {
			o.LotID = u.LotID
			if *u.LotID == 0 {
				o.LotID = nil
			}
		}
		if err := o.validate(); err != nil {
			return err
		}
		if u.LotID != nil {
			var fe errs.FieldErrors
			if err := s.checkLot(ctx, p, &fe, o.LotID, o.Product); err != nil {
				return err
			}
			if err := fe.Err(); err != nil {
				return err
			}
		}
		if o.QuantityKg < o.OrderedKg {
			return errs.E(errs.Conflict, "offer %d has %d kg in placed orders; its quantity cannot drop below that", id, o.OrderedKg)
		}
		termsChanged := o.Grade != old.Grade || o.MinPricePerKg != old.MinPricePerKg || o.Origin != old.Origin ||
			!o.HarvestedAt.Equal(old.HarvestedAt) || !o.AvailableFrom.Equal(old.AvailableFrom) ||
			!slices.Equal(o.Certifications, old.Certifications) || o.QuantityKg < old.ProposedKg+old.OrderedKg ||
			!sameLot(o.LotID, old.LotID)
		if termsChanged {
			if err := withdrawProposals(ctx, tx, "offer_id", id); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `UPDATE offers SET grade = $2, quantity_kg = $3, min_price_fen = $4, origin = $5, harvested_at = $6,
			available_from = $7, certifications = $8, note = $9, priority_bonus_fen = $10, lot_id = $11, version = version + 1,
			updated_at = now() WHERE id = $1`, id, o.Grade, o.QuantityKg, int64(o.MinPricePerKg), o.Origin, o.HarvestedAt, o.AvailableFrom,
			o.Certifications, o.Note, int64(o.PriorityBonusPerKg), o.LotID)
		return pg.Err(err, "offer")
	})
	if err != nil {
		return Offer{}, err
	}
	return getOffer(ctx, s.db, id, false)
}

// WithdrawOffer takes an offer out of the pool: its proposed allocations are withdrawn, placed orders stand.
// Withdrawing twice is harmless. Errors: NotFound, Forbidden (staff may not withdraw a base's offer).
func (s *Store) WithdrawOffer(ctx context.Context, p auth.Principal, id int64) (Offer, error) {
	if err := s.withdraw(ctx, p, offerSide, id); err != nil {
		return Offer{}, err
	}
	return getOffer(ctx, s.db, id, false)
}

// side names the table, allocation column and owner of offers or demands, for what both do alike. None of it is
// user input.
type side struct{ table, col, name, owner string }

var (
	offerSide  = side{"offers", "offer_id", "offer", "base"}
	demandSide = side{"demands", "demand_id", "demand", "buyer"}
)

// withdraw takes an offer or demand out of the pool for its owner and withdraws its proposed allocations.
func (s *Store) withdraw(ctx context.Context, p auth.Principal, sd side, id int64) error {
	return pg.WithTx(ctx, s.db, func(tx pgx.Tx) error {
		var org int64
		var st Status
		if err := tx.QueryRow(ctx, `SELECT org_id, status FROM `+sd.table+` WHERE id = $1 FOR UPDATE`, id).Scan(&org, &st); err != nil {
			return notFoundAs(pg.Err(err, ""), sd.name, id)
		}
		if !owns(p, org) {
			return notFound(sd.name, id)
		}
		if p.OrgID != org {
			return forbidden("only the %s's %s withdraws it", sd.name, sd.owner)
		}
		if st == StatusWithdrawn {
			return nil
		}
		if err := withdrawProposals(ctx, tx, sd.col, id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE `+sd.table+` SET status = 'withdrawn', withdrawn_at = now(), version = version + 1, updated_at = now()
			WHERE id = $1`, id)
		return pg.Err(err, sd.name)
	})
}

// withdrawProposals ends the proposed allocations of an offer or demand (col is offer_id or demand_id, never
// user input) because their side changed or left.
func withdrawProposals(ctx context.Context, tx pgx.Tx, col string, id int64) error {
	_, err := tx.Exec(ctx, `UPDATE allocations SET status = 'withdrawn' WHERE status = 'proposed' AND `+col+` = $1`, id)
	return pg.Err(err, "allocations")
}
