package matching

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
)

// OrderStatus is the state of an order.
type OrderStatus string

// An order is placed when both sides accept, and delivered when the buyer records the receipt of a lot that
// ships it (on the traceability side).
const (
	OrderPlaced    OrderStatus = "placed"
	OrderDelivered OrderStatus = "delivered"
)

// Order is an allocation both sides accepted: agreed kilograms, price and delivery window. The lots that ship it
// link to it, so the buyer follows the shipment on the traceability page.
type Order struct {
	ID           int64       `json:"id"`
	AllocationID int64       `json:"allocation_id"`
	OfferID      int64       `json:"offer_id"`
	DemandID     int64       `json:"demand_id"`
	BaseOrgID    int64       `json:"base_org_id"`
	BaseName     string      `json:"base_name"`
	BuyerOrgID   int64       `json:"buyer_org_id"`
	BuyerName    string      `json:"buyer_name"`
	Product      string      `json:"product"`
	QuantityKg   int64       `json:"quantity_kg"`
	PricePerKg   Fen         `json:"price_per_kg"`
	Amount       Fen         `json:"amount"` // price × kg
	Origin       string      `json:"origin"`
	Destination  string      `json:"destination"`
	DeliverFrom  time.Time   `json:"deliver_from"`
	DeliverBy    time.Time   `json:"deliver_by"`
	Status       OrderStatus `json:"status"`
	DeliveredAt  *time.Time  `json:"delivered_at"`
	CreatedAt    time.Time   `json:"created_at"`
}

const orderCols = `r.id, r.allocation_id, r.offer_id, r.demand_id, r.base_org_id, coalesce(gb.name, ''), r.buyer_org_id, coalesce(gu.name, ''),
	r.product, r.quantity_kg, r.price_per_kg_fen, r.origin, r.destination, r.deliver_from, r.deliver_by, r.status, r.delivered_at, r.created_at`

const orderFrom = ` FROM orders r` + orderJoins

func scanOrder(r pgx.Row, extra ...any) (Order, error) {
	var o Order
	dst := append([]any{&o.ID, &o.AllocationID, &o.OfferID, &o.DemandID, &o.BaseOrgID, &o.BaseName, &o.BuyerOrgID, &o.BuyerName,
		&o.Product, &o.QuantityKg, &o.PricePerKg, &o.Origin, &o.Destination, &o.DeliverFrom, &o.DeliverBy, &o.Status,
		&o.DeliveredAt, &o.CreatedAt}, extra...)
	err := r.Scan(dst...)
	o.Amount = o.PricePerKg * Fen(o.QuantityKg)
	return o, err
}

func placeOrder(ctx context.Context, tx pgx.Tx, a Allocation) (Order, error) {
	var id int64
	err := tx.QueryRow(ctx, `INSERT INTO orders (allocation_id, offer_id, demand_id, base_org_id, buyer_org_id, product, quantity_kg,
		price_per_kg_fen, origin, destination, deliver_from, deliver_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`,
		a.ID, a.OfferID, a.DemandID, a.BaseOrgID, a.BuyerOrgID, a.Product, a.QuantityKg, int64(a.PricePerKg), a.Origin, a.Destination,
		a.Arrival, a.DeliverBy).Scan(&id)
	if err != nil {
		return Order{}, pg.Err(err, "order")
	}
	if _, err := tx.Exec(ctx, `UPDATE allocations SET status = 'ordered' WHERE id = $1`, a.ID); err != nil {
		return Order{}, pg.Err(err, "allocation")
	}
	return getOrder(ctx, tx, id)
}

func getOrder(ctx context.Context, db pg.DB, id int64) (Order, error) {
	o, err := scanOrder(db.QueryRow(ctx, `SELECT `+orderCols+orderFrom+` WHERE r.id = $1`, id))
	if errs.Is(pg.Err(err, ""), errs.NotFound) {
		return o, notFound("order", id)
	}
	return o, pg.Err(err, "order")
}

// Order returns an order its base, its buyer or staff may see. Errors: NotFound.
func (s *Store) Order(ctx context.Context, p auth.Principal, id int64) (Order, error) {
	o, err := getOrder(ctx, s.db, id)
	if err != nil {
		return Order{}, err
	}
	if !p.Staff() && p.OrgID != o.BaseOrgID && p.OrgID != o.BuyerOrgID {
		return Order{}, notFound("order", id)
	}
	return o, nil
}

// OrderFilter selects orders; empty fields do not filter.
type OrderFilter struct {
	Status OrderStatus
	Page
}

// PageKey is the order's place in Orders' order, newest first.
func (o Order) PageKey() []any { return []any{o.ID} }

const orderJoins = ` LEFT JOIN orgs gb ON gb.id = r.base_org_id LEFT JOIN orgs gu ON gu.id = r.buyer_org_id`

