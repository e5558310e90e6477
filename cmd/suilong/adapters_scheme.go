package main

import (
	"context"

	"github.com/suilong/suilong/api/schemeapi"
	"github.com/suilong/suilong/matching"
	"github.com/suilong/suilong/trace"
)

// schemeLots is matching.Lots from traceability: whose a lot is (for an offer naming it) and the latest
// inspections of the lots a run's offers name.
type schemeLots struct{ s *trace.Store }

func (l schemeLots) LotOwner(ctx context.Context, id int64) (int64, string, error) {
	lot, err := l.s.Lot(ctx, id)
	return lot.OrgID, lot.Product, err
}

func (l schemeLots) LotInspections(ctx context.Context, ids []int64) (map[int64]matching.LotInspection, error) {
	got, err := l.s.LatestInspections(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[int64]matching.LotInspection, len(got))
	for id, li := range got {
		out[id] = matching.LotInspection{Code: li.Code, Result: string(li.Result)}
	}
	return out, nil
}

// schemeDeps are the scheme's routes' collaborators: certificates where matching is served, inspections where
// traceability is.
func (m *Main) schemeDeps() schemeapi.Deps {
	var d schemeapi.Deps
	if m.Options.serves("matching") {
		d.Matching = m.Matching
	}
	if m.Options.serves("trace") {
		d.Trace = m.Trace
	}
	return d
}
