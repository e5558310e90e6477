package main

import (
	"context"
	"encoding/json"
	"time"

	"github.com/suilong/suilong/api/matchingapi"
	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/matching"
	"github.com/suilong/suilong/notify"
	"github.com/suilong/suilong/plan"
	"github.com/suilong/suilong/trace"
)

// The adapters between the domains: each domain declares the small interface it needs of another, and these
// types answer it from the other domain's own API. Main plugs them in; nothing else knows both sides.

// lotsOfOrder lists, from traceability, the lots that ship an order, for the order's parties.
type lotsOfOrder struct {
	s    *trace.Store
	uris trace.URIs
}

func (l lotsOfOrder) LotsOf(ctx context.Context, orderID int64) ([]matchingapi.LotRef, error) {
	lots, _, err := l.s.Lots(ctx, trace.LotFilter{OrderID: &orderID, Limit: 100})
	if err != nil {
		return nil, err
	}
	out := make([]matchingapi.LotRef, len(lots))
	for i, x := range lots {
		out[i] = matchingapi.LotRef{Code: x.Code, URL: l.uris.Page(x.Code), Product: x.Product, QuantityKg: x.QuantityKg}
	}
	return out, nil
}

// productProfiles gives ingest and trace the product profiles matching keeps.
type productProfiles struct{ s *matching.Store }

// ProductBand is ingest.ProductBands: the band of a product profile, for assets that name one.
func (p productProfiles) ProductBand(ctx context.Context, product string) (ingest.Band, bool, error) {
	x, err := p.s.Product(ctx, product)
	if errs.Is(err, errs.NotFound) {
		return ingest.Band{}, false, nil
	}
	if err != nil {
		return ingest.Band{}, false, err
	}
	b := ingest.Band{MinC: x.TempMinC, MaxC: x.TempMaxC}
	return b, !b.IsZero(), nil
}

// Product is trace.Products: what a lot needs of its product.
func (p productProfiles) Product(ctx context.Context, name string) (trace.ProductInfo, error) {
	x, err := p.s.Product(ctx, name)
	if err != nil {
		return trace.ProductInfo{}, err
	}
	return trace.ProductInfo{Name: x.Name, NameZH: x.NameZH, Band: trace.Band{MinC: x.TempMinC, MaxC: x.TempMaxC},
		ShelfLifeHours: x.ShelfLifeHours}, nil
}

// bandSource is ingest.BandSource from traceability: the band of the lots in an asset at a time (the rule of
// trace.Service.BandIn, read through ingest's own pool).
type bandSource struct{ s *trace.Store }

func (b bandSource) Band(ctx context.Context, assetID string, at time.Time) (ingest.Band, bool, error) {
	lots, err := b.s.LotsIn(ctx, assetID, at)
	if err != nil {
		return ingest.Band{}, false, err
	}
	band, ok := trace.BandOf(lots)
	return band, ok, nil
}

// lateReadings is ingest.LateSink into traceability.
type lateReadings struct{ s *trace.Service }

func (l lateReadings) ReadingsArrivedLate(ctx context.Context, rs []ingest.AssetReadings) error {
	out := make([]trace.ReadingsLate, len(rs))
	for i, r := range rs {
		out[i] = trace.ReadingsLate{AssetID: r.AssetID, From: r.From, To: r.To}
	}
	return l.s.ReadingsArrivedLate(ctx, out)
}

// lateHorizon is how old a reading must be, as ingest stores it, for traceability to hear of it: older than
// the summaries can reach (Settle), with a minute's margin for the servers' clocks.
func lateHorizon(settle time.Duration) time.Duration {
	return max(settle/2, settle-time.Minute)
}

// carriage is ingest.Carriage from traceability: which assets carried an organisation's lots, and when (their
// legs), for the fleet view of the ingest routes.
type carriage struct{ s *trace.Store }

func (c carriage) AssetsCarrying(ctx context.Context, orgID int64) ([]string, error) {
	return c.s.AssetsCarrying(ctx, orgID)
}

