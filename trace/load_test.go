package trace_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/trace"
)

// Loads that would leave the goods in an asset no common temperature band are refused with the reason, through
// the service and the real store: against the lots in the asset at any moment of the new leg (also a back-dated
// one), against the asset's own band or its product profile's, and also when two such loads race.
func TestLoadRefusesMixedGoods(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	prods := fx.svc.Products.(products)
	prods["hetian-chicken-frozen"] = trace.ProductInfo{Name: "hetian-chicken-frozen", NameZH: "河田鸡（冷冻）", Band: trace.Band{MaxC: f64(-18)}}
	prods["shiitake"] = trace.ProductInfo{Name: "shiitake", NameZH: "鲜香菇", Band: trace.Band{MinC: f64(1), MaxC: f64(4)}}
	prods["sweet-potato"] = trace.ProductInfo{Name: "sweet-potato", NameZH: "连城红心地瓜", Band: trace.Band{MinC: f64(12), MaxC: f64(16)}}
	as := fx.svc.Assets.(assets)
	as["LY-CS-0009"] = trace.AssetInfo{ID: "LY-CS-0009", Kind: trace.ColdStore, Name: "冷库 9", Band: trace.Band{MinC: f64(0), MaxC: f64(4)}}
	as["LY-TRK-0009"] = trace.AssetInfo{ID: "LY-TRK-0009", Kind: trace.Truck, Name: "冷藏车 9", Product: "choy-sum"}

	h := time.Now().Add(-26 * time.Hour).Truncate(time.Minute)
	newLot := func(p auth.Principal, product string) trace.Lot {
		t.Helper()
		l, err := fx.svc.CreateLot(ctx, p, trace.NewLot{Product: product, QuantityKg: 500, BaseName: "基地", County: "上杭县", HarvestedAt: h})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	add := func(p auth.Principal, l trace.Lot, k trace.EventKind, at time.Time, asset string) error {
		_, err := fx.svc.AddEvent(ctx, p, l.ID, trace.NewEvent{Kind: k, At: at, AssetID: asset})
		return err
	}
	refused := func(err error, want ...string) {
		t.Helper()
		e := errs.As(err)
		if e == nil || e.Code != errs.Conflict {
			t.Fatalf("want a conflict, got %v", err)
		}
		for _, w := range want {
			if !strings.Contains(e.Message, w) {
				t.Errorf("reason %q lacks %q", e.Message, w)
			}
		}
		if len(e.Fields) != 1 || e.Fields[0].Field != "asset_id" {
			t.Errorf("fields %+v, want asset_id", e.Fields)
		}
	}

	greens := newLot(fx.base, "choy-sum")
	if err := add(fx.base, greens, trace.Load, h.Add(time.Hour), "LY-TRK-0001"); err != nil {
		t.Fatal(err)
	}
	// Another base's frozen chicken onto the truck with the greens: refused, without naming the greens' code.
	chicken := newLot(fx.other, "hetian-chicken-frozen")
	err := add(fx.other, chicken, trace.Load, h.Add(2*time.Hour), "LY-TRK-0001")
	refused(err, "this lot (hetian-chicken-frozen), which needs ≤ -18 °C", "another organisation's lot of choy-sum", "which needs 0–4 °C")
	if strings.Contains(err.Error(), greens.Code) {
		t.Errorf("the reason shows another base's lot code: %v", err)
	}
	// Nor before the greens arrived, while it would still be there when they do.
	refused(add(fx.other, chicken, trace.Load, h.Add(30*time.Minute), "LY-TRK-0001"), "loaded ")
	// Shiitake goes with the greens: the band in force narrows to 1–4 °C.
	mushrooms := newLot(fx.base, "shiitake")
	if err := add(fx.base, mushrooms, trace.Load, h.Add(2*time.Hour), "LY-TRK-0001"); err != nil {
		t.Fatalf("compatible mixed load: %v", err)
	}
	if b, ok, err := fx.svc.BandIn(ctx, "LY-TRK-0001", h.Add(3*time.Hour)); err != nil || !ok || b.String() != "1–4 °C" {
		t.Errorf("band in force %q %v %v, want 1–4 °C", b.String(), ok, err)
	}
	// Once both have left, the chicken may go.
	for _, l := range []trace.Lot{greens, mushrooms} {
		if err := add(fx.base, l, trace.Unload, h.Add(4*time.Hour), "LY-TRK-0001"); err != nil {
			t.Fatal(err)
		}
	}
	if err := add(fx.other, chicken, trace.Load, h.Add(4*time.Hour), "LY-TRK-0001"); err != nil {
		t.Fatalf("load after the greens left: %v", err)
	}
	// The greens cannot come back while it is there.
	refused(add(fx.base, greens, trace.Load, h.Add(5*time.Hour), "LY-TRK-0001"), "this lot (choy-sum), which needs 0–4 °C",
		"another organisation's lot of hetian-chicken-frozen")

	// The asset's own band, or its product profile's.
	potatoes := newLot(fx.base, "sweet-potato")
	refused(add(fx.base, potatoes, trace.Load, h.Add(time.Hour), "LY-CS-0009"), "LY-CS-0009's own setting, which needs 0–4 °C")
	refused(add(fx.base, potatoes, trace.Load, h.Add(time.Hour), "LY-TRK-0009"), "LY-TRK-0009's own setting, which needs 0–4 °C")
	if err := add(fx.base, potatoes, trace.Load, h.Add(time.Hour), "LY-CS-0001"); err != nil {
		t.Fatalf("potatoes into a store without a band: %v", err)
	}

	// Two loads that do not go together, at the same moment into the same empty truck: one wins.
	for i := range 5 {
		id := fmt.Sprintf("RACE-%d", i)
		as[id] = trace.AssetInfo{ID: id, Kind: trace.Truck, Name: id}
		a, b := newLot(fx.base, "choy-sum"), newLot(fx.other, "hetian-chicken-frozen")
		var wg sync.WaitGroup
		errs2 := make([]error, 2)
		start := make(chan struct{})
		for j, x := range []struct {
			p auth.Principal
			l trace.Lot
		}{{fx.base, a}, {fx.other, b}} {
			wg.Go(func() {
				<-start
				errs2[j] = add(x.p, x.l, trace.Load, h.Add(time.Hour), id)
			})
		}
		close(start)
		wg.Wait()
		ok := 0
		for _, err := range errs2 {
			switch {
			case err == nil:
				ok++
			case errs.CodeOf(err) != errs.Conflict:
				t.Fatalf("race %d: %v", i, err)
			}
		}
		if ok != 1 {
			t.Fatalf("race %d: %d of two incompatible loads succeeded (%v)", i, ok, errs2)
		}
	}
}