// Orders lists orders, newest first: all for staff, a base's or a buyer's own otherwise.
// Errors: Forbidden (other roles), Invalid (a cursor of another list).
func (s *Store) Orders(ctx context.Context, p auth.Principal, f OrderFilter) ([]Order, int, error) {
	var where []string
	var args []any
	add := func(col string, v any) {
		args = append(args, v)
		where = append(where, "r."+col+" = $"+itoa(len(args)))
	}
	// An organisation is a base or a buyer, never both: its orders are those on its side.
	switch {
	case p.Staff():
	case p.Is(auth.RoleBase):
		add("base_org_id", p.OrgID)
	case p.Is(auth.RoleBuyer):
		add("buyer_org_id", p.OrgID)
	default:
		return nil, 0, forbidden("only bases, buyers and coordinators see orders")
	}
	if f.Status != "" {
		add("status", string(f.Status))
	}
	q := pg.Query{Cols: orderCols, From: "orders r", Joins: orderJoins, Where: where, Args: args, Key: "r.id", Desc: true}
	var after int64
	return pg.List(ctx, s.db, q, f.Page, "orders", func(r pgx.Row, total *int) (Order, error) { return scanOrder(r, total) }, &after)
}

// OrderBuyer returns the buying organisation of an order that the seller (base) supplies; traceability calls
// it when a base links a lot to an order. Errors: NotFound when there is no such order or it is not the seller's.
func (s *Store) OrderBuyer(ctx context.Context, orderID, sellerOrgID int64) (int64, error) {
	var buyer int64
	err := s.db.QueryRow(ctx, `SELECT buyer_org_id FROM orders WHERE id = $1 AND base_org_id = $2`, orderID, sellerOrgID).Scan(&buyer)
	if errs.Is(pg.Err(err, ""), errs.NotFound) {
		return 0, notFound("order", orderID)
	}
	return buyer, pg.Err(err, "order")
}

// MarkOrderDelivered records that an order's goods were received at `at` (the first receipt counts).
// Errors: NotFound.
func (s *Store) MarkOrderDelivered(ctx context.Context, orderID int64, at time.Time) error {
	tag, err := s.db.Exec(ctx, `UPDATE orders SET status = 'delivered', delivered_at = LEAST(coalesce(delivered_at, $2), $2) WHERE id = $1`,
		orderID, at)
	if err == nil && tag.RowsAffected() == 0 {
		return notFound("order", orderID)
	}
	return pg.Err(err, "order")
}

// Totals are the scheme's figures over a period, for the plan's KPIs (task 13).
type Totals struct {
	MatchedKg       int64 `json:"matched_kg"`   // kilograms runs proposed in the period
	OrderedKg       int64 `json:"ordered_kg"`   // kilograms of orders placed in the period
	DeliveredKg     int64 `json:"delivered_kg"` // kilograms of orders delivered in the period
	Orders          int   `json:"orders"`
	DeliveredOrders int   `json:"delivered_orders"`
	Runs            int   `json:"runs"`
}

// Totals sums matching's figures over [from, to); a zero bound is open.
func (s *Store) Totals(ctx context.Context, from, to time.Time) (Totals, error) {
	var lo, hi *time.Time
	if !from.IsZero() {
		lo = &from
	}
	if !to.IsZero() {
		hi = &to
	}
	var t Totals
	err := s.db.QueryRow(ctx, `SELECT
		(SELECT coalesce(sum(a.quantity_kg), 0)::bigint FROM allocations a JOIN matching_runs m ON m.id = a.run_id
			WHERE ($1::timestamptz IS NULL OR m.started_at >= $1) AND ($2::timestamptz IS NULL OR m.started_at < $2)),
		(SELECT count(*) FROM matching_runs m WHERE ($1::timestamptz IS NULL OR m.started_at >= $1) AND ($2::timestamptz IS NULL OR m.started_at < $2)),
		(SELECT coalesce(sum(quantity_kg), 0)::bigint FROM orders
			WHERE ($1::timestamptz IS NULL OR created_at >= $1) AND ($2::timestamptz IS NULL OR created_at < $2)),
		(SELECT count(*) FROM orders WHERE ($1::timestamptz IS NULL OR created_at >= $1) AND ($2::timestamptz IS NULL OR created_at < $2)),
		(SELECT coalesce(sum(quantity_kg), 0)::bigint FROM orders WHERE delivered_at IS NOT NULL
			AND ($1::timestamptz IS NULL OR delivered_at >= $1) AND ($2::timestamptz IS NULL OR delivered_at < $2)),
		(SELECT count(*) FROM orders WHERE delivered_at IS NOT NULL
			AND ($1::timestamptz IS NULL OR delivered_at >= $1) AND ($2::timestamptz IS NULL OR delivered_at < $2))`,
		lo, hi).Scan(&t.MatchedKg, &t.Runs, &t.OrderedKg, &t.Orders, &t.DeliveredKg, &t.DeliveredOrders)
	return t, pg.Err(err, "matching totals")
}