func (c carriage) Carried(ctx context.Context, orgID int64, assetID string) ([]ingest.Span, error) {
	legs, err := c.s.LegsIn(ctx, orgID, assetID)
	out := make([]ingest.Span, len(legs))
	for i, l := range legs {
		out[i] = ingest.Span{From: l.From, To: l.To}
	}
	return out, err
}

type assetsAdapter struct{ s *ingest.Store }

func (a assetsAdapter) Asset(ctx context.Context, id string) (trace.AssetInfo, error) {
	x, err := a.s.Asset(ctx, id)
	if err != nil {
		return trace.AssetInfo{}, err
	}
	return trace.AssetInfo{ID: x.ID, Kind: trace.AssetKind(x.Kind), Name: x.Name, City: x.City,
		Band: trace.Band{MinC: x.Band.MinC, MaxC: x.Band.MaxC}, Product: x.Product}, nil
}

// KPI sources of the plan.

type matchingTotals struct{ s *matching.Store }

func (m matchingTotals) Totals(ctx context.Context, from, to time.Time) (plan.MatchingTotals, error) {
	t, err := m.s.Totals(ctx, from, to)
	return plan.MatchingTotals{MatchedKg: t.MatchedKg, OrderedKg: t.OrderedKg, DeliveredKg: t.DeliveredKg,
		Orders: t.Orders, DeliveredOrders: t.DeliveredOrders}, err
}

type participantsAdapter struct{ s *auth.Store }

func (p participantsAdapter) Participants(ctx context.Context) (plan.Participants, error) {
	n, err := p.s.CountOrgsByRole(ctx)
	return plan.Participants{Bases: n[auth.RoleBase], Buyers: n[auth.RoleBuyer]}, err
}

type complianceAdapter struct{ s *trace.Service }

func (c complianceAdapter) Compliance(ctx context.Context, from, to time.Time) (plan.Compliance, error) {
	st, err := c.s.ComplianceBetween(ctx, from, to)
	return plan.Compliance{Delivered: st.Delivered, Assessed: st.Assessed, Compliant: st.Compliant}, err
}

type assetsCount struct{ s *ingest.Store }

func (a assetsCount) Assets(ctx context.Context) (plan.Assets, error) {
	st, err := a.s.AssetStats(ctx)
	return plan.Assets{Trucks: st.Trucks, ColdStores: st.ColdStores, Sensors: st.Sensors}, err
}

// alarmFeed gives notifications ingest's alarm event log and its alarms as they are now.
type alarmFeed struct{ s *ingest.Store }

func (f alarmFeed) AlarmEvents(ctx context.Context, after int64, limit int) ([]notify.Event, error) {
	evs, err := f.s.AlarmEvents(ctx, after, limit)
	out := make([]notify.Event, len(evs))
	for i, e := range evs {
		out[i] = notify.Event{ID: e.ID, AlarmID: e.AlarmID, AssetID: e.AssetID, OrgID: e.OrgID, Change: e.Change, At: e.At, Alarm: e.Alarm}
	}
	return out, err
}

func (f alarmFeed) AlarmNow(ctx context.Context, id int64) (json.RawMessage, error) {
	a, err := f.s.Alarm(ctx, id)
	if err != nil {
		return nil, err
	}
	return json.Marshal(a)
}

// cargo is ingest.Cargo from traceability: the lots in the assets now, for the console.
type cargo struct{ s *trace.Store }

func (c cargo) OnBoard(ctx context.Context, assetIDs []string) (map[string][]ingest.Load, error) {
	lots, err := c.s.OnBoard(ctx, assetIDs)
	if err != nil {
		return nil, err
	}
	out := map[string][]ingest.Load{}
	for _, l := range lots {
		out[l.AssetID] = append(out[l.AssetID], ingest.Load{LotCode: l.Code, Product: l.Product, ProductZH: l.ProductZH,
			QuantityKg: l.QuantityKg, Since: l.Since, Band: l.Band})
	}
	return out, nil
}
