package matching_test

import (
	"slices"
	"testing"
	"time"

	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/matching"
)

// A round whose answers would be due at its close is refused: the sweep after the close would lapse every
// allocation before either side saw it.
func TestRoundNeedsAnAnswerWindow(t *testing.T) {
	w := newWorld(t)
	w.clock(opens.Add(time.Hour))
	at := closes
	_, err := w.s.CreateRound(ctx, w.staff, matching.NewRound{Name: "no window", OpensAt: &opens, ClosesAt: &closes, AnswerBy: &at})
	if e := errs.As(err); e == nil || e.Code != errs.Unprocessable || len(e.Fields) != 1 || e.Fields[0].Field != "answer_by" {
		t.Fatalf("answer_by = closes_at: %v", err)
	}
}

// A close that comes hours late (every process down) still leaves both sides the round's answer window.
func TestLateCloseKeepsTheAnswerWindow(t *testing.T) {
	m := newMarket(t)
	late := closes.Add(11 * time.Hour) // an hour before the round's answer_by
	m.setClock(late)
	runs, err := m.s.CloseDueRounds(ctx, late)
	if err != nil || len(runs) != 1 {
		t.Fatalf("close: %v %v", runs, err)
	}
	if want := late.Add(12 * time.Hour); runs[0].AnswerBy == nil || !runs[0].AnswerBy.Equal(want) {
		t.Fatalf("the late run's answer_by %v, want %v", runs[0].AnswerBy, want)
	}
	if n, err := m.s.LapseAllocations(ctx, m.round.AnswerBy.Add(time.Minute)); err != nil || n != 0 {
		t.Fatalf("the sweep after the round's own deadline lapsed %d: %v", n, err)
	}
}

// A follow-up after the deadline matches the kilograms of unanswered allocations even before the sweep has
// marked them, and leaves out the demands whose deliver-by has passed.
func TestFollowUpTakesLapsedKilogramsAndSkipsPassedDeliveries(t *testing.T) {
	m := newMarket(t)
	m.setClock(closes.Add(time.Minute))
	if runs, err := m.s.CloseDueRounds(ctx, closes.Add(time.Minute)); err != nil || len(runs) != 1 || runs[0].MatchedKg != 2800 {
		t.Fatalf("close: %+v %v", runs, err)
	}
	m.setClock(m.round.AnswerBy.Add(time.Second)) // nobody answered; no sweep has run
	run, err := m.s.RunRound(ctx, m.staff, m.round.ID, matching.FollowUp{})
	if err != nil || run.MatchedKg != 2800 {
		t.Fatalf("a follow-up after the deadline: matched %d kg, %v", run.MatchedKg, err)
	}
	// 35 h after the close: demand A (due at 40 h) still open; the standing demand's (due by the end of the
	// Saturday, 30 h after) has passed.
	m.setClock(closes.Add(35 * time.Hour))
	run, err = m.s.RunRound(ctx, m.staff, m.round.ID, matching.FollowUp{})
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Allocations) != 1 || run.Allocations[0].DemandID != m.dA.ID || run.MatchedKg != 2000 {
		t.Fatalf("the second follow-up's allocations: %+v", run.Allocations)
	}
	passed := 0
	for _, u := range run.Unmatched {
		if u.Side == "demand" && slices.Equal(u.ReasonCodes, []string{matching.ReasonDeliveryPassed}) {
			passed++
			if u.QuantityKg != 800 || len(u.Reasons) != 1 {
				t.Errorf("the passed demand: %+v", u)
			}
		}
	}
	if passed != 1 || run.Summary.ByReason[matching.ReasonDeliveryPassed] != 1 {
		t.Fatalf("demands left out as past their delivery: %d, summary %+v", passed, run.Summary)
	}
}

// A round whose delivery window a coordinator narrowed after a demand was posted into it still lets the buyer
// change the demand's price or note; only a new deliver_by is held to the new window.
func TestNarrowedRoundStillTakesItsDemandsChanges(t *testing.T) {
	m := newMarket(t)
	narrow := closes.Add(24 * time.Hour) // demand A is due at 40 h
	if _, err := m.s.UpdateRound(ctx, m.staff, m.round.ID, matching.RoundUpdate{DeliverBy: &narrow}); err != nil {
		t.Fatal(err)
	}
	if d, err := m.s.UpdateDemand(ctx, m.buyerA, m.dA.ID, matching.DemandUpdate{Note: new("请早上送到 mornings please")}); err != nil ||
		d.Note != "请早上送到 mornings please" {
		t.Fatalf("a note on a demand of the narrowed round: %+v %v", d, err)
	}
	later := closes.Add(30 * time.Hour)
	_, err := m.s.UpdateDemand(ctx, m.buyerA, m.dA.ID, matching.DemandUpdate{DeliverBy: &later})
	if e := errs.As(err); e == nil || len(e.Fields) != 1 || e.Fields[0].Field != "deliver_by" {
		t.Fatalf("a deliver_by outside the narrowed window: %v", err)
	}
}

// A close a few seconds late (the scheduler's tick) keeps the round's own deadline, however short its window.
func TestCloseATickLateKeepsTheRoundsDeadline(t *testing.T) {
	w := newWorld(t)
	w.clock(opens.Add(time.Hour))
	answerBy := closes.Add(10 * time.Second)
	r := w.round(t, matching.NewRound{AnswerBy: &answerBy})
	at := closes.Add(9 * time.Second)
	runs, err := w.s.CloseDueRounds(ctx, at)
	if err != nil || len(runs) != 1 {
		t.Fatalf("close: %v %v", runs, err)
	}
	if runs[0].AnswerBy == nil || !runs[0].AnswerBy.Equal(r.AnswerBy) {
		t.Fatalf("the run's answer_by %v, want the round's %v", runs[0].AnswerBy, r.AnswerBy)
	}
}
