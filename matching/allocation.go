package matching

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
)

// AllocStatus is the state of an allocation.
type AllocStatus string

// The states of an allocation: proposed by a run and waiting for both sides; ordered when both accepted;
// declined when either said no; withdrawn when its offer or demand was withdrawn or changed first. Proposed and
// ordered allocations hold their kilograms; declined and withdrawn ones return them to the pool.
const (
	AllocProposed  AllocStatus = "proposed"
	AllocOrdered   AllocStatus = "ordered"
	AllocDeclined  AllocStatus = "declined"
	AllocWithdrawn AllocStatus = "withdrawn"
	AllocLapsed    AllocStatus = "lapsed" // still proposed at its run's answer deadline (a round's answer_by)
)

// Decision is one side's answer to an allocation.
type Decision string

// The answers.
const (
	Accepted Decision = "accepted"
	Declined Decision = "declined"
)

// Allocation is kilograms of one offer proposed for one demand by a run, at a price. The other side's
// reservation price and the surplus are fields for staff only. The price itself discloses them in part, as any
// split of the gap must: under midpoint a party who knows its own price and the lane's cost can work out the
// other's to the fen, under offer_price the buyer learns the base's floor, under demand_price the base the
// buyer's ceiling. docs/matching.md says so to the users.
type Allocation struct {
	ID            int64       `json:"id"`
	RunID         int64       `json:"run_id"`
	OfferID       int64       `json:"offer_id"`
	DemandID      int64       `json:"demand_id"`
	BaseOrgID     int64       `json:"base_org_id"`
	BaseName      string      `json:"base_name"`
	BuyerOrgID    int64       `json:"buyer_org_id"`
	BuyerName     string      `json:"buyer_name"`
	Product       string      `json:"product"`
	Grade         int         `json:"grade"`
	QuantityKg    int64       `json:"quantity_kg"`
	PricePerKg    Fen         `json:"price_per_kg"` // delivered at the buyer's market
	LaneCostPerKg Fen         `json:"lane_cost_per_kg"`
	Origin        string      `json:"origin"`
	Destination   string      `json:"destination"`
	Arrival       time.Time   `json:"arrival"` // earliest arrival: available_from + transit
	DeliverBy     time.Time   `json:"deliver_by"`
	Status        AllocStatus `json:"status"`
	BaseDecision  *Decision   `json:"base_decision"`
	BuyerDecision *Decision   `json:"buyer_decision"`
	OrderID       *int64      `json:"order_id,omitempty"`
	// AnswerBy is when both sides' answers are due (a trading round's run); past it the allocation lapses.
	// Nil: the run has no deadline (the open pool's).
	AnswerBy      *time.Time `json:"answer_by,omitempty"`
	SurplusPerKg  *Fen       `json:"surplus_per_kg,omitempty"`
	MinPricePerKg *Fen       `json:"min_price_per_kg,omitempty"`
	MaxPricePerKg *Fen       `json:"max_price_per_kg,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
}

// redact hides what p may not see of an allocation it is party to.
func (a *Allocation) redact(p auth.Principal) {
	if p.Staff() {
		return
	}
	a.SurplusPerKg = nil
	if p.OrgID != a.BaseOrgID {
		a.MinPricePerKg = nil
	}
	if p.OrgID != a.BuyerOrgID {
		a.MaxPricePerKg = nil
	}
}

const allocCols = `a.id, a.run_id, a.offer_id, a.demand_id, o.org_id, coalesce(gb.name, ''), d.org_id, coalesce(gu.name, ''), o.product,
	o.grade, a.quantity_kg, a.price_per_kg_fen, a.lane_cost_fen, o.origin, d.destination, a.arrival, a.deliver_by, a.status,
	a.base_decision, a.buyer_decision, r.id, a.surplus_per_kg_fen, o.min_price_fen, d.max_price_fen, a.created_at, mr.answer_by`

const allocFrom = ` FROM allocations a` + allocJoins

func scanAlloc(r pgx.Row, extra ...any) (Allocation, error) {
	var a Allocation
	var surplus, minP, maxP Fen
	dst := append([]any{&a.ID, &a.RunID, &a.OfferID, &a.DemandID, &a.BaseOrgID, &a.BaseName, &a.BuyerOrgID, &a.BuyerName, &a.Product,
		&a.Grade, &a.QuantityKg, &a.PricePerKg, &a.LaneCostPerKg, &a.Origin, &a.Destination, &a.Arrival, &a.DeliverBy, &a.Status,
		&a.BaseDecision, &a.BuyerDecision, &a.OrderID, &surplus, &minP, &maxP, &a.CreatedAt, &a.AnswerBy}, extra...)
	err := r.Scan(dst...)
	a.SurplusPerKg, a.MinPricePerKg, a.MaxPricePerKg = &surplus, &minP, &maxP
	return a, err
}

// AllocationFilter selects allocations; nil fields do not filter.
type AllocationFilter struct {
	RunID  *int64
	Status AllocStatus
	Page
}

// PageKey is the allocation's place in Allocations' order, oldest first.
func (a Allocation) PageKey() []any { return []any{a.ID} }

// allocJoins are allocFrom's joins.
const allocJoins = ` JOIN offers o ON o.id = a.offer_id JOIN demands d ON d.id = a.demand_id
	LEFT JOIN orgs gb ON gb.id = o.org_id LEFT JOIN orgs gu ON gu.id = d.org_id LEFT JOIN orders r ON r.allocation_id = a.id
	JOIN matching_runs mr ON mr.id = a.run_id`

// Allocations lists allocations, oldest first: all of them for staff, those of its offers for a base, of its
// demands for a buyer. Errors: Forbidden (other roles), Invalid (a cursor of another list).
func (s *Store) Allocations(ctx context.Context, p auth.Principal, f AllocationFilter) ([]Allocation, int, error) {
	var where []string
	var args []any
	add := func(col string, v any) {
		args = append(args, v)
		where = append(where, "a."+col+" = $"+itoa(len(args)))
	}
	switch {
	case p.Staff():
	case p.Role == auth.RoleBase:
		add("base_org_id", p.OrgID)
	case p.Role == auth.RoleBuyer:
		add("buyer_org_id", p.OrgID)
	default:
		return nil, 0, forbidden("only bases, buyers and coordinators see allocations")
	}
	if f.RunID != nil {
		add("run_id", *f.RunID)
	}
	if f.Status != "" {
		add("status", string(f.Status))
	}
	q := pg.Query{Cols: allocCols, From: "allocations a", Joins: allocJoins, Where: where, Args: args, Key: "a.id"}
	var after int64
	return pg.List(ctx, s.db, q, f.Page, "allocations", func(r pgx.Row, total *int) (Allocation, error) {
		a, err := scanAlloc(r, total)
		a.redact(p)
		return a, err
	}, &after)
}

// Allocation returns one allocation the caller is party to (or any, for staff). Errors: NotFound.
func (s *Store) Allocation(ctx context.Context, p auth.Principal, id int64) (Allocation, error) {
	a, err := getAlloc(ctx, s.db, id, false)
	if err != nil {
		return Allocation{}, err
	}
	if !p.Staff() && p.OrgID != a.BaseOrgID && p.OrgID != a.BuyerOrgID {
		return Allocation{}, notFound("allocation", id)
	}
	a.redact(p)
	return a, nil
}

// getAlloc reads an allocation. With lock it first locks the allocation's offer, then its demand, then the
// allocation itself: the order runs and changes of offers and demands take their locks in, so none of them
// deadlock with an answer.
func getAlloc(ctx context.Context, db pg.DB, id int64, lock bool) (Allocation, error) {
	if lock {
		var offerID, demandID int64
		if err := db.QueryRow(ctx, `SELECT offer_id, demand_id FROM allocations WHERE id = $1`, id).Scan(&offerID, &demandID); err != nil {
			return Allocation{}, notFoundAs(pg.Err(err, ""), "allocation", id)
		}
		for _, q := range []struct {
			sql string
			id  int64
		}{{`SELECT 1 FROM offers WHERE id = $1 FOR UPDATE`, offerID}, {`SELECT 1 FROM demands WHERE id = $1 FOR UPDATE`, demandID},
			{`SELECT 1 FROM allocations WHERE id = $1 FOR UPDATE`, id}} {
			if err := lockRow(ctx, db, q.sql, q.id); err != nil {
				return Allocation{}, notFoundAs(err, "allocation", id)
			}
		}
	}
	a, err := scanAlloc(db.QueryRow(ctx, `SELECT `+allocCols+allocFrom+` WHERE a.id = $1`, id))
	if errs.Is(pg.Err(err, ""), errs.NotFound) {
		return a, notFound("allocation", id)
	}
	return a, pg.Err(err, "allocation")
}

// Decide records the caller's answer to an allocation it is party to: the base of its offer or the buyer of its
// demand. A decline ends the allocation and returns its kilograms to the pool; when both sides have accepted,
// the allocation becomes an order (returned too). Answering the same way twice is harmless.
// Errors: NotFound (not a party), Forbidden (staff cannot answer for a party), Conflict (the allocation is no
// longer proposed, or the caller already answered otherwise).
func (s *Store) Decide(ctx context.Context, p auth.Principal, id int64, d Decision) (Allocation, *Order, error) {
	var order *Order
	err := pg.WithTx(ctx, s.db, func(tx pgx.Tx) error {
		a, err := getAlloc(ctx, tx, id, true)
		if err != nil {
			return err
		}
		side := ""
		switch p.OrgID {
		case a.BaseOrgID:
			side = "base"
		case a.BuyerOrgID:
			side = "buyer"
		}
		if side == "" {
			if p.Staff() {
				return forbidden("only the base and the buyer of an allocation accept or decline it")
			}
			return notFound("allocation", id)
		}
		mine := a.BaseDecision
		if side == "buyer" {
			mine = a.BuyerDecision
		}
		if mine != nil {
			if *mine == d {
				return nil
			}
			return errs.E(errs.Conflict, "allocation %d: you have already %s it", id, *mine)
		}
		if a.Status == AllocProposed {
			late, err := s.lapsedNow(ctx, tx, a)
			if err != nil {
				return err
			}
			if late {
				return errs.E(errs.Conflict, "allocation %d: its answer deadline has passed; it has lapsed", id)
			}
		}
		if a.Status != AllocProposed {
			return errs.E(errs.Conflict, "allocation %d is %s; it can no longer be answered", id, a.Status)
		}
		now := s.Now()
		if _, err := tx.Exec(ctx, `UPDATE allocations SET `+side+`_decision = $2, `+side+`_decided_at = $3 WHERE id = $1`,
			id, string(d), now); err != nil {
			return pg.Err(err, "allocation")
		}
		s.m.decisions.WithLabelValues(side, string(d)).Inc()
		if d == Declined {
			_, err := tx.Exec(ctx, `UPDATE allocations SET status = 'declined' WHERE id = $1`, id)
			return pg.Err(err, "allocation")
		}
		other := a.BuyerDecision
		if side == "buyer" {
			other = a.BaseDecision
		}
		if other == nil || *other != Accepted {
			return nil
		}
		o, err := placeOrder(ctx, tx, a)
		if err != nil {
			return err
		}
		order = &o
		s.m.orders.Inc()
		s.m.orderedKg.Add(float64(a.QuantityKg))
		return nil
	})
	if err != nil {
		return Allocation{}, nil, err
	}
	a, err := s.Allocation(ctx, p, id)
	return a, order, err
}
