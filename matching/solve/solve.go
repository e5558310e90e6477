package solve

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/suilong/suilong/internal/errs"
)

// prepared is a validated instance in the solver's terms: products sorted by name, each with its offers
// and demands sorted by id, so that nothing downstream depends on the order of the input.
type prepared struct {
	// Lanes by origin × destination index: a dense matrix (nil where no lane exists) when that is small,
	// as with counties and markets, else a map, so that many distinct places cannot blow up memory.
	lanes    []*pLane
	laneMap  map[int64]*pLane
	nDest    int
	problems []*problem
	offers   int
	demands  int
	// Records of 0 kg take no part in any product's problem (nor in others' explanations); they are listed
	// unmatched with the reason no_quantity.
	zeroOffers, zeroDemands []zeroRecord
}

// zeroRecord is an offer or demand of 0 kg, with its rank in id order.
type zeroRecord struct {
	id   string
	rank int32
}

// problem is one product: offers never meet demands of another product, so each product is solved alone.
type problem struct {
	product *Product
	shelf   int64 // nanoseconds
	offers  []pOffer
	demands []pDemand
	// skipCert is CailanziBase when the instance lists base certificates, which then judge it.
	skipCert string
}

func (pr *prepared) lane(origin, dest int32) *pLane {
	k := int64(origin)*int64(pr.nDest) + int64(dest)
	if pr.laneMap != nil {
		return pr.laneMap[k]
	}
	return pr.lanes[k]
}

// denseLanesLimit is the largest origin × destination matrix kept dense (8 MB of pointers); a variable
// only so that a test can force the map.
var denseLanesLimit int64 = 1 << 20

func prepare(in *Instance) *prepared {
	origins, dests := map[string]int32{}, map[string]int32{}
	u := certUniverse{}
	offers := make([]*Offer, len(in.Offers))
	for i := range in.Offers {
		offers[i] = &in.Offers[i]
	}
	demands := make([]*Demand, len(in.Demands))
	for i := range in.Demands {
		demands[i] = &in.Demands[i]
	}
	var sorting sync.WaitGroup // the two sorts at once
	sorting.Go(func() { slices.SortFunc(demands, func(a, b *Demand) int { return strings.Compare(a.ID, b.ID) }) })
	slices.SortFunc(offers, func(a, b *Offer) int { return strings.Compare(a.ID, b.ID) })
	sorting.Wait()
	// Indices are handed out in id order, so they too are independent of the input's order.
	for _, o := range offers {
		if _, ok := origins[o.Origin]; !ok {
			origins[o.Origin] = int32(len(origins))
		}
		u.add(o.Certifications)
	}
	for _, d := range demands {
		if _, ok := dests[d.Destination]; !ok {
			dests[d.Destination] = int32(len(dests))
		}
		u.add(d.RequiredCertifications)
	}
	pr := &prepared{nDest: len(dests), offers: len(offers), demands: len(demands)}
	if cells := int64(len(origins)) * int64(len(dests)); cells <= denseLanesLimit {
		pr.lanes = make([]*pLane, cells)
	} else {
		pr.laneMap = map[int64]*pLane{}
	}
	for i := range in.Lanes {
		l := &in.Lanes[i]
		oi, ok1 := origins[l.Origin]
		di, ok2 := dests[l.Destination]
		if ok1 && ok2 {
			pl := &pLane{l: l, transit: int64(l.TransitHours) * hour}
			if k := int64(oi)*int64(pr.nDest) + int64(di); pr.laneMap != nil {
				pr.laneMap[k] = pl
			} else {
				pr.lanes[k] = pl
			}
		}
	}
	certified := in.BaseCertificates != nil
	var cov *covers
	skip := ""
	if certified {
		cov, skip = newCovers(in.BaseCertificates), CailanziBase
	}
	byName := map[string]*problem{}
	for i := range in.Products {
		p := &in.Products[i]
		byName[p.Name] = &problem{product: p, shelf: int64(p.ShelfLifeHours) * hour, skipCert: skip}
	}
	w := u.words()
	bitsets := make([]uint64, w*(len(offers)+len(demands)))
	for k, o := range offers {
		if o.QuantityKg == 0 {
			pr.zeroOffers = append(pr.zeroOffers, zeroRecord{o.ID, int32(k)})
			continue
		}
		p := byName[o.Product]
		po := prepOffer(o, origins[o.Origin], u, bitsets[k*w:(k+1)*w:(k+1)*w])
		po.rank = int32(k)
		if certified {
			po.cover = cov.of(o.Base, o.Product)
		}
		p.offers = append(p.offers, po)
	}
	bitsets = bitsets[w*len(offers):]
	for k, d := range demands {
		if d.QuantityKg == 0 {
			pr.zeroDemands = append(pr.zeroDemands, zeroRecord{d.ID, int32(k)})
			continue
		}
		p := byName[d.Product]
		pd := prepDemand(d, dests[d.Destination], u, bitsets[k*w:(k+1)*w:(k+1)*w], certified)
		pd.rank = int32(k)
		p.demands = append(p.demands, pd)
	}
	for _, p := range byName {
		if len(p.offers) > 0 || len(p.demands) > 0 {
			pr.problems = append(pr.problems, p)
		}
	}
	slices.SortFunc(pr.problems, func(a, b *problem) int { return strings.Compare(a.product.Name, b.product.Name) })
	return pr
}

