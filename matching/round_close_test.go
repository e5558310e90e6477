package matching_test

import (
	"bytes"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
	"github.com/suilong/suilong/matching"
)

// market is a round with a known pool: in the round base A offers 3000 kg of grade 1 at 3.20 from Shanghang
// and base B 1000 kg of grade 2 at 2.80 from Wuping; buyer A wants 2000 kg of grade 1 at up to 5.00, and buyer
// B's standing demand (800 kg of grade 2 at up to 4.60, Saturdays) fits it. Outside the round base A offers 500
// kg and buyer B wants 300 kg. Standing demands that must not fit: paused, Mondays only, expired, and to a
// destination the round does not deliver to.
type market struct {
	*world
	round                   matching.Round
	oA, oB, oOpen           matching.Offer
	dA, dOpen               matching.Demand
	standing                matching.StandingDemand
	paused, monday, expired matching.StandingDemand
	canteens                matching.StandingDemand
	setClock                func(time.Time)
}

func newMarket(t *testing.T) *market {
	t.Helper()
	m := &market{world: newWorld(t)}
	m.setClock = m.clock(opens.Add(time.Hour))
	m.round = m.world.round(t, matching.NewRound{Products: []string{"choy-sum"}, Destinations: []string{"jiangnan-market"}})
	id := &m.round.ID
	m.oA = m.offer(t, m.baseA, matching.NewOffer{Grade: 1, QuantityKg: 3000, MinPricePerKg: fen(320), Origin: "shanghang", RoundID: id})
	m.oB = m.offer(t, m.baseB, matching.NewOffer{Grade: 2, QuantityKg: 1000, MinPricePerKg: fen(280), Origin: "wuping", RoundID: id})
	m.oOpen = m.offer(t, m.baseA, matching.NewOffer{Grade: 1, QuantityKg: 500, MinPricePerKg: fen(300), Origin: "shanghang"})
	m.dA = m.demand(t, m.buyerA, matching.NewDemand{MinGrade: 1, QuantityKg: 2000, MaxPricePerKg: fen(500), Destination: "jiangnan-market",
		DeliverBy: new(closes.Add(40 * time.Hour)), RoundID: id})
	m.dOpen = m.demand(t, m.buyerB, matching.NewDemand{MinGrade: 2, QuantityKg: 300, MaxPricePerKg: fen(500), Destination: "jiangnan-market"})
	sd := func(p auth.Principal, n matching.NewStandingDemand) matching.StandingDemand {
		t.Helper()
		if n.Product == "" {
			n.Product, n.MinGrade, n.QuantityKg, n.MaxPricePerKg, n.Destination = "choy-sum", 2, 800, fen(460), "jiangnan-market"
		}
		s, err := m.s.CreateStandingDemand(ctx, p, n)
		if err != nil {
			t.Fatalf("standing demand: %v", err)
		}
		return s
	}
	m.standing = sd(m.buyerB, matching.NewStandingDemand{Weekdays: []int{6}, ValidFrom: new("2026-11-01")})
	m.paused = sd(m.buyerB, matching.NewStandingDemand{})
	if _, err := m.s.PauseStandingDemand(ctx, m.buyerB, m.paused.ID, true); err != nil {
		t.Fatal(err)
	}
	m.monday = sd(m.buyerA, matching.NewStandingDemand{Weekdays: []int{1}})
	m.expired = sd(m.buyerA, matching.NewStandingDemand{ValidUntil: new("2026-11-19")})
	m.canteens = sd(m.buyerB, matching.NewStandingDemand{Product: "choy-sum", MinGrade: 2, QuantityKg: 100, MaxPricePerKg: fen(460),
		Destination: "tianhe-canteens"})
	return m
}

