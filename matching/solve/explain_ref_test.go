package solve

import (
	"fmt"
	"reflect"
	"testing"
)

// The pair-by-pair explanation the sweep replaced (explain.go), kept as the reference TestSweepIsTally
// holds it to.

func (pr *prepared) refExplainOffers(p *problem, out *outcome) []unmatchedAt {
	var list []unmatchedAt
	var none string // the one sentence for every offer of a product nobody asked for
	var scratch []byte
	for i := range p.offers {
		o := &p.offers[i]
		left := o.o.QuantityKg - out.offerUsed[i]
		if left <= 0 {
			continue
		}
		u := Unmatched{ID: o.o.ID, Side: SideOffer, QuantityKg: left}
		if len(p.demands) == 0 {
			if none == "" {
				none = fmt.Sprintf("无需求：本次没有 %s 的需求 / no demand: no demand for %s in this run", p.product.Name, p.product.Name)
			}
			u.Reasons = []Reason{{Code: ReasonNoDemand, Message: none}}
		} else {
			var t tally
			for j := range p.demands {
				d := &p.demands[j]
				t.add(p, pr.lane(o.origin, d.dest), o, d)
			}
			u.Reasons, scratch = t.reasons(scratch, p, SideOffer)
		}
		list = append(list, unmatchedAt{u, int32(i)})
	}
	return list
}

func (pr *prepared) refExplainDemands(p *problem, out *outcome) []unmatchedAt {
	var list []unmatchedAt
	var none string
	var scratch []byte
	for j := range p.demands {
		d := &p.demands[j]
		left := d.d.QuantityKg - out.demandUsed[j]
		if left <= 0 {
			continue
		}
		u := Unmatched{ID: d.d.ID, Side: SideDemand, QuantityKg: left}
		if len(p.offers) == 0 {
			if none == "" {
				none = fmt.Sprintf("无供应：本次没有 %s 的供应 / no offer: no offer of %s in this run", p.product.Name, p.product.Name)
			}
			u.Reasons = []Reason{{Code: ReasonNoOffer, Message: none}}
		} else {
			var t tally
			for i := range p.offers {
				o := &p.offers[i]
				t.add(p, pr.lane(o.origin, d.dest), o, d)
			}
			u.Reasons, scratch = t.reasons(scratch, p, SideDemand)
		}
		list = append(list, unmatchedAt{u, int32(j)})
	}
	return list
}

// TestSweepIsTally: the sweep explains every record exactly as the pair-by-pair tally does (same reasons,
// counts, examples and sentences), after an optimal solve and with nothing allocated at all, on instances
// where every rule and every tie is common: missing lanes, short shelf lives, coarse times and prices.
func TestSweepIsTally(t *testing.T) {
	configs := []genConfig{
		{Offers: 60, Demands: 60, Products: 2, Origins: 3, Dests: 4, LaneShare: 0.6, MinKg: 1, MaxKg: 900, Coarse: true},
		{Offers: 80, Demands: 50, Products: 3, Origins: 4, Dests: 5, LaneShare: 0.8, MinKg: 100, MaxKg: 5000},
		{Offers: 30, Demands: 90, Products: 1, Origins: 7, Dests: 12, LaneShare: 1, MinKg: 200, MaxKg: 5000},
		{Offers: 60, Demands: 60, Products: 2, Origins: 3, Dests: 4, LaneShare: 0.8, MinKg: 1, MaxKg: 900, Coarse: true, Scheme: true},
		{Offers: 50, Demands: 70, Products: 2, Origins: 3, Dests: 4, LaneShare: 0.9, MinKg: 100, MaxKg: 5000, Scheme: true},
	}
	compared := 0
	for c, cfg := range configs {
		for seed := range uint64(8) {
			in := genInstance(seed+uint64(100*c), cfg)
			pr := prepare(in)
			for _, p := range pr.problems {
				out, err := pr.optimise(p)
				if err != nil {
					t.Fatal(err)
				}
				none := &outcome{offerUsed: make([]int64, len(p.offers)), demandUsed: make([]int64, len(p.demands))}
				for _, o := range []*outcome{out, none} {
					for side, pair := range map[string][2][]unmatchedAt{
						SideOffer:  {pr.explainOffers(p, o), pr.refExplainOffers(p, o)},
						SideDemand: {pr.explainDemands(p, o), pr.refExplainDemands(p, o)},
					} {
						if !reflect.DeepEqual(pair[0], pair[1]) {
							t.Fatalf("%s side of %s (config %d, seed %d):\nsweep %+v\ntally %+v", side, p.product.Name, c, seed, pair[0], pair[1])
						}
						compared += len(pair[0])
					}
				}
			}
		}
	}
	if compared < 1000 {
		t.Errorf("only %d records compared", compared)
	}
}