// pairFlow is kg of offer oi (index in its problem) assigned to demand dj.
type pairFlow struct {
	oi, dj  int32
	kg      int64
	surplus Fen
	arrival int64
}

// outcome is one product's allocation, from the optimiser or the greedy baseline.
type outcome struct {
	pairs       []pairFlow
	offerUsed   []int64
	demandUsed  []int64
	nodes, arcs int
	pivots      int
	unmatched   []unmatchedAt // filled by explain
}

// unmatchedAt is an unmatched record with its index in its product (among the offers or the demands).
type unmatchedAt struct {
	Unmatched
	index int32
}

// Solve validates in and returns an allocation of maximal total surplus, with the reasons for everything
// left unmatched. Errors: errs.Unprocessable for an invalid instance (see Validate), errs.Internal if the
// optimiser fails its own consistency check.
//
// Each product is a min-cost flow problem, solved exactly by network simplex on a compact network (see
// docs/matching-solve.md); products are solved in parallel. Among several optimal allocations the one
// returned is fixed by the instance's content alone: records are taken in id order, so shuffling the input
// changes nothing.
func Solve(in *Instance) (*Result, error) {
	start := time.Now() // for Stats only; the rules never read the clock
	if err := in.Validate(); err != nil {
		return nil, err
	}
	return solveValid(in, start)
}

// DecodeAndSolve reads an instance as DecodeInstance does and solves it as Solve does, validating it once
// rather than twice: what `suilong match` does with a file.
func DecodeAndSolve(r io.Reader) (*Instance, *Result, error) {
	in, err := DecodeInstance(r)
	if err != nil {
		return nil, nil, err
	}
	res, err := solveValid(in, time.Now())
	return in, res, err
}

func solveValid(in *Instance, start time.Time) (*Result, error) {
	pr := prepare(in)
	outs := make([]*outcome, len(pr.problems))
	errsOut := make([]error, len(pr.problems))
	order := pr.largestFirst()
	forEach(len(pr.problems), func(n int) {
		k := order[n]
		p := pr.problems[k]
		out, err := pr.optimise(p)
		if err != nil {
			errsOut[k] = fmt.Errorf("product %s: %w", p.product.Name, err)
			return
		}
		out.sortPairs()
		pr.explain(p, out)
		outs[k] = out
	})
	for _, err := range errsOut {
		var big *tooLarge
		switch {
		case errors.As(err, &big):
			return nil, errs.E(errs.Unprocessable, "%s: split the instance (by product, or fewer offers per run)", big)
		case err != nil:
			return nil, errs.Wrap(errs.Internal, err, "matching optimiser failed")
		}
	}
	r := pr.assemble(outs)
	r.Stats.Elapsed = time.Since(start)
	return r, nil
}

