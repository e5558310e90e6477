package trace

import (
	"context"
	"time"

	"github.com/suilong/suilong/internal/pg"
)

// ComplianceBetween counts the lots delivered (received by their buyer) in [from, to), those assessed and
// those whose cold chain was kept: the plan's cold-chain KPI for a period (a year's report, this year so far).
func (s *Store) ComplianceBetween(ctx context.Context, from, to time.Time) (ComplianceStats, error) {
	var st ComplianceStats
	err := s.db.QueryRow(ctx, `SELECT count(*), count(assessed_at), count(*) FILTER (WHERE compliant),
		coalesce(sum(quantity_kg), 0), coalesce(sum(quantity_kg) FILTER (WHERE compliant), 0)
		FROM lots WHERE delivered_at >= $1 AND delivered_at < $2`, from, to).
		Scan(&st.Delivered, &st.Assessed, &st.Compliant, &st.DeliveredKg, &st.CompliantKg)
	return st, pg.Err(err, "compliance stats")
}

// ComplianceBetween is Store.ComplianceBetween after assessing, as ComplianceStats does, a few delivered lots
// that have no verdict yet.
func (s *Service) ComplianceBetween(ctx context.Context, from, to time.Time) (ComplianceStats, error) {
	if err := s.assessPending(ctx); err != nil {
		return ComplianceStats{}, err
	}
	return s.Store.ComplianceBetween(ctx, from, to)
}