func TestStandingDemandsValidateAndBelongToTheirBuyer(t *testing.T) {
	m := newMarket(t)
	_, err := m.s.CreateStandingDemand(ctx, m.buyerA, matching.NewStandingDemand{Product: "choy-sum", MinGrade: 9, QuantityKg: 10,
		MaxPricePerKg: fen(100), Destination: "jiangnan-market", Weekdays: []int{0, 3, 3}, ValidFrom: new("2026-12-01"), ValidUntil: new("1 Dec")})
	if want := []string{"min_grade", "weekdays[0]", "weekdays[2]", "valid_until"}; !slices.Equal(fields(err), want) {
		t.Fatalf("bad standing demand: %v (fields %v)", err, fields(err))
	}
	if _, err := m.s.CreateStandingDemand(ctx, m.baseA, matching.NewStandingDemand{}); errs.CodeOf(err) != errs.Forbidden {
		t.Fatalf("a base posts a standing demand: %v", err)
	}
	if _, err := m.s.StandingDemand(ctx, m.buyerA, m.standing.ID); errs.CodeOf(err) != errs.NotFound {
		t.Fatalf("another buyer reads it: %v", err)
	}
	if _, err := m.s.UpdateStandingDemand(ctx, m.staff, m.standing.ID, matching.StandingDemandUpdate{QuantityKg: new(int64(5))}); errs.CodeOf(err) != errs.Forbidden {
		t.Fatalf("a coordinator changes it: %v", err)
	}
	if err := m.s.DeleteStandingDemand(ctx, m.buyerA, m.standing.ID); errs.CodeOf(err) != errs.NotFound {
		t.Fatalf("another buyer deletes it: %v", err)
	}
	list, total, err := m.s.StandingDemands(ctx, m.buyerB, matching.Page{})
	if err != nil || total != 3 || slices.ContainsFunc(list, func(s matching.StandingDemand) bool { return s.OrgID != m.buyerB.OrgID }) {
		t.Fatalf("buyer B's standing demands: %d %v", total, err)
	}
	if _, total, _ := m.s.StandingDemands(ctx, m.staff, matching.Page{}); total != 5 {
		t.Fatalf("a coordinator sees %d standing demands, want 5", total)
	}
	up, err := m.s.UpdateStandingDemand(ctx, m.buyerA, m.expired.ID, matching.StandingDemandUpdate{ValidUntil: new(""), Weekdays: &[]int{7, 5}})
	if err != nil || up.ValidUntil != nil || !slices.Equal(up.Weekdays, []int{5, 7}) || up.Version != 2 {
		t.Fatalf("clearing valid_until: %+v %v", up.StandingDemand, err)
	}
}

