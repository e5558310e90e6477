package trace

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
)

// legRef is a leg found by a recall.
type legRef struct {
	Leg
	LotID int64
}

// legsOverlapping returns the legs in the asset that overlap [from, to) (lot_legs_asset_idx).
func (s *Store) legsOverlapping(ctx context.Context, asset string, from, to time.Time) ([]legRef, error) {
	rows, err := s.db.Query(ctx, `SELECT lot_id, from_at, to_at FROM lot_legs
		WHERE asset_id = $1 AND from_at < $3 AND (to_at IS NULL OR to_at > $2) ORDER BY from_at, lot_id`, asset, from, to)
	if err != nil {
		return nil, pg.Err(err, "legs in asset")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (legRef, error) {
		g := legRef{Leg: Leg{AssetID: asset}}
		var end *time.Time
		err := r.Scan(&g.LotID, &g.From, &end)
		if end != nil {
			g.To = *end
		} else {
			g.Open = true
		}
		return g, err
	})
	return out, pg.Err(err, "legs in asset")
}

// recallLots fills in what the recall says of each lot: origin, state and holder.
func (s *Store) recallLots(ctx context.Context, ids []int64, into map[int64]*RecallLot) error {
	if len(ids) == 0 {
		return nil
	}
	rows, err := s.db.Query(ctx, `SELECT l.id, l.code, l.product, l.product_zh, l.quantity_kg, l.org_id, coalesce(o.name, ''), l.base_name,
		l.county, l.harvested_at, l.order_id, l.buyer_org_id, coalesce(b.name, ''), l.delivered_at, coalesce(r.location, ''),
		coalesce(g.state, '')
		FROM lots l LEFT JOIN orgs o ON o.id = l.org_id LEFT JOIN orgs b ON b.id = l.buyer_org_id
		LEFT JOIN LATERAL (SELECT location FROM lot_events e WHERE e.lot_id = l.id AND e.kind = 'receive' LIMIT 1) r ON true
		LEFT JOIN LATERAL (SELECT CASE WHEN to_at IS NULL THEN 'in_asset' ELSE 'between' END AS state FROM lot_legs x
			WHERE x.lot_id = l.id ORDER BY seq DESC LIMIT 1) g ON true
		WHERE l.id = ANY($1)`, ids)
	if err != nil {
		return pg.Err(err, "lots of recall")
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var x RecallLot
		var state string
		if err := rows.Scan(&id, &x.Code, &x.Product, &x.ProductZH, &x.Kg, &x.BaseOrgID, &x.Base, &x.BaseSite, &x.County, &x.HarvestedAt,
			&x.Holder.OrderID, &x.Holder.BuyerOrgID, &x.Holder.Buyer, &x.Holder.ReceivedAt, &x.Holder.Market, &state); err != nil {
			return pg.Err(err, "lots of recall")
		}
		rl := into[id]
		x.LotID, x.Origin, x.Exposures, x.Holder.Kg = id, rl.Origin, rl.Exposures, x.Kg
		switch {
		case x.Holder.ReceivedAt != nil:
			x.State = Delivered
		case state == "":
			x.State = AtBase
		default:
			x.State = State(state)
		}
		if x.Exposures == nil {
			x.Exposures = []Exposure{}
		}
		*rl = x
	}
	return pg.Err(rows.Err(), "lots of recall")
}

// CreateRecall stores a recall with its lots, holders and first action, and returns its id.
func (s *Store) CreateRecall(ctx context.Context, r *Recall) (int64, error) {
	var id int64
	err := pg.WithTx(ctx, s.db, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO recalls (source, lot_code, asset_id, alarm_id, from_at, to_at, reason, status, org_id, created_by)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) RETURNING id, created_at`, r.Source, r.LotCode, r.AssetID, r.AlarmID, r.From, r.To,
			r.Reason, r.Status, nullID(r.OrgID), r.CreatedBy).Scan(&id, &r.CreatedAt); err != nil {
			return pg.Err(err, "recall")
		}
		rows := make([][]any, len(r.Lots))
		for i, l := range r.Lots {
			doc, err := json.Marshal(l)
			if err != nil {
				return err
			}
			rows[i] = []any{id, l.LotID, doc}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"recall_lots"}, []string{"recall_id", "lot_id", "doc"}, pgx.CopyFromRows(rows)); err != nil {
			return pg.Err(err, "recall lots")
		}
		if err := putHolders(ctx, tx, id, r.Holders); err != nil {
			return err
		}
		for _, a := range r.Actions {
			if err := addAction(ctx, tx, id, a); err != nil {
				return err
			}
		}
		return nil
	})
	return id, err
}

func nullID(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

func putHolders(ctx context.Context, db pg.DB, id int64, hs []RecallHolder) error {
	if _, err := db.Exec(ctx, `DELETE FROM recall_holders WHERE recall_id = $1`, id); err != nil {
		return pg.Err(err, "recall holders")
	}
	for _, h := range hs {
		doc, err := json.Marshal(h)
		if err != nil {
			return err
		}
		if _, err := db.Exec(ctx, `INSERT INTO recall_holders (recall_id, org_id, doc) VALUES ($1, $2, $3)`, id, h.OrgID, doc); err != nil {
			return pg.Err(err, "recall holder")
		}
	}
	return nil
}

func (s *Store) setHolders(ctx context.Context, id int64, hs []RecallHolder) error {
	return pg.WithTx(ctx, s.db, func(tx pgx.Tx) error { return putHolders(ctx, tx, id, hs) })
}

func addAction(ctx context.Context, db pg.DB, id int64, a RecallAction) error {
	_, err := db.Exec(ctx, `INSERT INTO recall_actions (recall_id, at, actor, action, note) VALUES ($1, $2, $3, $4, $5)`, id, a.At, a.Actor, a.Action, a.Note)
	return pg.Err(err, "recall action")
}

func (s *Store) addRecallAction(ctx context.Context, id int64, a RecallAction) error {
	return addAction(ctx, s.db, id, a)
}

// setRecallStatus moves the recall to status from the one before it, with the action; false when it was not
// in the status before (someone else moved it).
func (s *Store) setRecallStatus(ctx context.Context, id int64, to RecallStatus, a RecallAction) (bool, error) {
	from := map[RecallStatus]RecallStatus{RecallNotified: RecallOpen, RecallClosed: RecallNotified}[to]
	ok := false
	err := pg.WithTx(ctx, s.db, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE recalls SET status = $2, updated_at = $4,
			closed_at = CASE WHEN $2 = 'closed' THEN $4 ELSE closed_at END WHERE id = $1 AND status = $3`, id, to, from, a.At)
		if err != nil {
			return pg.Err(err, "recall")
		}
		if ok = tag.RowsAffected() == 1; !ok {
			return nil
		}
		return addAction(ctx, tx, id, a)
	})
	return ok, err
}

