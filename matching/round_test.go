package matching_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/matching"
)

// The round of these tests: open from 19 Nov, closing on Friday 20 Nov 2026 at 10:00 UTC (18:00 in Guangzhou),
// choy-sum only, to the Jiangnan market. Its defaults: deliveries to Sunday 22 Nov 10:00 UTC, answers by
// 20 Nov 22:00 UTC.
var (
	opens  = time.Date(2026, 11, 19, 0, 0, 0, 0, time.UTC)
	closes = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
)

// clock sets the store's time and returns a function that moves it.
func (w *world) clock(t time.Time) func(time.Time) {
	var mu sync.Mutex
	w.s.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return t }
	return func(n time.Time) { mu.Lock(); t = n; mu.Unlock() }
}

func (w *world) round(t *testing.T, n matching.NewRound) matching.Round {
	t.Helper()
	if n.Name == "" {
		n.Name = "第48周菜心 / week 48 choy-sum"
	}
	if n.OpensAt == nil {
		n.OpensAt = &opens
	}
	if n.ClosesAt == nil {
		n.ClosesAt = &closes
	}
	r, err := w.s.CreateRound(ctx, w.staff, n)
	if err != nil {
		t.Fatalf("create round: %v", err)
	}
	return r
}

func TestRoundsValidateAndOnlyCoordinatorsKeepThem(t *testing.T) {
	w := newWorld(t)
	setClock := w.clock(opens.Add(time.Hour))
	if _, err := w.s.CreateRound(ctx, w.baseA, matching.NewRound{Name: "x", OpensAt: &opens, ClosesAt: &closes}); errs.CodeOf(err) != errs.Forbidden {
		t.Fatalf("a base opens a round: %v", err)
	}
	_, err := w.s.CreateRound(ctx, w.staff, matching.NewRound{OpensAt: &closes, ClosesAt: &opens, Products: []string{"durian"},
		Destinations: []string{"Jiangnan Market"}})
	if want := []string{"name", "closes_at", "destinations[0]", "closes_at", "products[0]"}; !slices.Equal(fields(err), want) {
		t.Fatalf("bad round: %v, fields %v, want %v", err, fields(err), want)
	}
	r := w.round(t, matching.NewRound{Products: []string{"choy-sum"}, Destinations: []string{"jiangnan-market"}})
	if !r.DeliverFrom.Equal(closes) || !r.DeliverBy.Equal(closes.Add(48*time.Hour)) || !r.AnswerBy.Equal(closes.Add(12*time.Hour)) ||
		r.Status != matching.RoundOpen || !r.Accepting || r.PriceRule != matching.PriceMidpoint {
		t.Fatalf("defaults: %+v", r)
	}
	if _, _, err := w.s.Rounds(ctx, w.gate, matching.RoundFilter{}); errs.CodeOf(err) != errs.Forbidden {
		t.Fatalf("a gateway lists rounds: %v", err)
	}
	if _, err := w.s.Round(ctx, w.buyerB, r.ID); err != nil {
		t.Fatalf("a buyer reads a round: %v", err)
	}
	if _, err := w.s.Round(ctx, w.gate, r.ID); errs.CodeOf(err) != errs.Forbidden {
		t.Fatalf("a gateway reads a round: %v", err)
	}
	list, total, err := w.s.Rounds(ctx, w.baseA, matching.RoundFilter{Accepting: true})
	if err != nil || total != 1 || list[0].ID != r.ID {
		t.Fatalf("a base lists the rounds taking offers: %v %d %v", list, total, err)
	}

	// Posting into the round: it must take records now, and take the product and destination.
	id := r.ID
	other := w.round(t, matching.NewRound{Name: "later", OpensAt: new(closes.Add(time.Hour)), ClosesAt: new(closes.Add(24 * time.Hour))})
	_, err = w.s.CreateOffer(ctx, w.baseA, matching.NewOffer{Product: "choy-sum", Grade: 1, QuantityKg: 100, MinPricePerKg: fen(300),
		Origin: "shanghang", HarvestedAt: at(6), RoundID: &other.ID})
	if !slices.Equal(fields(err), []string{"round_id"}) {
		t.Fatalf("an offer into a round not open yet: %v", err)
	}
	if _, err = w.s.CreateOffer(ctx, w.baseA, matching.NewOffer{Product: "choy-sum", Grade: 1, QuantityKg: 100, MinPricePerKg: fen(300),
		Origin: "shanghang", HarvestedAt: at(6), RoundID: new(int64(99999))}); !slices.Equal(fields(err), []string{"round_id"}) {
		t.Fatalf("an offer into no round: %v", err)
	}
	if _, err := w.s.CreateProduct(ctx, matching.Product{Name: "gai-lan", ShelfLifeHours: 96}); err != nil {
		t.Fatal(err)
	}
	_, err = w.s.CreateOffer(ctx, w.baseA, matching.NewOffer{Product: "gai-lan", Grade: 1, QuantityKg: 100, MinPricePerKg: fen(300),
		Origin: "shanghang", HarvestedAt: at(6), RoundID: &id})
	if !slices.Equal(fields(err), []string{"product"}) {
		t.Fatalf("an offer of a product the round does not take: %v", err)
	}
	_, err = w.s.CreateDemand(ctx, w.buyerA, matching.NewDemand{Product: "choy-sum", MinGrade: 2, QuantityKg: 100, MaxPricePerKg: fen(500),
		Destination: "tianhe-canteens", RoundID: &id})
	if !slices.Equal(fields(err), []string{"destination"}) {
		t.Fatalf("a demand to a destination the round does not deliver to: %v", err)
	}
	_, err = w.s.CreateDemand(ctx, w.buyerA, matching.NewDemand{Product: "choy-sum", MinGrade: 2, QuantityKg: 100, MaxPricePerKg: fen(500),
		Destination: "jiangnan-market", DeliverBy: new(closes.Add(72 * time.Hour)), RoundID: &id})
	if !slices.Equal(fields(err), []string{"deliver_by"}) {
		t.Fatalf("a demand delivered after the round's window: %v", err)
	}
	d := w.demand(t, w.buyerA, matching.NewDemand{MinGrade: 2, QuantityKg: 100, MaxPricePerKg: fen(500), Destination: "jiangnan-market",
		DeliverBy: new(r.DeliverBy.Add(-time.Hour)), RoundID: &id})
	if d.RoundID == nil || *d.RoundID != id {
		t.Fatalf("a demand in the round: %+v", d)
	}
	dd, err := w.s.CreateDemand(ctx, w.buyerA, matching.NewDemand{Product: "choy-sum", MinGrade: 2, QuantityKg: 100,
		MaxPricePerKg: fen(500), Destination: "jiangnan-market", RoundID: &id})
	if err != nil || !dd.DeliverBy.Equal(r.DeliverBy) {
		t.Fatalf("a demand of the round without deliver_by takes the round's: %+v %v", dd, err)
	}
	if _, err := w.s.UpdateDemand(ctx, w.buyerA, d.ID, matching.DemandUpdate{Destination: new("tianhe-canteens"),
		DeliverBy: new(closes.Add(-time.Hour))}); !slices.Equal(fields(err), []string{"destination", "deliver_by"}) {
		t.Fatalf("a demand of the round changed to terms the round does not take: %v", err)
	}
	inRound, total, err := w.s.Demands(ctx, w.buyerA, matching.Filter{RoundID: &id})
	if err != nil || total != 2 || len(inRound) != 2 {
		t.Fatalf("the buyer's demands in the round: %d %v", total, err)
	}

	// Changing a round: coordinators only, before the close.
	if _, err := w.s.UpdateRound(ctx, w.buyerA, id, matching.RoundUpdate{Name: new("x")}); errs.CodeOf(err) != errs.Forbidden {
		t.Fatalf("a buyer changes a round: %v", err)
	}
	later := closes.Add(2 * time.Hour)
	r2, err := w.s.UpdateRound(ctx, w.staff, id, matching.RoundUpdate{ClosesAt: &later})
	if err != nil || !r2.ClosesAt.Equal(later) || !r2.AnswerBy.Equal(later.Add(12*time.Hour)) || r2.Version != 2 {
		t.Fatalf("a later close moves the answer deadline with it: %+v %v", r2, err)
	}
	setClock(later.Add(time.Minute))
	if _, err := w.s.UpdateRound(ctx, w.staff, id, matching.RoundUpdate{Name: new("x")}); errs.CodeOf(err) != errs.Conflict {
		t.Fatalf("a change after the close: %v", err)
	}
	_, err = w.s.CreateOffer(ctx, w.baseA, matching.NewOffer{Product: "choy-sum", Grade: 1, QuantityKg: 100, MinPricePerKg: fen(300),
		Origin: "shanghang", HarvestedAt: at(6), RoundID: &id})
	if !slices.Equal(fields(err), []string{"round_id"}) {
		t.Fatalf("an offer after the close: %v", err)
	}

	// Cancelling sends the round's records to the open pool.
	if _, err := w.s.CancelRound(ctx, w.baseA, id); errs.CodeOf(err) != errs.Forbidden {
		t.Fatalf("a base cancels: %v", err)
	}
	c, err := w.s.CancelRound(ctx, w.staff, id)
	if err != nil || c.Status != matching.RoundCancelled {
		t.Fatalf("cancel: %+v %v", c, err)
	}
	if got, _ := w.s.Demand(ctx, w.buyerA, d.ID); got.RoundID != nil {
		t.Fatalf("a demand of a cancelled round: %+v", got)
	}
	if _, err := w.s.RunRound(ctx, w.staff, id, matching.FollowUp{}); errs.CodeOf(err) != errs.Conflict {
		t.Fatalf("a follow-up of a cancelled round: %v", err)
	}
}
