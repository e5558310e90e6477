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
	var offers, demands []unmatchedAt
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

func (pr *prepared) explainOffers(p *problem, out *outcome) []unmatchedAt {
	var list []unmatchedAt
	var none string // the one sentence for every offer of a product nobody asked for
	var scratch []byte
	sw := newSweep(pr, p)
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
			t := sw.offer(i)
			u.Reasons, scratch = t.reasons(scratch, p, SideOffer)
		}
		list = append(list, unmatchedAt{u, int32(i)})
	}
	return list
}

func (pr *prepared) explainDemands(p *problem, out *outcome) []unmatchedAt {
	var list []unmatchedAt
	var none string
	var scratch []byte
	sw := newSweep(pr, p)
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
			t := sw.demand(j)
			u.Reasons, scratch = t.reasons(scratch, p, SideDemand)
		}
		list = append(list, unmatchedAt{u, int32(j)})
	}
	return list
}

// sweep tallies one record's candidate partners as tally.add would, pair by pair in id order, but with
// what depends only on the record and the partner's place (the lane, the arrival, freshness) worked out
// once per place, and the figures of a reason's example computed only for the pair that ends up as that
// example. A pool of 10,000 × 10,000 on one product weighs 65 million pairs; TestSweepIsTally holds the
// sweep to tally.add.
type sweep struct {
	pr *prepared
	p  *problem
	// Places of the other side, numbered within the product: demands' destinations, offers' origins.
	dests, origins []int32
	ldest, lorigin []int32 // per demand, per offer: its place's number
	places         []placeState
}

// placeState is what one record meets at one place of the other side.
type placeState struct {
	lane    *pLane
	arrival int64 // offer side: the offer's arrival there
	part    Fen   // offer side: the offer's part of the surplus there (a − lane cost)
	fresh   bool  // offer side: the offer arrives within shelf life
	miss    int64 // offer side, when not fresh: by how much
}

func newSweep(pr *prepared, p *problem) *sweep {
	sw := &sweep{pr: pr, p: p, ldest: make([]int32, len(p.demands)), lorigin: make([]int32, len(p.offers))}
	number := func(places *[]int32, local map[int32]int32, place int32) int32 {
		n, ok := local[place]
		if !ok {
			n = int32(len(*places))
			local[place] = n
			*places = append(*places, place)
		}
		return n
	}
	local := map[int32]int32{}
	for j := range p.demands {
		sw.ldest[j] = number(&sw.dests, local, p.demands[j].dest)
	}
	local = map[int32]int32{}
	for i := range p.offers {
		sw.lorigin[i] = number(&sw.origins, local, p.offers[i].origin)
	}
	sw.places = make([]placeState, max(len(sw.dests), len(sw.origins)))
	return sw
}

// Positions in codesInOrder.
const (
	noLaneIndex = iota
	shelfLifeIndex
	lateIndex
	gradeIndex
	certificationIndex
)

// nearest is, for one reason, the partner with the smallest miss (the first in id order among equals).
type nearest struct {
	miss int64
	at   int32
}

type sweepTally struct {
	count [len(codesInOrder)]int
	best  [len(codesInOrder)]nearest
	top   [3]nearest
	nTop  int
}

func (t *sweepTally) add(k int, miss int64, at int32) {
	if t.count[k] == 0 || miss < t.best[k].miss {
		t.best[k] = nearest{miss, at}
	}
	t.count[k]++
}

// keep inserts a feasible partner among the best few, as tally.keepTop does.
func (t *sweepTally) keep(miss int64, at int32) {
	q := t.nTop
	for q > 0 && miss < t.top[q-1].miss {
		q--
	}
	if q == len(t.top) {
		return
	}
	copy(t.top[q+1:], t.top[q:len(t.top)-1])
	t.top[q] = nearest{miss, at}
	t.nTop = min(t.nTop+1, len(t.top))
}

// offer tallies the demands of the product for offer i.
func (sw *sweep) offer(i int) tally {
	p, o := sw.p, &sw.p.offers[i]
	for n, dest := range sw.dests {
		st := placeState{lane: sw.pr.lane(o.origin, dest)}
		if st.lane != nil {
			st.arrival = o.avail + st.lane.transit
			st.part = o.a - st.lane.l.CostPerKg
			st.miss = st.arrival - o.harvest - p.shelf
			st.fresh = st.miss <= 0
		}
		sw.places[n] = st
	}
	var t sweepTally
	for j := range p.demands {
		d := &p.demands[j]
		st := &sw.places[sw.ldest[j]]
		switch {
		case st.lane == nil:
			t.add(noLaneIndex, 0, int32(j))
		case !st.fresh:
			t.add(shelfLifeIndex, st.miss, int32(j))
		case st.arrival > d.due:
			t.add(lateIndex, st.arrival-d.due, int32(j))
		case o.grade > d.grade:
			t.add(gradeIndex, int64(o.grade-d.grade), int32(j))
		case !subset(d.req, o.certs):
			t.add(certificationIndex, missing(d.req, o.certs), int32(j))
		default:
			if f := o.schemeFails(d.needCert, d.day, d.inspect); f != 0 {
				r := f & -f
				t.add(bits.TrailingZeros16(uint16(r)), schemeMiss(o, d, r), int32(j))
			} else if s := st.part + d.b; s <= 0 {
				t.add(priceGapIndex, -int64(s), int32(j))
			} else {
				t.add(capacityIndex, -int64(s), int32(j))
				t.keep(-int64(s), int32(j))
			}
		}
	}
	return sw.tally(&t, func(at int32) (*pOffer, *pDemand) { return o, &p.demands[at] })
}

