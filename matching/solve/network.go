package solve

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
)

// class is the demands of one product that share a destination, a worst accepted grade, a set of required
// certifications and the scheme's needs, sorted by deliver-by (then id). An offer that fits the class on grade and
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
