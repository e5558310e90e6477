package solve

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/suilong/suilong/internal/errs"
)

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