const recallCols = `r.id, r.source, r.lot_code, r.asset_id, r.alarm_id, r.from_at, r.to_at, r.reason, r.status, coalesce(r.org_id, 0),
	r.created_by, r.created_at, r.updated_at, r.closed_at`

func scanRecall(row pgx.Row, extra ...any) (Recall, error) {
	var r Recall
	err := row.Scan(append([]any{&r.ID, &r.Source, &r.LotCode, &r.AssetID, &r.AlarmID, &r.From, &r.To, &r.Reason, &r.Status, &r.OrgID,
		&r.CreatedBy, &r.CreatedAt, &r.UpdatedAt, &r.ClosedAt}, extra...)...)
	return r, err
}

// Recall returns a recall with its lots, holders and actions. Errors: NotFound.
func (s *Store) Recall(ctx context.Context, id int64) (Recall, error) {
	r, err := scanRecall(s.db.QueryRow(ctx, `SELECT `+recallCols+` FROM recalls r WHERE r.id = $1`, id))
	if err != nil {
		if errs.Is(pg.Err(err, ""), errs.NotFound) {
			return Recall{}, errs.E(errs.NotFound, "recall not found")
		}
		return Recall{}, pg.Err(err, "recall")
	}
	if err := s.recallDetails(ctx, &r); err != nil {
		return Recall{}, err
	}
	return r, nil
}

func (s *Store) recallDetails(ctx context.Context, r *Recall) error {
	docs := func(q string, each func([]byte) error) error {
		rows, err := s.db.Query(ctx, q, r.ID)
		if err != nil {
			return pg.Err(err, "recall")
		}
		defer rows.Close()
		for rows.Next() {
			var b []byte
			if err := rows.Scan(&b); err != nil {
				return pg.Err(err, "recall")
			}
			if err := each(b); err != nil {
				return err
			}
		}
		return pg.Err(rows.Err(), "recall")
	}
	r.Lots, r.Holders, r.Actions = []RecallLot{}, []RecallHolder{}, []RecallAction{}
	if err := docs(`SELECT doc FROM recall_lots WHERE recall_id = $1 ORDER BY (doc->>'origin') IS NULL, lot_id`, func(b []byte) error {
		var l RecallLot
		err := json.Unmarshal(b, &l)
		r.Lots = append(r.Lots, l)
		return err
	}); err != nil {
		return err
	}
	if err := docs(`SELECT doc FROM recall_holders WHERE recall_id = $1 ORDER BY org_id`, func(b []byte) error {
		var h RecallHolder
		err := json.Unmarshal(b, &h)
		r.Holders = append(r.Holders, h)
		return err
	}); err != nil {
		return err
	}
	rows, err := s.db.Query(ctx, `SELECT at, actor, action, note FROM recall_actions WHERE recall_id = $1 ORDER BY id`, r.ID)
	if err != nil {
		return pg.Err(err, "recall actions")
	}
	r.Actions, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (RecallAction, error) {
		var a RecallAction
		err := row.Scan(&a.At, &a.Actor, &a.Action, &a.Note)
		return a, err
	})
	return pg.Err(err, "recall actions")
}

// Recalls lists recalls, newest first, with their details (for the page's recalls only) and the total count (up
// to pg.CountCap). Errors: Invalid (a cursor of another list).
func (s *Store) Recalls(ctx context.Context, f RecallFilter) ([]Recall, int, error) {
	where, args := []string{"true"}, []any{}
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	if f.OrgID != nil {
		where = append(where, "r.org_id = "+arg(*f.OrgID))
	}
	if f.Status != "" {
		where = append(where, "r.status = "+arg(string(f.Status)))
	}
	q := pg.Query{Cols: recallCols, From: "recalls r", Where: where, Args: args, Key: "r.id", Desc: true}
	var after int64
	out, total, err := pg.List(ctx, s.db, q, pg.Page{Limit: f.Limit, Offset: f.Offset, After: f.After}, "recalls",
		func(r pgx.Row, total *int) (Recall, error) { return scanRecall(r, total) }, &after)
	if err != nil {
		return nil, 0, err
	}
	for i := range out {
		if err := s.recallDetails(ctx, &out[i]); err != nil {
			return nil, 0, err
		}
	}
	return out, total, nil
}