// At its close the round runs once, whatever the number of processes and callers: two stores on two pools of
// the same database, four callers each.
func TestRoundRunsOnceAtItsCloseWithItsStandingDemands(t *testing.T) {
	m := newMarket(t)
	if runs, err := m.s.CloseDueRounds(ctx, closes.Add(-time.Second)); err != nil || len(runs) != 0 {
		t.Fatalf("before the close: %v %v", runs, err)
	}
	pool2, err := pg.Open(ctx, m.s.DB().(*pgxpool.Pool).Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer pool2.Close()
	other := matching.NewStore(pool2)
	var mu sync.Mutex
	var runs []matching.Run
	var wg sync.WaitGroup
	for i := range 8 {
		s := m.s
		if i%2 == 1 {
			s = other
		}
		wg.Go(func() {
			got, err := s.CloseDueRounds(ctx, closes.Add(time.Minute))
			if err != nil {
				t.Errorf("close: %v", err)
			}
			mu.Lock()
			runs = append(runs, got...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(runs) != 1 {
		t.Fatalf("%d runs at the close, want 1", len(runs))
	}
	run := runs[0]
	// oA→dA 2000 kg at 5.00−3.20−0.40 = 1.40; oB→standing 800 kg at 4.60−2.80−0.30 = 1.50.
	if run.RoundID == nil || *run.RoundID != m.round.ID || run.Offers != 2 || run.Demands != 2 || run.Objective != 2000*140+800*150 ||
		run.AnswerBy == nil || !run.AnswerBy.Equal(m.round.AnswerBy) || run.StartedByName != "round scheduler" {
		t.Fatalf("the round's run: %+v", run)
	}
	r, _ := m.s.Round(ctx, m.staff, m.round.ID)
	if r.Status != matching.RoundClosed || !slices.Equal(r.RunIDs, []int64{run.ID}) || r.Accepting {
		t.Fatalf("the round after its run: %+v", r)
	}
	// The open pool is untouched.
	if o, _ := m.s.Offer(ctx, m.baseA, m.oOpen.ID); o.ProposedKg != 0 || o.AvailableKg != 500 {
		t.Fatalf("an offer outside the round: %+v", o)
	}
	// Only the Saturday standing demand fits: it made one demand in the round, with its allocation.
	doc, err := m.s.StandingDemand(ctx, m.buyerB, m.standing.ID)
	if err != nil || len(doc.Rounds) != 1 {
		t.Fatalf("what the round made of the standing demand: %+v %v", doc, err)
	}
	sr := doc.Rounds[0]
	// Due by the end of the Saturday in the window (Friday 18:00 to Sunday 18:00, China time), not the Sunday.
	saturdayEnd := time.Date(2026, 11, 21, 23, 59, 59, 0, time.FixedZone("CST", 8*3600))
	if sr.RoundID != m.round.ID || sr.Demand.QuantityKg != 800 || !sr.Demand.DeliverBy.Equal(saturdayEnd) ||
		len(sr.Allocations) != 1 || sr.Allocations[0].QuantityKg != 800 || sr.Allocations[0].OfferID != m.oB.ID ||
		sr.Allocations[0].MinPricePerKg != nil || *sr.Demand.StandingDemandID != m.standing.ID {
		t.Fatalf("the standing demand's round: %+v", sr)
	}
	for _, s := range []matching.StandingDemand{m.paused, m.monday, m.expired, m.canteens} {
		p := m.buyerA
		if s.OrgID == m.buyerB.OrgID {
			p = m.buyerB
		}
		if doc, _ := m.s.StandingDemand(ctx, p, s.ID); len(doc.Rounds) != 0 {
			t.Errorf("standing demand %+v made %+v", s, doc.Rounds)
		}
	}
	// Closing again makes nothing: no run, no second demand.
	if again, err := m.s.CloseDueRounds(ctx, closes.Add(time.Hour)); err != nil || len(again) != 0 {
		t.Fatalf("a second close: %v %v", again, err)
	}
	if _, total, _ := m.s.Demands(ctx, m.staff, matching.Filter{RoundID: &m.round.ID}); total != 2 {
		t.Fatalf("%d demands in the round, want 2", total)
	}
}

// Allocations unanswered at the deadline lapse and return their kilograms; a follow-up run matches them
// again; the report counts it all.
func TestRoundLapseFollowUpAndReport(t *testing.T) {
	m := newMarket(t)
	m.setClock(closes.Add(time.Minute))
	runs, err := m.s.CloseDueRounds(ctx, closes.Add(time.Minute))
	if err != nil || len(runs) != 1 {
		t.Fatalf("close: %v %v", runs, err)
	}
	var toA, toB matching.Allocation
	for _, a := range runs[0].Allocations {
		if a.DemandID == m.dA.ID {
			toA = a
		} else {
			toB = a
		}
	}
	for _, p := range []auth.Principal{m.baseA, m.buyerA} {
		if _, _, err := m.s.Decide(ctx, p, toA.ID, matching.Accepted); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := m.s.Decide(ctx, m.baseB, toB.ID, matching.Accepted); err != nil {
		t.Fatal(err)
	}
	orders, _, _ := m.s.Orders(ctx, m.buyerA, matching.OrderFilter{})
	if len(orders) != 1 || orders[0].QuantityKg != 2000 {
		t.Fatalf("buyer A's orders: %+v", orders)
	}
	if err := m.s.MarkOrderDelivered(ctx, orders[0].ID, closes.Add(20*time.Hour)); err != nil {
		t.Fatal(err)
	}

	// Past the deadline buyer B's answer comes too late, before and after the sweep.
	m.setClock(m.round.AnswerBy)
	if _, _, err := m.s.Decide(ctx, m.buyerB, toB.ID, matching.Accepted); errs.CodeOf(err) != errs.Conflict {
		t.Fatalf("an answer after the deadline: %v", err)
	}
	if n, err := m.s.LapseAllocations(ctx, m.round.AnswerBy.Add(-time.Second)); err != nil || n != 0 {
		t.Fatalf("a sweep before the deadline lapsed %d: %v", n, err)
	}
	if n, err := m.s.LapseAllocations(ctx, m.round.AnswerBy); err != nil || n != 1 {
		t.Fatalf("the sweep lapsed %d, want 1: %v", n, err)
	}
	if n, _ := m.s.LapseAllocations(ctx, m.round.AnswerBy.Add(time.Hour)); n != 0 {
		t.Fatalf("a second sweep lapsed %d", n)
	}
	if a, _ := m.s.Allocation(ctx, m.baseB, toB.ID); a.Status != matching.AllocLapsed {
		t.Fatalf("the unanswered allocation: %+v", a)
	}
	if o, _ := m.s.Offer(ctx, m.baseB, m.oB.ID); o.AvailableKg != 1000 || o.ProposedKg != 0 {
		t.Fatalf("base B's offer after the lapse: %+v", o)
	}
	if a, _ := m.s.Allocation(ctx, m.baseA, toA.ID); a.Status != matching.AllocOrdered {
		t.Fatalf("the ordered allocation lapsed too: %+v", a)
	}

	rep, err := m.s.RoundReport(ctx, m.staff, m.round.ID)
	if err != nil {
		t.Fatal(err)
	}
	tot := rep.Totals
	if tot.OfferedKg != 4000 || tot.DemandedKg != 2800 || tot.MatchedKg != 2800 || tot.OrderedKg != 2000 || tot.DeliveredKg != 2000 ||
		tot.LapsedKg != 800 || tot.ProposedKg != 0 || tot.UnsoldKg != 2000 || tot.UnmetKg != 800 || *tot.Surplus != 2000*140 ||
		*tot.SurplusMatched != 2000*140+800*150 || tot.OrderedCNY != 2000*430 || rep.Scope != "round" || rep.Runs != 1 {
		t.Fatalf("totals: %+v", tot)
	}
	if len(rep.Bases) != 2 || len(rep.Buyers) != 2 {
		t.Fatalf("lines: %+v %+v", rep.Bases, rep.Buyers)
	}
	line := func(ls []matching.ReportLine, org int64) matching.ReportLine {
		for _, l := range ls {
			if l.OrgID == org {
				return l
			}
		}
		t.Fatalf("no line of %d in %+v", org, ls)
		return matching.ReportLine{}
	}
	if b := line(rep.Bases, m.baseB.OrgID); b.OfferedKg != 1000 || b.MatchedKg != 800 || b.LapsedKg != 800 || b.UnsoldKg != 1000 || b.OrderedKg != 0 {
		t.Fatalf("base B: %+v", b)
	}
	if b := line(rep.Buyers, m.buyerA.OrgID); b.DemandedKg != 2000 || b.OrderedKg != 2000 || b.DeliveredKg != 2000 || b.UnmetKg != 0 {
		t.Fatalf("buyer A: %+v", b)
	}
	offersLeft, kgLeft := 0, int64(0)
	for _, u := range rep.Unmatched {
		if u.Side == "offer" {
			offersLeft, kgLeft = offersLeft+u.Records, kgLeft+u.Kg
		}
	}
	if offersLeft != 2 || kgLeft != 1200 {
		t.Fatalf("unmatched offers: %+v", rep.Unmatched)
	}

	// A base sees its own line only, without surplus.
	own, err := m.s.RoundReport(ctx, m.baseB, m.round.ID)
	if err != nil || own.Scope != "own" || len(own.Bases) != 1 || own.Bases[0].OrgID != m.baseB.OrgID || len(own.Buyers) != 0 ||
		own.Totals.OfferedKg != 1000 || own.Totals.DemandedKg != 0 || own.Totals.Surplus != nil || own.Bases[0].Surplus != nil {
		t.Fatalf("base B's report: %+v %v", own, err)
	}
	for _, u := range own.Unmatched {
		if u.Side != "offer" || u.Kg != 200 {
			t.Fatalf("base B sees unmatched %+v", own.Unmatched)
		}
	}
	if _, err := m.s.RoundReport(ctx, m.gate, m.round.ID); errs.CodeOf(err) != errs.Forbidden {
		t.Fatalf("a gateway's report: %v", err)
	}

	// A follow-up over what is left: base B's 1000 kg and the standing demand's 800 again.
	if _, err := m.s.RunRound(ctx, m.buyerB, m.round.ID, matching.FollowUp{}); errs.CodeOf(err) != errs.Forbidden {
		t.Fatalf("a buyer's follow-up: %v", err)
	}
	now := m.round.AnswerBy.Add(time.Hour)
	m.setClock(now)
	fu, err := m.s.RunRound(ctx, m.staff, m.round.ID, matching.FollowUp{})
	if err != nil || fu.MatchedKg != 800 || fu.AnswerBy == nil || !fu.AnswerBy.Equal(now.Add(12*time.Hour)) || *fu.RoundID != m.round.ID {
		t.Fatalf("follow-up: %+v %v", fu, err)
	}
	if o, _ := m.s.Offer(ctx, m.baseA, m.oOpen.ID); o.ProposedKg != 0 {
		t.Fatalf("the follow-up touched the open pool: %+v", o)
	}
	rep, _ = m.s.RoundReport(ctx, m.staff, m.round.ID)
	if rep.Runs != 2 || rep.Totals.MatchedKg != 3600 || rep.Totals.ProposedKg != 800 || rep.Totals.UnmetKg != 0 {
		t.Fatalf("after the follow-up: %+v", rep.Totals)
	}
	var csv bytes.Buffer
	if err := rep.WriteCSV(&csv); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(csv.String(), "\n")
	if !strings.HasPrefix(lines[0], "\ufeff类别 kind,") || !strings.HasPrefix(lines[1], "total,,,,,4000,2800,3600,800,2000,2000,") {
		t.Fatalf("CSV: %q", lines[:2])
	}
}

// A standing demand that requires a passed inspection makes demands that require it, so the round's run keeps
// it from offers that name no inspected lot, and says so.
func TestStandingDemandPassesOnItsInspectionRule(t *testing.T) {
	m := newMarket(t)
	sd, err := m.s.CreateStandingDemand(ctx, m.buyerA, matching.NewStandingDemand{Product: "choy-sum", MinGrade: 1, QuantityKg: 500,
		MaxPricePerKg: fen(500), Destination: "jiangnan-market", Weekdays: []int{6}, RequireInspection: true})
	if err != nil || !sd.RequireInspection {
		t.Fatalf("standing demand: %+v %v", sd, err)
	}
	runs, err := m.s.CloseDueRounds(ctx, closes.Add(time.Minute))
	if err != nil || len(runs) != 1 {
		t.Fatalf("close: %v %v", runs, err)
	}
	doc, err := m.s.StandingDemand(ctx, m.buyerA, sd.ID)
	if err != nil || len(doc.Rounds) != 1 {
		t.Fatalf("what the round made of it: %+v %v", doc, err)
	}
	made := doc.Rounds[0].Demand
	if !made.RequireInspection || len(doc.Rounds[0].Allocations) != 0 {
		t.Fatalf("the demand it made: %+v, allocations %+v", made, doc.Rounds[0].Allocations)
	}
	run, err := m.s.GetRun(ctx, m.staff, runs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, u := range run.Unmatched {
		if u.Side == "demand" && u.ID == made.ID {
			codes = u.ReasonCodes
		}
	}
	if !slices.Contains(codes, "inspection_missing") {
		t.Fatalf("the demand's reasons: %v (unmatched %+v)", codes, run.Unmatched)
	}
	// Turned off, it is off for the rounds to come.
	off := false
	if doc, err = m.s.UpdateStandingDemand(ctx, m.buyerA, sd.ID, matching.StandingDemandUpdate{RequireInspection: &off}); err != nil ||
		doc.RequireInspection {
		t.Fatalf("update: %+v %v", doc.StandingDemand, err)
	}
}
