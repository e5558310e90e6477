package trace_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/suilong/suilong/ingest/influxw"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/auth/authtest"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/influx"
	"github.com/suilong/suilong/internal/influx/influxtest"
	"github.com/suilong/suilong/internal/pg/pgtest"
	"github.com/suilong/suilong/trace"
)

// Products, assets and orders belong to other areas; these stand in for their adapters.
type products map[string]trace.ProductInfo

func (p products) Product(_ context.Context, name string) (trace.ProductInfo, error) {
	if x, ok := p[name]; ok {
		return x, nil
	}
	return trace.ProductInfo{}, errs.E(errs.NotFound, "product not found")
}

type assets map[string]trace.AssetInfo

func (a assets) Asset(_ context.Context, id string) (trace.AssetInfo, error) {
	if x, ok := a[id]; ok {
		return x, nil
	}
	return trace.AssetInfo{}, errs.E(errs.NotFound, "asset not found")
}

type orders struct {
	mu        sync.Mutex
	buyer     map[[2]int64]int64 // (order, seller) → buyer
	delivered map[int64]time.Time
}

func (o *orders) OrderBuyer(_ context.Context, order, seller int64) (int64, error) {
	if b, ok := o.buyer[[2]int64{order, seller}]; ok {
		return b, nil
	}
	return 0, errs.E(errs.NotFound, "order not found")
}

func (o *orders) MarkOrderDelivered(_ context.Context, order int64, at time.Time) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.delivered[order] = at
	return nil
}

type fixture struct {
	svc    *trace.Service
	influx *influx.Client
	orders *orders
	base   auth.Principal
	other  auth.Principal
	buyer  auth.Principal
	staff  auth.Principal
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db := pgtest.New(t)
	ic := influxtest.New(t)
	org := func(name string, r auth.Role) auth.Principal {
		o, _ := authtest.Org(t, db, name, r)
		return auth.Principal{OrgID: o.ID, OrgName: o.Name, Role: o.Role}
	}
	fx := &fixture{influx: ic,
		base:  org("上杭县蛟洋蔬菜专业合作社", auth.RoleBase),
		other: org("长汀县河田鸡场", auth.RoleBase),
		buyer: org("广州江南果菜批发市场", auth.RoleBuyer),
		staff: org("穗龙协调组", auth.RoleCoordinator),
	}
	fx.orders = &orders{buyer: map[[2]int64]int64{{42, fx.base.OrgID}: fx.buyer.OrgID}, delivered: map[int64]time.Time{}}
	fx.svc = trace.NewService(trace.NewStore(db),
		products{"choy-sum": {Name: "choy-sum", NameZH: "菜心", Band: trace.Band{MinC: f64(0), MaxC: f64(4)}}, "rice": {Name: "rice", NameZH: "大米"},
			"dried-shiitake": {Name: "dried-shiitake", NameZH: "干香菇", ShelfLifeHours: 3 * 365 * 24}},
		assets{"LY-TRK-0001": {ID: "LY-TRK-0001", Kind: trace.Truck, Name: "龙岩冷藏车 1 号", City: "龙岩"},
			"LY-CS-0001": {ID: "LY-CS-0001", Kind: trace.ColdStore, Name: "龙岩冷链物流中心 1 号冷库", City: "龙岩"}},
		fx.orders, influxw.NewStore(ic), trace.NewURIs("https://suilong.example.cn"), nil, nil)
	return fx
}

// write stores readings of the asset's sensors: temp(sensor, t) every step in [from, to).
func write(t *testing.T, c *influx.Client, asset string, sensors int, from, to time.Time, step time.Duration, temp func(s int, t time.Time) float64) {
	t.Helper()
	var b strings.Builder
	n := 0
	flush := func() {
		if b.Len() > 0 {
			if err := c.Write().WriteRecord(context.Background(), b.String()); err != nil {
				t.Fatal(err)
			}
			b.Reset()
		}
	}
	for ts := from; ts.Before(to); ts = ts.Add(step) {
		for s := range sensors {
			fmt.Fprintf(&b, "reading,asset_id=%s,asset_kind=truck,sensor_id=%s-%c,gateway_id=GW temp_c=%g %d\n", asset, asset, 'A'+s, temp(s, ts), ts.UnixNano())
			if n++; n%5000 == 0 {
				flush()
			}
		}
	}
	flush()
}

