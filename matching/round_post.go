package matching

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
)

// Offers and demands posted into a round: the checks of CreateOffer, CreateDemand and UpdateDemand.

// roundStillOpen is the condition, inside an INSERT's SELECT, that the round named by parameter idParam (or
// none) takes records at the time of parameter nowParam. FOR SHARE makes the close's claim of the round (an
// UPDATE) wait for the insert or the insert see the claim: a record never lands in a round whose run has read
// its pool.
func roundStillOpen(idParam, nowParam int) string {
	id, now := "$"+itoa(idParam)+"::bigint", "$"+itoa(nowParam)+"::timestamptz"
	return `(` + id + ` IS NULL OR EXISTS (SELECT 1 FROM rounds r WHERE r.id = ` + id + ` AND r.status = 'open'
		AND r.opens_at <= ` + now + ` AND r.closes_at > ` + now + ` FOR SHARE))`
}

// acceptingRound reads the round id names for a record posted now. A round that does not exist, has not opened
// or has closed is a fault of the field round_id.
func (s *Store) acceptingRound(ctx context.Context, fe *errs.FieldErrors, id *int64) (*Round, error) {
	if id == nil {
		return nil, nil
	}
	r, err := s.getRound(ctx, s.db, *id, false)
	if errs.Is(err, errs.NotFound) {
		fe.Add("round_id", "no trading round %d (see GET /api/v1/rounds)", *id)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	now := s.Now()
	switch {
	case r.Status == RoundCancelled:
		fe.Add("round_id", "round %d was cancelled", r.ID)
	case r.Status == RoundClosed || !now.Before(r.ClosesAt):
		fe.Add("round_id", "round %d closed at %s", r.ID, r.ClosesAt.Format(time.RFC3339))
	case now.Before(r.OpensAt):
		fe.Add("round_id", "round %d opens at %s", r.ID, r.OpensAt.Format(time.RFC3339))
	default:
		return &r, nil
	}
	return nil, nil
}

// fitsRound checks a record posted into round id (nil: none): the round takes records now, and takes its
// product and (for a demand) its destination.
func (s *Store) fitsRound(ctx context.Context, fe *errs.FieldErrors, id *int64, product, destination string) error {
	r, err := s.acceptingRound(ctx, fe, id)
	if r == nil || err != nil {
		return err
	}
	if len(r.Products) > 0 && slug.MatchString(product) && !slices.Contains(r.Products, product) {
		fe.Add("product", "round %d takes only %s", r.ID, strings.Join(r.Products, ", "))
	}
	if destination != "" && len(r.Destinations) > 0 && slug.MatchString(destination) && !slices.Contains(r.Destinations, destination) {
		fe.Add("destination", "round %d delivers only to %s", r.ID, strings.Join(r.Destinations, ", "))
	}
	return nil
}

// roundDelivery checks a demand posted into a round and gives it the round's deliver_by when it names none: a
// demand of a round is delivered within the round's window.
func (s *Store) roundDelivery(ctx context.Context, fe *errs.FieldErrors, d *Demand, given bool) error {
	if d.RoundID == nil {
		return nil
	}
	if err := s.fitsRound(ctx, fe, d.RoundID, d.Product, d.Destination); err != nil {
		return err
	}
	r, err := s.getRound(ctx, s.db, *d.RoundID, false)
	if err != nil {
		return nil // fitsRound reported it
	}
	if !given {
		d.DeliverBy = r.DeliverBy
	} else if d.DeliverBy.Before(r.DeliverFrom) || d.DeliverBy.After(r.DeliverBy) {
		fe.Add("deliver_by", "must be within round %d's delivery window, %s to %s", r.ID, r.DeliverFrom.Format(time.RFC3339),
			r.DeliverBy.Format(time.RFC3339))
	}
	return nil
}

// roundTerms checks a changed demand of a round against it: the destination is one the round delivers to and
// deliver_by lies in its window. A round that has closed still holds its demands for follow-up runs, so it is
// not asked to be open.
func (s *Store) roundTerms(ctx context.Context, db pg.DB, d Demand) error {
	if d.RoundID == nil {
		return nil
	}
	r, err := s.getRound(ctx, db, *d.RoundID, false)
	if err != nil {
		return err
	}
	var fe errs.FieldErrors
	if len(r.Destinations) > 0 && !slices.Contains(r.Destinations, d.Destination) {
		fe.Add("destination", "round %d delivers only to %s", r.ID, strings.Join(r.Destinations, ", "))
	}
	if d.DeliverBy.Before(r.DeliverFrom) || d.DeliverBy.After(r.DeliverBy) {
		fe.Add("deliver_by", "must be within round %d's delivery window, %s to %s", r.ID, r.DeliverFrom.Format(time.RFC3339),
			r.DeliverBy.Format(time.RFC3339))
	}
	return fe.Err()
}

// notWritten explains an INSERT of an offer or demand that wrote nothing: its product is gone, or its round
// closed between the checks and the write.
func (s *Store) notWritten(ctx context.Context, product string, round *int64) error {
	var fe errs.FieldErrors
	if _, err := s.acceptingRound(ctx, &fe, round); err != nil {
		return err
	}
	if len(fe) == 0 {
		fe.Add("product", "unknown product %q (see GET /api/v1/products)", product)
	}
	return fe.Err()
}