// demand tallies the offers of the product for demand j.
func (sw *sweep) demand(j int) tally {
	p, d := sw.p, &sw.p.demands[j]
	for n, origin := range sw.origins {
		sw.places[n] = placeState{lane: sw.pr.lane(origin, d.dest)}
	}
	var t sweepTally
	for i := range p.offers {
		o := &p.offers[i]
		st := &sw.places[sw.lorigin[i]]
		if st.lane == nil {
			t.add(noLaneIndex, 0, int32(i))
			continue
		}
		arrival := o.avail + st.lane.transit
		switch {
		case arrival-o.harvest > p.shelf:
			t.add(shelfLifeIndex, arrival-o.harvest-p.shelf, int32(i))
		case arrival > d.due:
			t.add(lateIndex, arrival-d.due, int32(i))
		case o.grade > d.grade:
			t.add(gradeIndex, int64(o.grade-d.grade), int32(i))
		case !subset(d.req, o.certs):
			t.add(certificationIndex, missing(d.req, o.certs), int32(i))
		default:
			if f := o.schemeFails(d.needCert, d.day, d.inspect); f != 0 {
				r := f & -f
				t.add(bits.TrailingZeros16(uint16(r)), schemeMiss(o, d, r), int32(i))
			} else if s := o.a - st.lane.l.CostPerKg + d.b; s <= 0 {
				t.add(priceGapIndex, -int64(s), int32(i))
			} else {
				t.add(capacityIndex, -int64(s), int32(i))
				t.keep(-int64(s), int32(i))
			}
		}
	}
	return sw.tally(&t, func(at int32) (*pOffer, *pDemand) { return &p.offers[at], d })
}

// tally turns a sweep's counts and nearest partners into the tally that words the reasons.
func (sw *sweep) tally(t *sweepTally, pair func(at int32) (*pOffer, *pDemand)) tally {
	out := tally{count: t.count, nTop: t.nTop}
	cand := func(n nearest) candidate {
		o, d := pair(n.at)
		l := sw.pr.lane(o.origin, d.dest)
		return candidate{o: o, d: d, lane: l, v: judge(sw.p.shelf, l, o, d), miss: n.miss}
	}
	for k := range t.count {
		if t.count[k] > 0 {
			out.best[k] = cand(t.best[k])
		}
	}
	for q := range t.nTop {
		out.top[q] = cand(t.top[q])
	}
	return out
}

// missing counts the required certifications an offer lacks.
func missing(req, certs []uint64) int64 {
	var n int64
	for w, x := range req {
		n += int64(bits.OnesCount64(x &^ certs[w]))
	}
	return n
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
var codesInOrder = [...]string{ReasonNoLane, ReasonShelfLife, ReasonLate, ReasonGrade, ReasonCertification,
	ReasonNoCertificate, ReasonCertificateNotYet, ReasonCertificateExpired, ReasonCertificateProduct,
	ReasonInspectionMissing, ReasonInspectionFailed, ReasonPriceGap, ReasonCapacity}

const (
	priceGapIndex = len(codesInOrder) - 2
	capacityIndex = len(codesInOrder) - 1
)

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
		k = bits.TrailingZeros16(uint16(v.fails))
		switch r := ruleSet(1) << k; codesInOrder[k] {
		case ReasonNoCertificate, ReasonCertificateNotYet, ReasonCertificateExpired, ReasonCertificateProduct,
			ReasonInspectionMissing, ReasonInspectionFailed:
			c.miss = schemeMiss(o, d, r)
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
	// The record's sentences are written one after the other and become one string, which each reason's
	// message is a part of: one allocation per record rather than one per reason.
	out := make([]Reason, n)
	var ends [len(codesInOrder)]int
	b = b[:0]
	for q, k := range order[:n] {
		b = t.appendMessage(b, p, side, k)
		ends[q] = len(b)
	}
	all, start := string(b), 0
	for q, k := range order[:n] {
		out[q] = Reason{Code: codesInOrder[k], Partners: t.count[k], Message: all[start:ends[q]]}
		start = ends[q]
	}
	return out, b
}
