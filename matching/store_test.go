package matching_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/auth/authtest"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
	"github.com/suilong/suilong/internal/pg/pgtest"
	"github.com/suilong/suilong/matching"
)

var ctx = context.Background()

func fen(v matching.Fen) *matching.Fen { return &v }
func at(h int) *time.Time {
	t := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC).Add(time.Duration(h) * time.Hour)
	return &t
}

func principal(tb testing.TB, db pg.DB, name string, role auth.Role) auth.Principal {
	tb.Helper()
	o, _ := authtest.Org(tb, db, name, role)
	return auth.Principal{OrgID: o.ID, OrgName: o.Name, Role: o.Role}
}

// world is a small market: choy-sum (72 h) from Shanghang and Wuping to the Jiangnan market, two bases, two buyers.
type world struct {
	s                    *matching.Store
	staff                auth.Principal
	baseA, baseB         auth.Principal
	buyerA, buyerB, gate auth.Principal
}

func newWorld(t *testing.T) *world {
	t.Helper()
	db := pgtest.New(t)
	w := &world{s: matching.NewStore(db)}
	w.staff = principal(t, db, "龙岩市商务局", auth.RoleCoordinator)
	w.baseA = principal(t, db, "上杭县蛟洋蔬菜专业合作社", auth.RoleBase)
	w.baseB = principal(t, db, "武平县象洞蔬菜合作社", auth.RoleBase)
	w.buyerA = principal(t, db, "广州江南果菜批发市场", auth.RoleBuyer)
	w.buyerB = principal(t, db, "天河区机关食堂配送中心", auth.RoleBuyer)
	w.gate = principal(t, db, "冷链网关", auth.RoleGateway)
	if _, err := w.s.CreateProduct(ctx, matching.Product{Name: "choy-sum", NameZH: "菜心", ShelfLifeHours: 72,
		TempMinC: new(0.0), TempMaxC: new(4.0)}); err != nil {
		t.Fatal(err)
	}
	for _, l := range []matching.NewLane{
		{Origin: "shanghang", Destination: "jiangnan-market", CostPerKg: fen(40), TransitHours: 7},
		{Origin: "wuping", Destination: "jiangnan-market", CostPerKg: fen(30), TransitHours: 6},
		{Origin: "shanghang", Destination: "tianhe-canteens", CostPerKg: fen(45), TransitHours: 7},
	} {
		if _, err := w.s.CreateLane(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

func (w *world) offer(t *testing.T, p auth.Principal, n matching.NewOffer) matching.Offer {
	t.Helper()
	if n.Product == "" {
		n.Product = "choy-sum"
	}
	if n.HarvestedAt == nil {
		n.HarvestedAt = at(6)
	}
	o, err := w.s.CreateOffer(ctx, p, n)
	if err != nil {
		t.Fatalf("create offer: %v", err)
	}
	return o
}

func (w *world) demand(t *testing.T, p auth.Principal, n matching.NewDemand) matching.Demand {
	t.Helper()
	if n.Product == "" {
		n.Product = "choy-sum"
	}
	if n.DeliverBy == nil {
		n.DeliverBy = at(28)
	}
	d, err := w.s.CreateDemand(ctx, p, n)
	if err != nil {
		t.Fatalf("create demand: %v", err)
	}
	return d
}

func fields(err error) []string {
	var out []string
	if e := errs.As(err); e != nil {
		for _, f := range e.Fields {
			out = append(out, f.Field)
		}
	}
	return out
}

func TestProductAndLaneValidation(t *testing.T) {
	w := newWorld(t)
	_, err := w.s.CreateProduct(ctx, matching.Product{Name: "Choy Sum", ShelfLifeHours: 0, TempMinC: new(5.0), TempMaxC: new(1.0)})
	if errs.CodeOf(err) != errs.Unprocessable || !slices.Equal(fields(err), []string{"name", "shelf_life_hours", "temp_min_c"}) {
		t.Fatalf("bad product: %v (fields %v)", err, fields(err))
	}
	if _, err := w.s.CreateProduct(ctx, matching.Product{Name: "choy-sum", ShelfLifeHours: 48}); errs.CodeOf(err) != errs.Conflict {
		t.Fatalf("duplicate product: %v", err)
	}
	p, err := w.s.UpdateProduct(ctx, "choy-sum", matching.ProductUpdate{TempMaxC: new(5.0), ClearMin: true})
	if err != nil || p.TempMinC != nil || *p.TempMaxC != 5 {
		t.Fatalf("update band: %+v %v", p, err)
	}
	_, err = w.s.CreateLane(ctx, matching.NewLane{Origin: "shanghang", Destination: "jiangnan-market", CostPerKg: fen(10), TransitHours: 5})
	if errs.CodeOf(err) != errs.Conflict {
		t.Fatalf("second lane between the same places: %v", err)
	}
	_, err = w.s.CreateLane(ctx, matching.NewLane{Origin: "", Destination: "x", TransitHours: -1})
	if !slices.Equal(fields(err), []string{"transit_hours", "origin", "cost_per_kg"}) {
		t.Fatalf("bad lane fields: %v", fields(err))
	}
}

func TestOffersAndDemandsAreScopedToTheirOwners(t *testing.T) {
	w := newWorld(t)
	o := w.offer(t, w.baseA, matching.NewOffer{Grade: 1, QuantityKg: 500, MinPricePerKg: fen(320), Origin: "shanghang"})
	d := w.demand(t, w.buyerA, matching.NewDemand{MinGrade: 2, QuantityKg: 300, MaxPricePerKg: fen(500), Destination: "jiangnan-market"})

	if _, err := w.s.Offer(ctx, w.baseB, o.ID); errs.CodeOf(err) != errs.NotFound {
		t.Errorf("another base reads the offer: %v", err)
	}
	if _, err := w.s.Demand(ctx, w.buyerB, d.ID); errs.CodeOf(err) != errs.NotFound {
		t.Errorf("another buyer reads the demand: %v", err)
	}
	if _, _, err := w.s.Offers(ctx, w.buyerA, matching.Filter{}); errs.CodeOf(err) != errs.Forbidden {
		t.Errorf("a buyer lists offers: %v", err)
	}
	if list, _, err := w.s.Demands(ctx, w.buyerB, matching.Filter{}); err != nil || len(list) != 0 {
		t.Errorf("another buyer's list: %v %v", list, err)
	}
	if list, total, err := w.s.Offers(ctx, w.staff, matching.Filter{}); err != nil || total != 1 || list[0].ID != o.ID {
		t.Errorf("staff list: %v %d %v", list, total, err)
	}
	if _, err := w.s.CreateOffer(ctx, w.buyerA, matching.NewOffer{}); errs.CodeOf(err) != errs.Forbidden {
		t.Errorf("a buyer posts an offer: %v", err)
	}
	if _, err := w.s.UpdateOffer(ctx, w.baseB, o.ID, matching.OfferUpdate{QuantityKg: new(int64(1))}); errs.CodeOf(err) != errs.NotFound {
		t.Errorf("another base changes the offer: %v", err)
	}
	if _, err := w.s.UpdateOffer(ctx, w.baseA, o.ID, matching.OfferUpdate{PriorityBonusPerKg: fen(10)}); errs.CodeOf(err) != errs.Forbidden {
		t.Errorf("a base sets its own bonus: %v", err)
	}
	if got, err := w.s.UpdateOffer(ctx, w.staff, o.ID, matching.OfferUpdate{PriorityBonusPerKg: fen(10)}); err != nil || got.PriorityBonusPerKg != 10 {
		t.Errorf("staff sets the bonus: %+v %v", got, err)
	}
	if _, err := w.s.UpdateOffer(ctx, w.staff, o.ID, matching.OfferUpdate{Grade: new(2)}); errs.CodeOf(err) != errs.Forbidden {
		t.Errorf("staff changes a base's terms: %v", err)
	}
	if _, err := w.s.WithdrawDemand(ctx, w.buyerB, d.ID); errs.CodeOf(err) != errs.NotFound {
		t.Errorf("another buyer withdraws the demand: %v", err)
	}
}

func TestOfferValidationNamesTheFields(t *testing.T) {
	w := newWorld(t)
	_, err := w.s.CreateOffer(ctx, w.baseA, matching.NewOffer{Product: "durian", Grade: 0, QuantityKg: -5, Origin: "Shang Hang",
		HarvestedAt: at(10), AvailableFrom: at(8), Certifications: []string{"green-food", "green-food"}})
	want := []string{"available_from", "certifications[1]", "grade", "min_price_per_kg", "origin", "product", "quantity_kg"}
	got := fields(err)
	slices.Sort(got)
	if errs.CodeOf(err) != errs.Unprocessable || !slices.Equal(got, want) {
		t.Fatalf("got %v (%v), want fields %v", got, err, want)
	}
	_, err = w.s.CreateDemand(ctx, w.buyerA, matching.NewDemand{Product: "choy-sum", MinGrade: 1, QuantityKg: 10, MaxPricePerKg: fen(1),
		Destination: "jiangnan-market"})
	if !slices.Equal(fields(err), []string{"deliver_by"}) {
		t.Fatalf("demand without deliver_by: %v", err)
	}
}

// A run allocates at the optimum, not best-pair-first: the best pair (A's grade-1 lot for the canteen's fussy
// demand is worth less per kg than for the market) would, taken greedily, starve the canteen, whose only
// feasible supply is A. It explains what it leaves, with the rule that stopped each.
func TestRunIsOptimalAndExplainsWhatIsLeft(t *testing.T) {
	w := newWorld(t)
	a := w.offer(t, w.baseA, matching.NewOffer{Grade: 1, QuantityKg: 1000, MinPricePerKg: fen(300), Origin: "shanghang",
		Certifications: []string{"green-food"}})
	b := w.offer(t, w.baseB, matching.NewOffer{Grade: 2, QuantityKg: 1000, MinPricePerKg: fen(320), Origin: "wuping"})
	market := w.demand(t, w.buyerA, matching.NewDemand{MinGrade: 2, QuantityKg: 1000, MaxPricePerKg: fen(520), Destination: "jiangnan-market"})
	canteen := w.demand(t, w.buyerB, matching.NewDemand{MinGrade: 1, QuantityKg: 1000, MaxPricePerKg: fen(480), Destination: "tianhe-canteens",
		RequiredCertifications: []string{"green-food"}})
	organic := w.demand(t, w.buyerB, matching.NewDemand{MinGrade: 3, QuantityKg: 200, MaxPricePerKg: fen(900), Destination: "jiangnan-market",
		RequiredCertifications: []string{"organic"}})
	late := w.demand(t, w.buyerA, matching.NewDemand{MinGrade: 3, QuantityKg: 100, MaxPricePerKg: fen(900), Destination: "jiangnan-market",
		DeliverBy: at(10)})

	if _, err := w.s.StartRun(ctx, w.buyerA, matching.RunOptions{}); errs.CodeOf(err) != errs.Forbidden {
		t.Fatalf("a buyer starts a run: %v", err)
	}
	if _, err := w.s.StartRun(ctx, w.staff, matching.RunOptions{PriceRule: "auction"}); !slices.Equal(fields(err), []string{"price_rule"}) {
		t.Fatalf("bad price rule: %v", err)
	}
	run, err := w.s.StartRun(ctx, w.staff, matching.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Greedy: A→market (5.20−3.00−0.40 = 1.80/kg) first, beating B→market (5.20−3.20−0.30 = 1.70); then B has
	// nowhere but the market, which is full, and the canteen nothing: 1800.00. Optimal: A→canteen (4.80−3.00−0.45
	// = 1.35) and B→market (1.70): 3050.00.
	if run.Objective != 305000 || run.Greedy != 180000 || run.MatchedKg != 2000 {
		t.Fatalf("objective %s (greedy %s), matched %d kg; want 3050.00 (greedy 1800.00), 2000 kg", run.Objective, run.Greedy, run.MatchedKg)
	}
	pairs := map[[2]int64]matching.Allocation{}
	for _, al := range run.Allocations {
		pairs[[2]int64{al.OfferID, al.DemandID}] = al
	}
	ac, bm := pairs[[2]int64{a.ID, canteen.ID}], pairs[[2]int64{b.ID, market.ID}]
	if len(pairs) != 2 || ac.QuantityKg != 1000 || bm.QuantityKg != 1000 {
		t.Fatalf("allocations %+v", run.Allocations)
	}
	// Midpoint price: min + cost + ⌊gap/2⌋ = 3.00 + 0.45 + 0.67 (half of 1.35, the half fen to the buyer).
	if ac.PricePerKg != 300+45+67 || *ac.SurplusPerKg != 135 || !ac.Arrival.Equal(at(6).Add(7*time.Hour)) {
		t.Fatalf("A→canteen: price %s surplus %s arrival %s", ac.PricePerKg, *ac.SurplusPerKg, ac.Arrival)
	}
	reasons := map[int64][]string{}
	for _, u := range run.Unmatched {
		if u.Side == "demand" {
			reasons[u.ID] = u.ReasonCodes
			if len(u.Reasons) == 0 || u.Reasons[0] == "" {
				t.Errorf("demand %d: no reason in words", u.ID)
			}
		}
	}
	if !slices.Contains(reasons[organic.ID], "certification") || !slices.Contains(reasons[late.ID], "late") || len(reasons) != 2 {
		t.Fatalf("unmatched demands' reasons: %v", reasons)
	}
	got, err := w.s.GetRun(ctx, w.staff, run.ID)
	if err != nil || len(got.Allocations) != 2 || got.Objective != run.Objective || len(got.Unmatched) != len(run.Unmatched) {
		t.Fatalf("stored run: %+v %v", got, err)
	}
	// The allocated kilograms are held: a second run finds nothing more to do with them.
	again, err := w.s.StartRun(ctx, w.staff, matching.RunOptions{})
	if err != nil || again.MatchedKg != 0 || again.Offers != 0 {
		t.Fatalf("second run: %+v %v", again, err)
	}
}

// Both sides accept: an order at the proposed price. A decline returns the kilograms, which the next run
// allocates again. The parties see the allocation without the other side's reservation price.
func TestAcceptDeclineAndOrders(t *testing.T) {
	w := newWorld(t)
	o := w.offer(t, w.baseA, matching.NewOffer{Grade: 1, QuantityKg: 800, MinPricePerKg: fen(300), Origin: "shanghang"})
	d1 := w.demand(t, w.buyerA, matching.NewDemand{MinGrade: 1, QuantityKg: 500, MaxPricePerKg: fen(500), Destination: "jiangnan-market"})
	d2 := w.demand(t, w.buyerB, matching.NewDemand{MinGrade: 1, QuantityKg: 300, MaxPricePerKg: fen(460), Destination: "jiangnan-market"})
	run, err := w.s.StartRun(ctx, w.staff, matching.RunOptions{PriceRule: matching.PriceOffer})
	if err != nil || len(run.Allocations) != 2 {
		t.Fatalf("run: %+v %v", run, err)
	}
	var toA, toB matching.Allocation
	for _, al := range run.Allocations {
		if al.DemandID == d1.ID {
			toA = al
		} else {
			toB = al
		}
	}
	seen, err := w.s.Allocation(ctx, w.baseA, toA.ID)
	if err != nil || seen.MaxPricePerKg != nil || seen.SurplusPerKg != nil || seen.MinPricePerKg == nil {
		t.Fatalf("the base's view: %+v %v", seen, err)
	}
	if _, err := w.s.Allocation(ctx, w.buyerB, toA.ID); errs.CodeOf(err) != errs.NotFound {
		t.Fatalf("another buyer sees the allocation: %v", err)
	}
	if mine, _, _ := w.s.Allocations(ctx, w.buyerB, matching.AllocationFilter{}); len(mine) != 1 || mine[0].ID != toB.ID {
		t.Fatalf("buyer B's allocations: %+v", mine)
	}
	if _, _, err := w.s.Decide(ctx, w.staff, toA.ID, matching.Accepted); errs.CodeOf(err) != errs.Forbidden {
		t.Fatalf("staff accepts for a party: %v", err)
	}
	if _, ord, err := w.s.Decide(ctx, w.buyerA, toA.ID, matching.Accepted); err != nil || ord != nil {
		t.Fatalf("buyer accepts first: %v %v", ord, err)
	}
	al, ord, err := w.s.Decide(ctx, w.baseA, toA.ID, matching.Accepted)
	if err != nil || ord == nil || al.Status != matching.AllocOrdered || *al.OrderID != ord.ID {
		t.Fatalf("base accepts: %+v %+v %v", al, ord, err)
	}
	// offer_price: the buyer keeps the gap; price = 3.00 + 0.40.
	if ord.QuantityKg != 500 || ord.PricePerKg != 340 || ord.Amount != 170000 || ord.BuyerOrgID != w.buyerA.OrgID ||
		!ord.DeliverFrom.Equal(*at(13)) || !ord.DeliverBy.Equal(*at(28)) {
		t.Fatalf("order %+v", ord)
	}
	if _, _, err := w.s.Decide(ctx, w.baseA, toA.ID, matching.Declined); errs.CodeOf(err) != errs.Conflict {
		t.Fatalf("decline after accepting: %v", err)
	}
	if _, _, err := w.s.Decide(ctx, w.buyerB, toB.ID, matching.Declined); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.s.Decide(ctx, w.baseA, toB.ID, matching.Accepted); errs.CodeOf(err) != errs.Conflict {
		t.Fatalf("accept a declined allocation: %v", err)
	}
	off, _ := w.s.Offer(ctx, w.baseA, o.ID)
	if off.OrderedKg != 500 || off.ProposedKg != 0 || off.AvailableKg != 300 {
		t.Fatalf("offer after the answers: %+v", off)
	}
	if _, err := w.s.UpdateOffer(ctx, w.baseA, o.ID, matching.OfferUpdate{QuantityKg: new(int64(400))}); errs.CodeOf(err) != errs.Conflict {
		t.Fatalf("quantity below the ordered kg: %v", err)
	}
	again, err := w.s.StartRun(ctx, w.staff, matching.RunOptions{})
	if err != nil || again.MatchedKg != 300 || again.Allocations[0].DemandID != d2.ID {
		t.Fatalf("the declined kg go back to the pool: %+v %v", again, err)
	}
	if orders, _, _ := w.s.Orders(ctx, w.buyerB, matching.OrderFilter{}); len(orders) != 0 {
		t.Fatalf("buyer B sees orders: %+v", orders)
	}
	if _, err := w.s.Order(ctx, w.baseB, ord.ID); errs.CodeOf(err) != errs.NotFound {
		t.Fatalf("another base sees the order: %v", err)
	}
	// Traceability's side: the seller links lots, the receipt delivers the order.
	if buyer, err := w.s.OrderBuyer(ctx, ord.ID, w.baseA.OrgID); err != nil || buyer != w.buyerA.OrgID {
		t.Fatalf("order buyer: %d %v", buyer, err)
	}
	if _, err := w.s.OrderBuyer(ctx, ord.ID, w.baseB.OrgID); errs.CodeOf(err) != errs.NotFound {
		t.Fatalf("order buyer for another base: %v", err)
	}
	if err := w.s.MarkOrderDelivered(ctx, ord.ID, *at(20)); err != nil {
		t.Fatal(err)
	}
	tot, err := w.s.Totals(ctx, time.Time{}, time.Time{})
	if err != nil || tot.MatchedKg != 1100 || tot.OrderedKg != 500 || tot.DeliveredKg != 500 || tot.Runs != 2 || tot.DeliveredOrders != 1 {
		t.Fatalf("totals %+v %v", tot, err)
	}
	if tot, _ := w.s.Totals(ctx, *at(21), time.Time{}); tot.DeliveredKg != 0 {
		t.Fatalf("delivered before the period still counted: %+v", tot)
	}
}

// Changing an offer's terms or withdrawing it ends what was proposed for it; the demand's kilograms return.
func TestChangeAndWithdrawalEndProposals(t *testing.T) {
	w := newWorld(t)
	o := w.offer(t, w.baseA, matching.NewOffer{Grade: 1, QuantityKg: 400, MinPricePerKg: fen(300), Origin: "shanghang"})
	o2 := w.offer(t, w.baseB, matching.NewOffer{Grade: 1, QuantityKg: 400, MinPricePerKg: fen(300), Origin: "wuping"})
	d := w.demand(t, w.buyerA, matching.NewDemand{MinGrade: 1, QuantityKg: 800, MaxPricePerKg: fen(500), Destination: "jiangnan-market"})
	if _, err := w.s.StartRun(ctx, w.staff, matching.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := w.s.UpdateOffer(ctx, w.baseA, o.ID, matching.OfferUpdate{Note: new("采收顺利")}); got.ProposedKg != 400 {
		t.Fatalf("a note does not change the terms: %+v", got)
	}
	if got, _ := w.s.UpdateOffer(ctx, w.baseA, o.ID, matching.OfferUpdate{MinPricePerKg: fen(310)}); got.ProposedKg != 0 || got.AvailableKg != 400 {
		t.Fatalf("new price: %+v", got)
	}
	if got, _ := w.s.WithdrawOffer(ctx, w.baseB, o2.ID); got.Status != matching.StatusWithdrawn || got.AvailableKg != 0 {
		t.Fatalf("withdrawn: %+v", got)
	}
	dm, _ := w.s.Demand(ctx, w.buyerA, d.ID)
	if dm.ProposedKg != 0 || dm.AvailableKg != 800 {
		t.Fatalf("demand after its partners left: %+v", dm)
	}
	if _, err := w.s.UpdateOffer(ctx, w.baseB, o2.ID, matching.OfferUpdate{Grade: new(2)}); errs.CodeOf(err) != errs.Conflict {
		t.Fatalf("changing a withdrawn offer: %v", err)
	}
	allocs, _, _ := w.s.Allocations(ctx, w.staff, matching.AllocationFilter{Status: matching.AllocWithdrawn})
	if len(allocs) != 2 {
		t.Fatalf("withdrawn allocations: %+v", allocs)
	}
}

// Runs started at the same time are serialised (no kilogram is allocated twice), and offers withdrawn while
// runs hold the pool never end up with a live proposal.
func TestConcurrentRunsAndWithdrawals(t *testing.T) {
	w := newWorld(t)
	var offers []matching.Offer
	for i := range 6 {
		base := w.baseA
		origin := "shanghang"
		if i%2 == 1 {
			base, origin = w.baseB, "wuping"
		}
		offers = append(offers, w.offer(t, base, matching.NewOffer{Grade: 1, QuantityKg: 300, MinPricePerKg: fen(280 + matching.Fen(i)), Origin: origin}))
	}
	w.demand(t, w.buyerA, matching.NewDemand{MinGrade: 1, QuantityKg: 1000, MaxPricePerKg: fen(500), Destination: "jiangnan-market"})
	w.demand(t, w.buyerB, matching.NewDemand{MinGrade: 1, QuantityKg: 600, MaxPricePerKg: fen(480), Destination: "jiangnan-market"})

	var wg sync.WaitGroup
	errc := make(chan error, 16)
	for range 3 {
		wg.Go(func() {
			if _, err := w.s.StartRun(ctx, w.staff, matching.RunOptions{}); err != nil {
				errc <- err
			}
		})
	}
	for _, o := range offers[:3] {
		wg.Go(func() {
			p := w.baseA
			if o.OrgID == w.baseB.OrgID {
				p = w.baseB
			}
			if _, err := w.s.WithdrawOffer(ctx, p, o.ID); err != nil {
				errc <- err
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	// Whatever the order was, one more run puts the open offers' kilograms to use.
	if _, err := w.s.StartRun(ctx, w.staff, matching.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	allocs, _, err := w.s.Allocations(ctx, w.staff, matching.AllocationFilter{Status: matching.AllocProposed, Page: matching.Page{Limit: 500}})
	if err != nil {
		t.Fatal(err)
	}
	perOffer := map[int64]int64{}
	var total int64
	for _, al := range allocs {
		perOffer[al.OfferID] += al.QuantityKg
		total += al.QuantityKg
	}
	for _, o := range offers[:3] {
		if perOffer[o.ID] != 0 {
			t.Errorf("withdrawn offer %d still has %d kg proposed", o.ID, perOffer[o.ID])
		}
	}
	for id, kg := range perOffer {
		if kg > 300 {
			t.Errorf("offer %d allocated %d kg of 300", id, kg)
		}
	}
	if total != 900 {
		t.Errorf("proposed %d kg in all; the three open offers have 900", total)
	}
	runs, n, _ := w.s.Runs(ctx, w.staff, matching.Page{})
	if n != 4 || !strings.Contains(runs[0].StartedByName, "龙岩市商务局") {
		t.Errorf("runs: %d %+v", n, runs)
	}
}

// An answer and a change of the offer racing each other never leave more kilograms ordered than the offer has:
// either the order is placed and the shrink refused, or the shrink withdraws the proposal and the answer is
// refused.
func TestAnswerRacingAChangeOfTheOffer(t *testing.T) {
	w := newWorld(t)
	for i := range 10 {
		o := w.offer(t, w.baseA, matching.NewOffer{Grade: 1, QuantityKg: 2000, MinPricePerKg: fen(300), Origin: "shanghang"})
		d := w.demand(t, w.buyerA, matching.NewDemand{MinGrade: 1, QuantityKg: 2000, MaxPricePerKg: fen(500), Destination: "jiangnan-market"})
		run, err := w.s.StartRun(ctx, w.staff, matching.RunOptions{})
		if err != nil || len(run.Allocations) != 1 {
			t.Fatalf("round %d: run %+v %v", i, run, err)
		}
		al := run.Allocations[0]
		if _, _, err := w.s.Decide(ctx, w.baseA, al.ID, matching.Accepted); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var decideErr, updateErr error
		wg.Go(func() { _, _, decideErr = w.s.Decide(ctx, w.buyerA, al.ID, matching.Accepted) })
		wg.Go(func() {
			_, updateErr = w.s.UpdateOffer(ctx, w.baseA, o.ID, matching.OfferUpdate{QuantityKg: new(int64(1000))})
		})
		wg.Wait()
		got, err := w.s.Offer(ctx, w.baseA, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.OrderedKg > got.QuantityKg {
			t.Fatalf("round %d: %d kg ordered of an offer of %d kg", i, got.OrderedKg, got.QuantityKg)
		}
		switch {
		case decideErr == nil && errs.CodeOf(updateErr) == errs.Conflict && got.OrderedKg == 2000 && got.QuantityKg == 2000:
		case updateErr == nil && errs.CodeOf(decideErr) == errs.Conflict && got.OrderedKg == 0 && got.QuantityKg == 1000:
		default:
			t.Fatalf("round %d: answer %v, change %v, offer %+v", i, decideErr, updateErr, got)
		}
		if _, err := w.s.WithdrawDemand(ctx, w.buyerA, d.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := w.s.WithdrawOffer(ctx, w.baseA, o.ID); err != nil {
			t.Fatal(err)
		}
	}
}

// No record, however odd, can make the runs fail for everyone: times outside the solver's range are refused
// when posted, and a pool beyond the solver's limits is cut, oldest records first, the rest told why.
func TestOneRecordCannotBreakTheRuns(t *testing.T) {
	w := newWorld(t)
	_, err := w.s.CreateOffer(ctx, w.baseA, matching.NewOffer{Product: "choy-sum", Grade: 1, QuantityKg: 10, MinPricePerKg: fen(1),
		Origin: "shanghang", HarvestedAt: new(time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC))})
	if got := fields(err); !slices.Contains(got, "harvested_at") {
		t.Fatalf("harvest in 1999: %v", err)
	}
	_, err = w.s.CreateDemand(ctx, w.buyerA, matching.NewDemand{Product: "choy-sum", MinGrade: 1, QuantityKg: 10, MaxPricePerKg: fen(1),
		Destination: "jiangnan-market", DeliverBy: new(time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC))})
	if !slices.Equal(fields(err), []string{"deliver_by"}) {
		t.Fatalf("deliver by 2300: %v", err)
	}
	// 1,001 offers of 10,000 t each: one more than the solver's 10^10 kg.
	if _, err := w.s.DB().Exec(ctx, `INSERT INTO offers (org_id, product, grade, quantity_kg, min_price_fen, origin, harvested_at, available_from)
		SELECT $1, 'choy-sum', 1, 10000000, 300, 'shanghang', $2, $2 FROM generate_series(1, 1001)`, w.baseA.OrgID, *at(6)); err != nil {
		t.Fatal(err)
	}
	w.demand(t, w.buyerA, matching.NewDemand{MinGrade: 1, QuantityKg: 5000, MaxPricePerKg: fen(500), Destination: "jiangnan-market"})
	run, err := w.s.StartRun(ctx, w.staff, matching.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if run.Offers != 1000 || run.MatchedKg != 5000 || run.Summary.ByReason["pool_limit"] != 1 {
		t.Fatalf("run over an oversized pool: %d offers, %d kg, %v", run.Offers, run.MatchedKg, run.Summary.ByReason)
	}
	last := run.Unmatched[len(run.Unmatched)-1]
	if last.Side != "offer" || last.ReasonCodes[0] != "pool_limit" || !strings.Contains(last.Reasons[0], "pool is full") {
		t.Fatalf("the offer left out: %+v", last)
	}
}
