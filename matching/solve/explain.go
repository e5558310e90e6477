package solve

import (
	"cmp"
	"fmt"
	"math/bits"
	"slices"
	"sync"
)

// explain lists, for every offer and demand of p left wholly or partly unmatched by out, the reasons over
// its candidate partners (the other side's records of the same product). Each candidate counts once,
// under the first rule it fails in ruleOrder, or under "capacity" when it is feasible: in an optimum (and
// in the greedy result) a feasible partner of a record with kg left has no kg left itself. Reasons are
// listed most common first (ties in ruleOrder), each with its count and the nearest miss as an example.
func (pr *prepared) explain(p *problem, out *outcome) {
	var offers, demands []Unmatched
	// The two sides are independent; a large product explains them in parallel (the result is the same).
	if len(p.offers)*len(p.demands) >= 1<<16 {
		var wg sync.WaitGroup
		wg.Go(func() { offers = pr.explainOffers(p, out) })
		demands = pr.explainDemands(p, out)
		wg.Wait()
	} else {
		offers, demands = pr.explainOffers(p, out), pr.explainDemands(p, out)
	}
	out.unmatched = append(offers, demands...)
}

func (pr *prepared) explainOffers(p *problem, out *outcome) []Unmatched {
	var list []Unmatched
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
		list = append(list, u)
	}
	return list
}

func (pr *prepared) explainDemands(p *problem, out *outcome) []Unmatched {
	var list []Unmatched
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
		list = append(list, u)
	}
	return list
}

// tally counts one record's candidate partners by reason and keeps the nearest miss of each.
type tally struct {
	count [len(codesInOrder)]int
	best  [len(codesInOrder)]candidate
	// top holds the feasible partners with the most surplus (best first), to name a few.
	top  [3]candidate
	nTop int
}

// codesInOrder is ruleOrder's codes followed by capacity; tally indexes by position in it.
var codesInOrder = [...]string{ReasonNoLane, ReasonShelfLife, ReasonLate, ReasonGrade, ReasonCertification, ReasonPriceGap, ReasonCapacity}

const capacityIndex = len(codesInOrder) - 1

type candidate struct {
	o    *pOffer
	d    *pDemand
	lane *pLane
	v    verdict
	miss int64 // how far the pair is from passing the rule; smaller is nearer
}

func (t *tally) add(p *problem, l *pLane, o *pOffer, d *pDemand) {
	v := judge(p.shelf, l, o, d)
	c := candidate{o: o, d: d, lane: l, v: v}
	var k int
	if v.fails == 0 {
		k = capacityIndex
		c.miss = -int64(v.surplus)
		t.keepTop(c)
	} else {
		k = bits.TrailingZeros8(uint8(v.fails))
		switch codesInOrder[k] {
		case ReasonShelfLife:
			c.miss = v.arrival - o.harvest - p.shelf
		case ReasonLate:
			c.miss = v.arrival - d.due
		case ReasonGrade:
			c.miss = int64(o.grade - d.grade)
		case ReasonCertification:
			for w, x := range d.req {
				c.miss += int64(bits.OnesCount64(x &^ o.certs[w]))
			}
		case ReasonPriceGap:
			c.miss = -int64(v.surplus)
		}
	}
	// Candidates come in id order, so the first of equally near misses is the smallest id.
	if t.count[k] == 0 || c.miss < t.best[k].miss {
		t.best[k] = c
	}
	t.count[k]++
}

// keepTop inserts c among the best feasible partners; among equal surplus the earlier (smaller id) stays first.
func (t *tally) keepTop(c candidate) {
	q := t.nTop
	for q > 0 && c.miss < t.top[q-1].miss {
		q--
	}
	if q == len(t.top) {
		return
	}
	copy(t.top[q+1:], t.top[q:len(t.top)-1])
	t.top[q] = c
	t.nTop = min(t.nTop+1, len(t.top))
}

// reasons lists the tally's reasons, most common first (ties in ruleOrder); b is scratch space for the
// sentences, returned for the next record.
func (t *tally) reasons(b []byte, p *problem, side string) ([]Reason, []byte) {
	var order [len(codesInOrder)]int
	n := 0
	for k := range codesInOrder {
		if t.count[k] > 0 {
			order[n] = k
			n++
		}
	}
	slices.SortStableFunc(order[:n], func(a, b int) int { return cmp.Compare(t.count[b], t.count[a]) })
	out := make([]Reason, n)
	for q, k := range order[:n] {
		out[q] = Reason{Code: codesInOrder[k], Partners: t.count[k]}
		out[q].Message, b = t.message(b, p, side, k)
	}
	return out, b
}
