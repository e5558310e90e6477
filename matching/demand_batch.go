package matching

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/suilong/suilong/internal/pg"
)

// demandBatch writes the demands posted at the same moment in one statement (group commit): under load the
// round trip, the statement's planning and the commit are paid once for many demands instead of once each,
// and at rest a demand waits for nobody (a lone caller writes its own batch of one at once).
//
// One caller at a time leads (demandWriters): it writes itself and what is queued, then hands the lead to the
// first caller that queued meanwhile. A caller queues only while the writer is busy, so a queued caller waits
// at most for one batch and then writes its own, and one connection of the pool writes demands.
type demandBatch struct {
	mu      sync.Mutex
	queue   []*demandCall // callers waiting; non-empty only while writers == demandWriters
	writers int
}

// demandWriters is how many batches may be written at once. One measured best (make bench-api, POST /demands
// at 32 connections: 0.93 of pgbench's INSERT rate with one writer, 0.94 with two and 0.76 with four, which
// write smaller batches; at 8 connections 0.48, 0.41 and 0.33).
const demandWriters = 1

type demandCall struct {
	d    Demand
	now  time.Time
	out  Demand
	err  error
	done chan struct{} // closed once out and err are set
	lead chan struct{} // closed when this call, taken off the queue, is to write the next batch
}

// maxDemandBatch bounds one statement's rows (and so its arrays' size and the time the leader holds the lead).
const maxDemandBatch = 256

// errNotWritten is a demand the batch's statement did not write: its product is gone, or its round closed
// between the caller's checks and the write. The caller finds out which (notWritten).
var errNotWritten = errors.New("demand not written")

// insertDemand writes d (validated) as CreateDemand's one statement would, batched with whatever other demands
// are being posted now.
func (s *Store) insertDemand(ctx context.Context, d Demand) (Demand, error) {
	b := &s.demands
	c := &demandCall{d: d, now: s.Now(), done: make(chan struct{}), lead: make(chan struct{})}
	b.mu.Lock()
	leads := b.writers < demandWriters
	if leads {
		b.writers++
	} else {
		b.queue = append(b.queue, c)
	}
	b.mu.Unlock()
	if !leads {
		select {
		case <-c.done: // a leader wrote it
			return c.out, c.err
		case <-c.lead: // taken off the queue to lead
		}
	}
	// This call leads: it writes itself and what is queued, then passes the lead to the next queued caller.
	b.mu.Lock()
	n := min(len(b.queue), maxDemandBatch-1)
	batch := append([]*demandCall{c}, b.queue[:n]...)
	b.queue = append(b.queue[:0:0], b.queue[n:]...)
	b.mu.Unlock()
	// The batch carries other callers' demands: one client going away must not fail theirs.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	s.writeDemands(wctx, batch)
	cancel()
	b.mu.Lock()
	if len(b.queue) > 0 {
		next := b.queue[0]
		b.queue = append(b.queue[:0:0], b.queue[1:]...)
		close(next.lead)
	} else {
		b.writers--
	}
	b.mu.Unlock()
	return c.out, c.err
}

// writeDemands writes a batch in one statement and answers each call. A statement refused for one row's data
// (which validation makes a bug, but must not cost the other callers their demands) is retried row by row.
func (s *Store) writeDemands(ctx context.Context, batch []*demandCall) {
	defer func() {
		for _, c := range batch {
			close(c.done)
		}
	}()
	if len(batch) == 1 { // alone: the one-row statement, lighter than unpacking arrays
		c := batch[0]
		c.out, c.err = s.writeDemand(ctx, c)
		return
	}
	if err := s.writeDemandRows(ctx, batch); err != nil {
		var pe *pgconn.PgError
		if len(batch) > 1 && errors.As(err, &pe) && (strings.HasPrefix(pe.Code, "22") || strings.HasPrefix(pe.Code, "23")) {
			for _, c := range batch {
				c.out, c.err = s.writeDemand(ctx, c)
			}
			return
		}
		for _, c := range batch {
			c.err = pg.Err(err, "demand")
		}
	}
}

