package solve

import (
	"bytes"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"
)

// The benchmark instances of the brief: 1,000 offers × 1,000 demands on one product, and
// 10,000 × 10,000 over 50 products, both over 7 Longyan counties × 12 Guangzhou markets.
var (
	benchOne  = genConfig{Offers: 1000, Demands: 1000, Products: 1, Origins: 7, Dests: 12, LaneShare: 1, MinKg: 200, MaxKg: 5000}
	benchMany = genConfig{Offers: 10000, Demands: 10000, Products: 50, Origins: 7, Dests: 12, LaneShare: 1, MinKg: 200, MaxKg: 5000}
)

func BenchmarkSolve1kx1kOneProduct(b *testing.B)    { benchSolve(b, benchOne) }
func BenchmarkSolve10kx10k50Products(b *testing.B)  { benchSolve(b, benchMany) }
func BenchmarkGreedy1kx1kOneProduct(b *testing.B)   { benchGreedy(b, benchOne) }
func BenchmarkGreedy10kx10k50Products(b *testing.B) { benchGreedy(b, benchMany) }

// benchSolve times Solve and reports, from the same run, the greedy baseline's surplus as a percentage of
// the optimum, Solve's time as a multiple of Greedy's, the network's size, and the peak heap of one solve.
func benchSolve(b *testing.B, cfg genConfig) {
	in := genInstance(1, cfg)
	var r *Result
	for b.Loop() {
		var err error
		if r, err = Solve(in); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	g := Greedy(in)
	b.ReportMetric(100*float64(g.Objective)/float64(r.Objective), "greedy_surplus_pct")
	b.ReportMetric(float64(r.Objective)/100, "optimum_CNY")
	b.ReportMetric(float64(r.Stats.Arcs), "arcs")
	b.ReportMetric(float64(r.Stats.Pivots), "pivots")
	b.ReportMetric(100*float64(r.Summary.MatchedKg)/float64(r.Summary.DemandedKg), "demand_matched_pct")
	b.ReportMetric(feasiblePct(in), "feasible_pairs_pct")
	solveTime, greedyTime := timeOf(func() { _, _ = Solve(in) }), timeOf(func() { Greedy(in) })
	b.ReportMetric(float64(solveTime)/float64(greedyTime), "x_greedy_time")
	b.ReportMetric(peakHeapMB(func() { _, _ = Solve(in) }), "peak_heap_MB")
}

func benchGreedy(b *testing.B, cfg genConfig) {
	in := genInstance(1, cfg)
	for b.Loop() {
		Greedy(in)
	}
	b.StopTimer()
	b.ReportMetric(peakHeapMB(func() { Greedy(in) }), "peak_heap_MB")
}

// feasiblePct is the share of same-product offer × demand pairs that the rules allow, to show that the
// instance is not trivially sparse.
func feasiblePct(in *Instance) float64 {
	pr := prepare(in)
	var pairs, ok int
	for _, p := range pr.problems {
		for i := range p.offers {
			for j := range p.demands {
				pairs++
				if judge(p.shelf, pr.lane(p.offers[i].origin, p.demands[j].dest), &p.offers[i], &p.demands[j]).fails == 0 {
					ok++
				}
			}
		}
	}
	return 100 * float64(ok) / float64(pairs)
}

// timeOf is the best of three runs: the least disturbed by the other work on a shared machine.
func timeOf(f func()) time.Duration {
	best := time.Duration(1<<63 - 1)
	for range 3 {
		t0 := time.Now()
		f()
		best = min(best, time.Since(t0))
	}
	return best
}

// peakHeapMB runs f once and samples the live heap every 200µs (runtime/metrics does not stop the world),
// returning the highest value above the heap before f started, in MB.
func peakHeapMB(f func()) float64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	base := read()
	peak := base
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(200 * time.Microsecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				peak = max(peak, read())
			}
		}
	})
	f()
	close(done)
	wg.Wait()
	peak = max(peak, read())
	return float64(peak-base) / (1 << 20)
}

// BenchmarkDecode10kx10k reads the 10,000 × 10,000 instance from JSON (6 MB), as `suilong match` does.
func BenchmarkDecode10kx10k(b *testing.B) {
	var buf bytes.Buffer
	if err := EncodeInstance(&buf, genInstance(1, benchMany)); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	for b.Loop() {
		if _, err := DecodeInstance(bytes.NewReader(buf.Bytes())); err != nil {
			b.Fatal(err)
		}
	}
}
