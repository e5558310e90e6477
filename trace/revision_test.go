package trace_test

import (
	"context"
	"testing"
	"time"

	"github.com/suilong/suilong/trace"
)

// A lot's revision, which keeps its report in memory, moves with what its page shows: events and late
// readings in its legs move it; its verdict being stored and late readings elsewhere do not.
func TestRevisionFollowsWhatThePageShows(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	h := time.Now().Add(-30 * time.Hour).Truncate(time.Minute)
	lot, err := fx.svc.CreateLot(ctx, fx.base, trace.NewLot{Product: "choy-sum", QuantityKg: 100, BaseName: "基地", County: "上杭县", HarvestedAt: h})
	if err != nil {
		t.Fatal(err)
	}
	rev := func() int64 {
		t.Helper()
		_, r, err := fx.svc.Store.LotRevision(ctx, lot.Code)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	moved := func(what string, want bool, do func() error) {
		t.Helper()
		before := rev()
		if err := do(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got := rev() != before; got != want {
			t.Errorf("%s: revision moved %v, want %v", what, got, want)
		}
	}
	moved("a load", true, func() error {
		_, err := fx.svc.AddEvent(ctx, fx.base, lot.ID, trace.NewEvent{Kind: trace.Load, At: h.Add(time.Hour), AssetID: "LY-TRK-0001"})
		return err
	})
	moved("the receipt", true, func() error {
		_, err := fx.svc.AddEvent(ctx, fx.base, lot.ID, trace.NewEvent{Kind: trace.Receive, At: h.Add(5 * time.Hour)})
		return err
	})
	moved("its verdict stored", false, func() error {
		return fx.svc.Store.SetVerdict(ctx, lot.ID, trace.Verdict{Code: trace.Compliant, Compliant: true})
	})
	moved("late readings in its leg", true, func() error {
		return fx.svc.ReadingsArrivedLate(ctx, []trace.ReadingsLate{{AssetID: "LY-TRK-0001", From: h.Add(2 * time.Hour), To: h.Add(2 * time.Hour)}})
	})
	moved("late readings of the truck after the receipt", false, func() error {
		return fx.svc.ReadingsArrivedLate(ctx, []trace.ReadingsLate{{AssetID: "LY-TRK-0001", From: h.Add(5 * time.Hour), To: h.Add(6 * time.Hour)}})
	})
	moved("late readings of another asset", false, func() error {
		return fx.svc.ReadingsArrivedLate(ctx, []trace.ReadingsLate{{AssetID: "LY-CS-0001", From: h, To: h.Add(6 * time.Hour)}})
	})
}
