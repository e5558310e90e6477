package matching

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/matching/solve"
)

// Lots is what matching needs of traceability's lots (answered by an adapter in cmd/suilong): whose a lot is,
// to check an offer naming it, and the latest inspections of the lots a run's offers name.
type Lots interface {
	// LotOwner returns the organisation and product of a lot. Errors: NotFound.
	LotOwner(ctx context.Context, id int64) (orgID int64, product string, err error)
	// LotInspections returns, for each lot of ids that exists, its code and the result of its latest
	// inspection ("pass", "fail", or "" for none).
	LotInspections(ctx context.Context, ids []int64) (map[int64]LotInspection, error)
}

// LotInspection is a lot's public code and its latest inspection result.
type LotInspection struct {
	Code   string
	Result string
}

// checkLot adds a field error unless lot (when named) is one of the caller's base's lots of the offer's
// product. Without Lots, a named lot is refused: nothing could check it.
func (s *Store) checkLot(ctx context.Context, p auth.Principal, fe *errs.FieldErrors, lot *int64, product string) error {
	if lot == nil {
		return nil
	}
	if s.Lots == nil {
		fe.Add("lot_id", "lots are not available on this platform")
		return nil
	}
	org, prod, err := s.Lots.LotOwner(ctx, *lot)
	switch {
	case errs.Is(err, errs.NotFound) || (err == nil && org != p.OrgID):
		fe.Add("lot_id", "lot %d is not one of your lots (see GET /api/v1/lots)", *lot)
	case err != nil:
		return err
	case prod != product:
		fe.Add("lot_id", "lot %d is of %s, the offer of %s", *lot, prod, product)
	}
	return nil
}

func sameLot(a, b *int64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

// schemeRules adds the 菜篮子 scheme's rules to a run's instance: the certificates of the pool's bases (always
// listed, so that they and not an offer's own claim decide cailanzi-base), each offer's lot with its latest
// inspection, each demand's need of a passed one.
func (s *Store) schemeRules(ctx context.Context, tx pgx.Tx, pl *pool) error {
	certs, err := runCertificates(ctx, tx)
	if err != nil {
		return err
	}
	pl.in.BaseCertificates = certs
	var ids []int64
	for _, o := range pl.offers {
		if o.LotID != nil {
			ids = append(ids, *o.LotID)
		}
	}
	lots := map[int64]LotInspection{}
	if len(ids) > 0 && s.Lots != nil {
		if lots, err = s.Lots.LotInspections(ctx, ids); err != nil {
			return err
		}
	}
	for i := range pl.in.Offers {
		x := &pl.in.Offers[i]
		lot := pl.offers[x.ID].LotID
		if lot == nil {
			continue
		}
		li, ok := lots[*lot]
		x.Lot = li.Code
		if !ok || li.Code == "" {
			x.Lot = "lot-" + key(*lot)
		}
		if li.Result == solve.InspectionPass || li.Result == solve.InspectionFail {
			x.Inspection = li.Result
		}
	}
	for i := range pl.in.Demands {
		x := &pl.in.Demands[i]
		x.RequireInspection = pl.demands[x.ID].RequireInspection
	}
	return nil
}