// writeDemand writes one demand in the one-row statement: written only for a known product and, for a round's
// demand, while the round takes records; the row comes back whole (a new demand holds no allocations).
func (s *Store) writeDemand(ctx context.Context, c *demandCall) (Demand, error) {
	d := c.d
	out, err := scanDemand(s.db.QueryRow(ctx, `WITH d AS (INSERT INTO demands (org_id, product, min_grade, quantity_kg, max_price_fen,
			destination, deliver_by, required_certifications, note, require_inspection, round_id)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 WHERE EXISTS (SELECT 1 FROM products WHERE name = $2) AND `+roundStillOpen(11, 12)+`
		RETURNING *)
		SELECT `+demandCols+` FROM d LEFT JOIN orgs g ON g.id = d.org_id, (VALUES (0::bigint, 0::bigint)) h (proposed, ordered)`,
		d.OrgID, d.Product, d.MinGrade, d.QuantityKg, int64(d.MaxPricePerKg), d.Destination, d.DeliverBy, d.RequiredCertifications, d.Note,
		d.RequireInspection, d.RoundID, c.now))
	if errors.Is(err, pgx.ErrNoRows) {
		return Demand{}, errNotWritten
	}
	return out, pg.Err(err, "demand")
}

// writeDemandRows is the batch's statement, the one-row statement's for many rows: each row is written only for a known product and, for a round's demand,
// while that round takes records (checked against the round's row, shared-locked, as CreateOffer does); the
// rows come back whole (a new demand holds no allocations), each with its place in the batch. The ids are
// drawn from the table's own sequence first, so that each written row can be told back to its caller.
func (s *Store) writeDemandRows(ctx context.Context, batch []*demandCall) error {
	n := len(batch)
	org, qty, price, round := make([]int64, n), make([]int64, n), make([]int64, n), make([]*int64, n)
	grade := make([]int16, n)
	product, dest, certs, note := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	by := make([]time.Time, n)
	inspect := make([]bool, n)
	for i, c := range batch {
		d := c.d
		org[i], product[i], grade[i], qty[i], price[i] = d.OrgID, d.Product, int16(d.MinGrade), d.QuantityKg, int64(d.MaxPricePerKg)
		dest[i], by[i], note[i], inspect[i], round[i] = d.Destination, d.DeliverBy, d.Note, d.RequireInspection, d.RoundID
		// Certification codes are slugs (no commas), checked before a demand gets here.
		certs[i] = strings.Join(d.RequiredCertifications, ",")
		c.err = errNotWritten
	}
	rows, err := s.db.Query(ctx, `WITH input AS MATERIALIZED (
			SELECT t.*, nextval(pg_get_serial_sequence('demands', 'id')) AS new_id
			FROM unnest($1::bigint[], $2::text[], $3::smallint[], $4::bigint[], $5::bigint[], $6::text[], $7::timestamptz[],
				$8::text[], $9::text[], $10::boolean[], $11::bigint[])
				WITH ORDINALITY AS t (org_id, product, min_grade, quantity_kg, max_price_fen, destination, deliver_by, certs, note,
					require_inspection, round_id, ord)),
		d AS (INSERT INTO demands (id, org_id, product, min_grade, quantity_kg, max_price_fen, destination, deliver_by,
				required_certifications, note, require_inspection, round_id) OVERRIDING SYSTEM VALUE
			SELECT i.new_id, i.org_id, i.product, i.min_grade, i.quantity_kg, i.max_price_fen, i.destination, i.deliver_by,
				string_to_array(i.certs, ','), i.note, i.require_inspection, i.round_id
			FROM input i
			WHERE EXISTS (SELECT 1 FROM products WHERE name = i.product)
				AND (i.round_id IS NULL OR EXISTS (SELECT 1 FROM rounds r WHERE r.id = i.round_id AND r.status = 'open'
					AND r.opens_at <= $12 AND r.closes_at > $12 FOR SHARE))
			ORDER BY i.ord
			RETURNING *)
		SELECT `+demandCols+`, i.ord FROM d JOIN input i ON i.new_id = d.id LEFT JOIN orgs g ON g.id = d.org_id,
			(VALUES (0::bigint, 0::bigint)) h (proposed, ordered)`,
		org, product, grade, qty, price, dest, by, certs, note, inspect, round, batch[0].now)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var ord int64
		d, err := scanDemand(rows, &ord)
		if err != nil {
			return err
		}
		if ord >= 1 && ord <= int64(n) {
			c := batch[ord-1]
			c.out, c.err = d, nil
		}
	}
	return rows.Err()
}
