package solve

import (
	"cmp"
	"slices"
	"time"
)

// assemble merges the products' outcomes into one Result, in id order. Records carry their rank among all
// offers or demands by id, and each product's pairs are sorted by offer and demand (sortPairs), so the merge
// places everything by rank without comparing ids or sorting again.
func (pr *prepared) assemble(outs []*outcome) *Result {
	r := &Result{Summary: Summary{Offers: pr.offers, Demands: pr.demands, UnmatchedByReason: map[string]int{}}}
	// Per rank: where its pairs or its explanation are. p is the product + 1; −1 a record of 0 kg; 0 none.
	type at struct{ p, from, to int32 }
	pairsOf := make([]at, pr.offers)
	unOffer, unDemand := make([]at, pr.offers), make([]at, pr.demands)
	pairs, unmatched := 0, len(pr.zeroOffers)+len(pr.zeroDemands)
	for k, out := range outs {
		p := pr.problems[k]
		for _, o := range p.offers {
			r.Summary.OfferedKg += o.o.QuantityKg
		}
		for _, d := range p.demands {
			r.Summary.DemandedKg += d.d.QuantityKg
		}
		for q := 0; q < len(out.pairs); {
			oi := out.pairs[q].oi
			end := q + 1
			for end < len(out.pairs) && out.pairs[end].oi == oi {
				end++
			}
			pairsOf[p.offers[oi].rank] = at{int32(k) + 1, int32(q), int32(end)}
			q = end
		}
		pairs += len(out.pairs)
		for q := range out.unmatched {
			u := &out.unmatched[q]
			if u.Side == SideOffer {
				unOffer[p.offers[u.index].rank] = at{p: int32(k) + 1, from: int32(q)}
			} else {
				unDemand[p.demands[u.index].rank] = at{p: int32(k) + 1, from: int32(q)}
			}
		}
		unmatched += len(out.unmatched)
		r.Stats.Products++
		r.Stats.Nodes += out.nodes
		r.Stats.Arcs += out.arcs
		r.Stats.Pivots += out.pivots
	}
	for q, z := range pr.zeroOffers {
		unOffer[z.rank] = at{p: -1, from: int32(q)}
	}
	for q, z := range pr.zeroDemands {
		unDemand[z.rank] = at{p: -1, from: int32(q)}
	}
	r.Allocations = make([]Allocation, 0, pairs)
	for _, x := range pairsOf {
		if x.p == 0 {
			continue
		}
		p, out := pr.problems[x.p-1], outs[x.p-1]
		for _, pf := range out.pairs[x.from:x.to] {
			po, pd := &p.offers[pf.oi], &p.demands[pf.dj]
			o, d := po.o, pd.d
			r.Allocations = append(r.Allocations, Allocation{
				OfferID: o.ID, DemandID: d.ID, QuantityKg: pf.kg, SurplusPerKg: pf.surplus,
				Product: o.Product, MinPricePerKg: o.MinPricePerKg, MaxPricePerKg: d.MaxPricePerKg,
				LaneCostPerKg: pr.lane(po.origin, pd.dest).l.CostPerKg, BonusPerKg: o.PriorityBonusPerKg, Arrival: time.Unix(0, pf.arrival).UTC(),
			})
			r.Objective += Fen(pf.kg) * pf.surplus
			r.Summary.MatchedKg += pf.kg
		}
	}
	r.Unmatched = make([]Unmatched, 0, unmatched)
	for side, list := range [][]at{unOffer, unDemand} {
		for _, x := range list {
			var u Unmatched
			switch {
			case x.p > 0:
				u = outs[x.p-1].unmatched[x.from].Unmatched
			case x.p == 0:
				continue
			case side == 0:
				u = noQuantity(SideOffer, pr.zeroOffers[x.from].id)
			default:
				u = noQuantity(SideDemand, pr.zeroDemands[x.from].id)
			}
			r.Unmatched = append(r.Unmatched, u)
			if side == 0 {
				r.Summary.UnmatchedOffers++
			} else {
				r.Summary.UnmatchedDemands++
			}
			if len(u.Reasons) > 0 {
				r.Summary.UnmatchedByReason[u.Reasons[0].Code]++
			}
		}
	}
	r.Summary.Allocations = len(r.Allocations)
	return r
}

// sortPairs orders a product's pairs by offer, then demand: by id, as indices are handed out in id order.
func (out *outcome) sortPairs() {
	slices.SortFunc(out.pairs, func(a, b pairFlow) int { return cmp.Or(cmp.Compare(a.oi, b.oi), cmp.Compare(a.dj, b.dj)) })
}

// noQuantity is the explanation of a record of 0 kg.
func noQuantity(side, id string) Unmatched {
	msg := "无数量：供应 " + id + " 为 0 公斤，没有可分配的数量 / no quantity: offer " + id + " has 0 kg, nothing to allocate"
	if side == SideDemand {
		msg = "无数量：需求 " + id + " 为 0 公斤，没有需要满足的数量 / no quantity: demand " + id + " has 0 kg, nothing to serve"
	}
	return Unmatched{ID: id, Side: side, Reasons: []Reason{{Code: ReasonNoQuantity, Message: msg}}}
}