func TestServiceJourney(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	// On the 5-minute grid of the summaries, so that monitored minutes come out exact.
	now := time.Now().Truncate(trace.BaseEvery)
	h := now.Add(-26 * time.Hour)
	order := int64(42)

	// Registration: bases only, validated, with the product's band copied.
	if _, err := fx.svc.CreateLot(ctx, fx.buyer, trace.NewLot{Product: "choy-sum"}); errs.CodeOf(err) != errs.Forbidden {
		t.Fatalf("buyer registers a lot: %v", err)
	}
	if _, err := fx.svc.CreateLot(ctx, fx.base, trace.NewLot{Product: "kale", QuantityKg: 1, BaseName: "b", County: "c", HarvestedAt: h}); errs.CodeOf(err) != errs.Unprocessable || !strings.Contains(err.Error(), "product unknown") {
		t.Fatalf("unknown product: %v", err)
	}
	if _, err := fx.svc.CreateLot(ctx, fx.other, trace.NewLot{Product: "choy-sum", QuantityKg: 1, BaseName: "b", County: "c", HarvestedAt: h, OrderID: &order}); errs.CodeOf(err) != errs.Unprocessable || !strings.Contains(err.Error(), "order_id") {
		t.Fatalf("someone else's order: %v", err)
	}
	lot, err := fx.svc.CreateLot(ctx, fx.base, trace.NewLot{Product: "choy-sum", Variety: "油青甜菜心", QuantityKg: 3000, BaseName: "蛟洋镇蔬菜基地",
		County: "上杭县", HarvestedAt: h, Certifications: []trace.Certification{trace.CertGreenFood}, OrderID: &order})
	if err != nil {
		t.Fatal(err)
	}
	if lot.ProductZH != "菜心" || lot.Band.MaxC == nil || *lot.Band.MaxC != 4 || lot.BuyerOrgID == nil || *lot.BuyerOrgID != fx.buyer.OrgID || len(lot.Code) != trace.CodeLength {
		t.Fatalf("lot %+v", lot)
	}

	// Who sees it.
	for _, p := range []auth.Principal{fx.base, fx.buyer, fx.staff} {
		if _, err := fx.svc.Lot(ctx, p, lot.ID); err != nil {
			t.Errorf("%s cannot see the lot: %v", p.OrgName, err)
		}
	}
	if _, err := fx.svc.Lot(ctx, fx.other, lot.ID); errs.CodeOf(err) != errs.NotFound {
		t.Errorf("another base sees the lot: %v", err)
	}
	if ls, n, err := fx.svc.Lots(ctx, fx.other, trace.LotFilter{}); err != nil || n != 0 || len(ls) != 0 {
		t.Errorf("another base lists %d lots (%v)", n, err)
	}
	if ls, n, err := fx.svc.Lots(ctx, fx.buyer, trace.LotFilter{}); err != nil || n != 1 || ls[0].Code != lot.Code {
		t.Errorf("buyer lists %d lots (%v)", n, err)
	}

	add := func(p auth.Principal, k trace.EventKind, at time.Time, asset string) error {
		_, err := fx.svc.AddEvent(ctx, p, lot.ID, trace.NewEvent{Kind: k, At: at, AssetID: asset, Location: "广州江南果菜批发市场"})
		return err
	}
	// Who may record what.
	if err := add(fx.other, trace.Load, h.Add(time.Hour), "LY-CS-0001"); errs.CodeOf(err) != errs.NotFound {
		t.Errorf("another base loads the lot: %v", err)
	}
	if err := add(fx.buyer, trace.Load, h.Add(time.Hour), "LY-CS-0001"); errs.CodeOf(err) != errs.Forbidden {
		t.Errorf("buyer loads the lot: %v", err)
	}
	if err := add(fx.staff, trace.Load, h.Add(time.Hour), "LY-CS-0001"); errs.CodeOf(err) != errs.Forbidden {
		t.Errorf("coordinator loads the lot: %v", err)
	}
	if err := add(fx.base, trace.Load, h.Add(time.Hour), "LY-TRK-9999"); errs.CodeOf(err) != errs.Unprocessable || !strings.Contains(err.Error(), "asset_id") {
		t.Errorf("unknown asset: %v", err)
	}

	// The journey: cold store 1 h → 5 h, truck 5 h → 12 h (an excursion at 8 h), received at 12 h 20.
	cs0, cs1, tr0, tr1, rc := h.Add(time.Hour), h.Add(5*time.Hour), h.Add(5*time.Hour), h.Add(12*time.Hour), h.Add(12*time.Hour+20*time.Minute)
	for _, e := range []struct {
		k     trace.EventKind
		at    time.Time
		asset string
	}{{trace.Load, cs0, "LY-CS-0001"}, {trace.Unload, cs1, "LY-CS-0001"}, {trace.Load, tr0, "LY-TRK-0001"}} {
		if err := add(fx.base, e.k, e.at, e.asset); err != nil {
			t.Fatalf("%s %s: %v", e.k, e.asset, err)
		}
	}
	if err := add(fx.base, trace.Load, tr0.Add(time.Hour), "LY-CS-0001"); errs.CodeOf(err) != errs.Conflict || !strings.Contains(err.Error(), "still in LY-TRK-0001") {
		t.Errorf("two assets at once: %v", err)
	}
	if err := add(fx.base, trace.Unload, h.Add(-time.Hour), "LY-TRK-0001"); errs.CodeOf(err) != errs.Conflict {
		t.Errorf("before harvest: %v", err)
	}
	// Ingest's question: what is in the truck, with which band?
	if b, ok, err := fx.svc.BandIn(ctx, "LY-TRK-0001", tr0.Add(time.Hour)); err != nil || !ok || *b.MinC != 0 || *b.MaxC != 4 {
		t.Errorf("band in the truck: %+v %v %v", b, ok, err)
	}
	if _, ok, _ := fx.svc.BandIn(ctx, "LY-CS-0001", tr0.Add(time.Hour)); ok {
		t.Error("the cold store still carries the lot")
	}

	write(t, fx.influx, "LY-CS-0001", 2, h, cs1.Add(time.Hour), time.Minute, func(int, time.Time) float64 { return 2 })
	write(t, fx.influx, "LY-TRK-0001", 2, tr0, tr1, 30*time.Second, func(s int, ts time.Time) float64 {
		if d := ts.Sub(h.Add(8 * time.Hour)); s == 1 && d >= 0 && d < 20*time.Minute {
			return 6.5 // the rear sensor warms for 20 minutes
		}
		return 3
	})

	// In transit: judged so far, leg open.
	r, err := fx.svc.Report(ctx, fx.buyer, lot.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Compliance.Verdict.Code != trace.Excursions || r.Compliance.Verdict.Final || len(r.Compliance.Excursions) != 1 || r.Compliance.Excursions[0].Minutes != 20 {
		t.Fatalf("in transit: %+v", r.Compliance)
	}

	if err := add(fx.buyer, trace.Receive, rc, ""); err != nil {
		t.Fatal(err)
	}
	if err := add(fx.base, trace.Load, rc.Add(time.Minute), "LY-TRK-0001"); errs.CodeOf(err) != errs.Conflict {
		t.Errorf("after receipt: %v", err)
	}
	fx.orders.mu.Lock()
	if at := fx.orders.delivered[order]; !at.Equal(rc) {
		t.Errorf("order delivered at %v, want %v", at, rc)
	}
	fx.orders.mu.Unlock()

	check := func(r *trace.Report) {
		t.Helper()
		c := r.Compliance
		if len(r.Custody.Legs) != 2 || r.Custody.Legs[1].To != rc || r.Custody.State != trace.Delivered {
			t.Fatalf("custody %+v", r.Custody)
		}
		if len(c.Excursions) != 1 {
			t.Fatalf("excursions %+v", c.Excursions)
		}
		x := c.Excursions[0]
		if x.Leg != 1 || !x.Start.Equal(h.Add(8*time.Hour)) || x.Minutes != 20 || x.PeakC != 6.5 || x.Readings != 40 {
			t.Errorf("excursion %+v", x)
		}
		// Cold store 240 min at 2 °C; truck 440 min (to the receipt at 12 h 20; readings stop at 12 h, within the
		// tolerated gap).
		if c.Legs[0].MonitoredMinutes != 240 || c.Legs[0].MKTC == nil || *c.Legs[0].MKTC != 2 || c.Legs[1].MonitoredMinutes != 420 ||
			c.OutOfBandMinutes != 20 || c.InBandMinutes != 640 || *c.Legs[1].MaxC != 6.5 {
			t.Errorf("legs %+v %+v", c.Legs[0], c.Legs[1])
		}
		if v := c.Verdict; v.Code != trace.Excursions || !v.Final || v.ZH != "温度超标 1 次，累计 20 分钟超出 0–4 °C" {
			t.Errorf("verdict %+v", v)
		}
	}
	first, err := fx.svc.Report(ctx, fx.staff, lot.ID)
	if err != nil {
		t.Fatal(err)
	}
	check(first)
	second, err := fx.svc.PublicReport(ctx, strings.ToLower(lot.Code)) // from the cache this time
	if err != nil {
		t.Fatal(err)
	}
	check(second)
	if _, err := fx.svc.PublicReport(ctx, "NOSUCHLOT123"); errs.CodeOf(err) != errs.NotFound {
		t.Errorf("unknown code: %v", err)
	}

	// A reading that arrives late (a gateway's spool replayed) is seen once ingest tells of it: the summary is
	// recomputed and the report kept in memory renewed. This one replaces a reading at the same time, so only the
	// sum of the readings tells.
	write(t, fx.influx, "LY-TRK-0001", 1, h.Add(10*time.Hour), h.Add(10*time.Hour+30*time.Second), time.Minute, func(int, time.Time) float64 { return -2 })
	if err := fx.svc.ReadingsArrivedLate(ctx, []trace.ReadingsLate{{AssetID: "LY-TRK-0001", From: h.Add(10 * time.Hour), To: h.Add(10 * time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	late, err := fx.svc.Report(ctx, fx.base, lot.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(late.Compliance.Excursions); n != 2 || late.Compliance.Excursions[1].Direction != "below" {
		t.Errorf("after a late reading: %d excursions %+v", n, late.Compliance.Excursions)
	}
	// One nobody tells of (a notice lost in a crash) is found by the check every VerifyEvery: until then the
	// page stays as it was; after, it shows it.
	write(t, fx.influx, "LY-TRK-0001", 1, h.Add(11*time.Hour), h.Add(11*time.Hour+30*time.Second), time.Minute, func(int, time.Time) float64 { return 9 })
	if r, err := fx.svc.PublicReport(ctx, lot.Code); err != nil || len(r.Compliance.Excursions) != 2 {
		t.Fatalf("before the check: %v, excursions %+v", err, r.Compliance.Excursions)
	}
	fx.svc.Now = func() time.Time { return time.Now().Add(fx.svc.VerifyEvery) }
	checked, err := fx.svc.PublicReport(ctx, lot.Code)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(checked.Compliance.Excursions); n != 3 || checked.Compliance.Excursions[2].PeakC != 9 {
		t.Errorf("after the check: %d excursions %+v", n, checked.Compliance.Excursions)
	}
	fx.svc.Now = time.Now

	st, err := fx.svc.ComplianceStats(ctx)
	if err != nil || st.Delivered != 1 || st.Assessed != 1 || st.Compliant != 0 || st.DeliveredKg != 3000 {
		t.Errorf("stats %+v %v", st, err)
	}
}