// largestFirst orders the products for the workers, the largest (by offers × demands) first, so that one
// large product does not start last and leave the other workers idle; each result still goes to its own
// product's slot.
func (pr *prepared) largestFirst() []int {
	order := make([]int, len(pr.problems))
	for k := range order {
		order[k] = k
	}
	size := func(k int) int { return len(pr.problems[k].offers) * len(pr.problems[k].demands) }
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(size(b), size(a)) })
	return order
}

// forEach runs f(0) … f(n−1) on up to GOMAXPROCS goroutines. Results go to per-index slots, so the
// outcome does not depend on scheduling.
func forEach(n int, f func(int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for k := range n {
			f(k)
		}
		return
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	nextJob := 0
	for range workers {
		wg.Go(func() {
			for {
				mu.Lock()
				k := nextJob
				nextJob++
				mu.Unlock()
				if k >= n {
					return
				}
				f(k)
			}
		})
	}
	wg.Wait()
}

// class is the demands of one product that share a destination, a worst accepted grade and a set of
// required certifications, sorted by deliver-by (then id). An offer that fits the class on grade and
// certifications and arrives at time t can serve exactly the suffix of the class with deliver-by ≥ t.
type class struct {
	dest  int32
	grade int
	req   []uint64
	// The scheme's needs: with needCert the class is one delivery day (day), so that a base's certificate
	// decides for the whole class, as grade and certifications do.
	needCert, inspect bool
	day               Date
	members           []int32 // demand indices, by deliver-by then id
	due               []int64 // members' deliver-by, ascending
	sufB              []Fen   // sufB[p] = max over members[p:] of max price, to skip entries that cannot pay
}

func classesOf(p *problem) (classes []*class, byDest map[int32][]int) {
	// A class's key: the first word of the required set inline (64 certifications cover every real
	// instance), any further words as text.
	type classKey struct {
		dest  int32
		grade int
		req   uint64
		more  string
		// needCert and inspect, and the delivery day when needCert
		cert, insp bool
		day        Date
	}
	index := map[classKey]int{}
	for j := range p.demands {
		d := &p.demands[j]
		key := classKey{dest: d.dest, grade: d.grade, cert: d.needCert, insp: d.inspect, day: d.day}
		if len(d.req) > 0 {
			key.req = d.req[0]
		}
		if len(d.req) > 1 {
			b := make([]byte, 0, 8*(len(d.req)-1))
			for _, w := range d.req[1:] {
				b = binary.LittleEndian.AppendUint64(b, w)
			}
			key.more = string(b)
		}
		k, ok := index[key]
		if !ok {
			k = len(classes)
			index[key] = k
			classes = append(classes, &class{dest: d.dest, grade: d.grade, req: d.req, needCert: d.needCert, inspect: d.inspect, day: d.day})
		}
		classes[k].members = append(classes[k].members, int32(j))
	}
	byDest = map[int32][]int{}
	for k, c := range classes {
		// Members were appended in id order; a stable sort by deliver-by keeps id order among equal times.
		slices.SortStableFunc(c.members, func(a, b int32) int { return cmp.Compare(p.demands[a].due, p.demands[b].due) })
		c.due = make([]int64, len(c.members))
		c.sufB = make([]Fen, len(c.members))
		for q, j := range c.members {
			c.due[q] = p.demands[j].due
		}
		best := Fen(-1 << 62)
		for q := len(c.members) - 1; q >= 0; q-- {
			best = max(best, p.demands[c.members[q]].b)
			c.sufB[q] = best
		}
		byDest[c.dest] = append(byDest[c.dest], k)
	}
	return classes, byDest
}

// optimise solves one product exactly. The network (costs are negated surplus, to minimise):
//
//	offer i  ──(∞, −(bonus_i − min_i − lane_cost))──▶  first demand of class k that i reaches in time
//	demand j ──(∞, 0)──▶ next demand of j's class (a later deliver-by)
//	demand j ──(q_j, −max_j)──▶ sink            offer i ──(∞, 0)──▶ sink (unsold)
//
// with supply q_i at offer i. Every path offer → demand → sink costs −surplus of that pair, and the
// paths from offer i reach exactly the demands i may serve, so a min-cost flow is a max-surplus
// allocation; it is decomposed back into pairs along the chains. This takes O(offers × classes + demands)
// arcs instead of the O(offers × demands) of the pairs themselves.
func (pr *prepared) optimise(p *problem) (*outcome, error) {
	no, nd := len(p.offers), len(p.demands)
	out := &outcome{offerUsed: make([]int64, no), demandUsed: make([]int64, nd)}
	if no == 0 || nd == 0 {
		return out, nil
	}
	classes, byDest := classesOf(p)
	dests := make([]int32, 0, len(byDest))
	for d := range byDest {
		dests = append(dests, d)
	}
	slices.Sort(dests)

	root := int32(no + nd)
	g := networks.Get().(*network)
	defer networks.Put(g)
	g.reset(no+nd+1, min(2*(no+nd)+no*len(classes)/2, 1<<22), root) // a hint, capped: the count is only known after
	for i := range p.offers {
		g.addArc(int32(i), root, inf, 0) // arc i: offer i unsold
	}
	for j := range p.demands {
		g.addArc(int32(no+j), root, p.demands[j].d.QuantityKg, -int64(p.demands[j].b)) // arc no+j
	}
	for _, c := range classes {
		for q := 0; q+1 < len(c.members); q++ {
			g.addArc(int32(no)+c.members[q], int32(no)+c.members[q+1], inf, 0)
		}
	}
	firstEntry := len(g.src)
	for i := range p.offers {
		o := &p.offers[i]
		for _, d := range dests {
			l := pr.lane(o.origin, d)
			if l == nil {
				continue
			}
			arrival := o.avail + l.transit
			if arrival-o.harvest > p.shelf {
				continue
			}
			part := o.a - l.l.CostPerKg
			for _, k := range byDest[d] {
				c := classes[k]
				if o.grade > c.grade || !subset(c.req, o.certs) || o.schemeFails(c.needCert, c.day, c.inspect) != 0 {
					continue
				}
				q, _ := slices.BinarySearch(c.due, arrival) // first member with deliver-by ≥ arrival
				if q == len(c.due) || part+c.sufB[q] <= 0 {
					continue
				}
				g.addArc(int32(i), int32(no)+c.members[q], inf, -int64(part))
			}
			if len(g.src) > maxArcs {
				return nil, &tooLarge{product: p.product.Name, offers: no, classes: len(classes)}
			}
		}
	}
	for i := range p.offers {
		g.hang(int32(i), int32(i), p.offers[i].o.QuantityKg)
	}
	for j := range p.demands {
		g.hang(int32(no+j), int32(no+j), 0)
	}
	if err := g.solve(); err != nil {
		return nil, err
	}
	out.nodes, out.arcs, out.pivots = no+nd+1, len(g.src), g.pivots

	// Decompose: walk each chain in deliver-by order with a FIFO of the offers' flow that entered it; each
	// demand takes its kg from the front. Any decomposition has the network's cost, and this one is fixed.
	type chunk struct {
		oi int32
		kg int64
	}
	entries := make([][]chunk, nd)
	for e := firstEntry; e < len(g.src); e++ {
		if f := g.flow[e]; f > 0 {
			j := g.dst[e] - int32(no)
			entries[j] = append(entries[j], chunk{g.src[e], f})
		}
	}
	var want int64 // −cost of the flow, to check the decomposition against
	for e := range g.src {
		want -= g.flow[e] * g.cost[e]
	}
	var got int64
	for _, c := range classes {
		var queue []chunk
		for _, j := range c.members {
			queue = append(queue, entries[j]...)
			need := g.flow[no+int(j)]
			d := &p.demands[j]
			for need > 0 {
				if len(queue) == 0 {
					return nil, fmt.Errorf("flow decomposition: demand %s short of %d kg", d.d.ID, need)
				}
				take := min(need, queue[0].kg)
				o := &p.offers[queue[0].oi]
				l := pr.lane(o.origin, d.dest)
				pf := pairFlow{oi: queue[0].oi, dj: j, kg: take, surplus: o.a - l.l.CostPerKg + d.b, arrival: o.avail + l.transit}
				got += take * int64(pf.surplus)
				if pf.surplus < 0 {
					return nil, fmt.Errorf("flow decomposition: pair %s → %s has surplus %s", o.o.ID, d.d.ID, pf.surplus)
				}
				// A zero-surplus pair adds nothing; DESIGN.md uses only positive ones.
				if pf.surplus > 0 {
					out.pairs = append(out.pairs, pf)
					out.offerUsed[pf.oi] += take
					out.demandUsed[j] += take
				}
				need -= take
				queue[0].kg -= take
				if queue[0].kg == 0 {
					queue = queue[1:]
				}
			}
		}
		if len(queue) != 0 {
			return nil, fmt.Errorf("flow decomposition: %d kg left at the end of a chain", queue[0].kg)
		}
	}
	if got != want {
		return nil, fmt.Errorf("flow decomposition: pairs total %d fen, the flow %d", got, want)
	}
	return out, nil
}

// maxArcs bounds one product's network (about 35 bytes an arc): beyond it a run would take minutes and
// gigabytes, and a coordinator is better told so than left waiting.
var maxArcs = 50_000_000

type tooLarge struct {
	product         string
	offers, classes int
}

func (e *tooLarge) Error() string {
	return fmt.Sprintf("product %s is too large for one run: %d offers × %d groups of demands need more than %d arcs",
		e.product, e.offers, e.classes, maxArcs)
}

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

// Greedy is the baseline the optimiser is measured against: it takes the feasible pairs by surplus per kg,
// best first (ties by offer id, then demand id), and gives each as many kg as both sides have left, and
// explains what it leaves unmatched in the same way as Solve. It returns nil for an invalid instance.
func Greedy(in *Instance) *Result {
	start := time.Now()
	if in.Validate() != nil {
		return nil
	}
	pr := prepare(in)
	outs := make([]*outcome, len(pr.problems))
	order := pr.largestFirst()
	forEach(len(pr.problems), func(n int) {
		k := order[n]
		p := pr.problems[k]
		out := pr.greedy(p)
		out.sortPairs()
		pr.explain(p, out)
		outs[k] = out
	})
	r := pr.assemble(outs)
	r.Stats.Elapsed = time.Since(start)
	return r
}

func (pr *prepared) greedy(p *problem) *outcome {
	out := &outcome{offerUsed: make([]int64, len(p.offers)), demandUsed: make([]int64, len(p.demands))}
	var cands []pairFlow
	for i := range p.offers {
		o := &p.offers[i]
		for j := range p.demands {
			d := &p.demands[j]
			v := judge(p.shelf, pr.lane(o.origin, d.dest), o, d)
			if v.fails == 0 {
				cands = append(cands, pairFlow{oi: int32(i), dj: int32(j), surplus: v.surplus, arrival: v.arrival})
			}
		}
	}
	// Indices are in id order, so comparing them breaks ties by id.
	sort.Slice(cands, func(a, b int) bool {
		x, y := cands[a], cands[b]
		if x.surplus != y.surplus {
			return x.surplus > y.surplus
		}
		if x.oi != y.oi {
			return x.oi < y.oi
		}
		return x.dj < y.dj
	})
	for _, c := range cands {
		kg := min(p.offers[c.oi].o.QuantityKg-out.offerUsed[c.oi], p.demands[c.dj].d.QuantityKg-out.demandUsed[c.dj])
		if kg <= 0 {
			continue
		}
		c.kg = kg
		out.pairs = append(out.pairs, c)
		out.offerUsed[c.oi] += kg
		out.demandUsed[c.dj] += kg
	}
	return out
}
