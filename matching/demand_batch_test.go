package matching_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/matching"
)

// Demands posted at the same moment are written together, and each caller still gets exactly its own demand
// back, or its own error: 300 posts from two buyers at once, every tenth for a product that does not exist,
// come back with their own kilograms, note and buyer, each written once, and the bad ones refused by field.
func TestDemandsPostedTogetherComeBackToTheirOwnCallers(t *testing.T) {
	w := newWorld(t)
	const n = 300
	type answer struct {
		d   matching.Demand
		err error
	}
	answers := make([]answer, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			p, product := w.buyerA, "choy-sum"
			if i%2 == 1 {
				p = w.buyerB
			}
			if i%10 == 3 {
				product = "durian"
			}
			d, err := w.s.CreateDemand(ctx, p, matching.NewDemand{Product: product, MinGrade: 2, QuantityKg: int64(100 + i),
				MaxPricePerKg: fen(500), Destination: "jiangnan-market", DeliverBy: at(28), Note: fmt.Sprintf("第%d号 no. %d", i, i),
				RequiredCertifications: []string{"green-food", "cailanzi-base"}[:i%3%2+1]})
			answers[i] = answer{d, err}
		})
	}
	wg.Wait()
	ids := map[int64]bool{}
	for i, a := range answers {
		if i%10 == 3 {
			if errs.CodeOf(a.err) != errs.Unprocessable || !slices.Contains(fields(a.err), "product") {
				t.Errorf("post %d, an unknown product: %+v %v", i, a.d, a.err)
			}
			continue
		}
		want := w.buyerA
		if i%2 == 1 {
			want = w.buyerB
		}
		d := a.d
		if a.err != nil || d.QuantityKg != int64(100+i) || d.Note != fmt.Sprintf("第%d号 no. %d", i, i) || d.OrgID != want.OrgID ||
			d.OrgName != want.OrgName || len(d.RequiredCertifications) != i%3%2+1 || d.Status != matching.StatusOpen || d.AvailableKg != d.QuantityKg {
			t.Errorf("post %d came back as %+v, %v", i, d, a.err)
		}
		if ids[d.ID] {
			t.Errorf("id %d answered twice", d.ID)
		}
		ids[d.ID] = true
		if got, err := w.s.Demand(ctx, want, d.ID); err != nil || got.QuantityKg != d.QuantityKg || got.Note != d.Note {
			t.Errorf("demand %d as stored: %+v %v", d.ID, got, err)
		}
	}
	// Buyer A posted the even ones (all good), buyer B the odd ones, among them the unknown products.
	for p, want := range map[auth.Principal]int{w.buyerA: n / 2, w.buyerB: n/2 - n/10} {
		if _, total, err := w.s.Demands(ctx, p, matching.Filter{}); err != nil || total != want {
			t.Errorf("%s has %d demands (%v), want %d", p.OrgName, total, err, want)
		}
	}
}
