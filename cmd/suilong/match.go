package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/matching/solve"
)

// MatchCmd solves an instance file (a coordinator's what-if run) without a database:
// `suilong match --in instance.json --out result.json`.
type MatchCmd struct {
	In  string `name:"in" required:"" help:"Instance JSON (products, lanes, offers, demands), or - for standard input." placeholder:"FILE"`
	Out string `name:"out" default:"-" help:"Where to write the result JSON; - (the default) is standard output." placeholder:"FILE"`
	// Profile is for finding where a run's time and memory go (make bench-matching, docs/matching-solve.md).
	Profile string `name:"profile" env:"SUILONG_BENCH_PROFILE" help:"Write CPU and heap profiles of the run to this directory (<input name>.cpu.pprof, .heap.pprof)." placeholder:"DIR"`

	stderr io.Writer // where field errors go; os.Stderr unless a test sets it
}

// Run reads and validates the instance, solves it and writes the result. An invalid instance gets every
// field error on its own line and no output file.
func (c *MatchCmd) Run(g *Globals) (err error) {
	stderr := c.stderr
	if stderr == nil {
		stderr = os.Stderr
	}
	if c.Profile != "" {
		stop, err := c.startProfile()
		if err != nil {
			return err
		}
		defer func() {
			if perr := stop(); perr != nil && err == nil {
				err = perr
			}
		}()
	}
	tuneGC()
	t0 := time.Now()
	r, err := c.solve(g)
	if err != nil {
		if e := errs.As(err); e != nil && len(e.Fields) > 0 {
			for _, f := range e.Fields {
				fmt.Fprintf(stderr, "%s: %s: %s\n", c.In, f.Field, f.Message)
			}
			return fmt.Errorf("%s is not a valid instance: %d errors, listed above; nothing was written", c.In, len(e.Fields))
		}
		return err
	}
	read := time.Since(t0) - r.Stats.Elapsed
	t1 := time.Now()
	if err := c.write(g, func(w io.Writer) error { return solve.EncodeResult(w, r) }); err != nil {
		return err
	}
	s := r.Summary
	g.Log.Info("matched", "objective_cny", r.Objective.String(), "allocations", s.Allocations,
		"matched_kg", s.MatchedKg, "offered_kg", s.OfferedKg, "demanded_kg", s.DemandedKg,
		"unmatched_offers", s.UnmatchedOffers, "unmatched_demands", s.UnmatchedDemands,
		"products", r.Stats.Products, "arcs", r.Stats.Arcs, "pivots", r.Stats.Pivots, "elapsed", r.Stats.Elapsed,
		"read", read, "write", time.Since(t1), "out", c.Out)
	return nil
}

// tuneGC makes the collector run less often than Go's default for this short batch run, whose heap only
// grows until the result is written: a fifth of the collections (a pool of 50,000 × 50,000 peaks at about
// 250 MB either way), with a soft limit of 1 GiB so that a far larger pool's heap does not grow to five
// times what it holds. GOGC or GOMEMLIMIT in the environment take precedence.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(1 << 30)
	}
}

// solve reads and solves the instance.
func (c *MatchCmd) solve(g *Globals) (*solve.Result, error) {
	r := g.Stdin
	if c.In != "-" {
		f, err := os.Open(c.In)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	_, res, err := solve.DecodeAndSolve(r)
	return res, err
}

// write replaces the output file whole (a temporary file renamed over it), so that a failed run never
// leaves half a result where the last good one was. encode streams the result into it.
func (c *MatchCmd) write(g *Globals, encode func(io.Writer) error) error {
	if c.Out == "-" {
		return encode(g.Stdout)
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.Out), "."+filepath.Base(c.Out)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename there is nothing left to remove
	if err := encode(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), c.Out)
}

// startProfile starts a CPU profile in c.Profile; the returned function stops it and writes the heap profile
// (what is live after a final collection, and every allocation of the run).
func (c *MatchCmd) startProfile() (stop func() error, err error) {
	if err := os.MkdirAll(c.Profile, 0o755); err != nil {
		return nil, err
	}
	name := strings.TrimSuffix(filepath.Base(c.In), filepath.Ext(c.In))
	if c.In == "-" {
		name = "stdin"
	}
	cpu, err := os.Create(filepath.Join(c.Profile, name+".cpu.pprof"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		cpu.Close()
		return nil, err
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := cpu.Close(); err != nil {
			return err
		}
		heap, err := os.Create(filepath.Join(c.Profile, name+".heap.pprof"))
		if err != nil {
			return err
		}
		runtime.GC()
		if err := pprof.WriteHeapProfile(heap); err != nil {
			heap.Close()
			return err
		}
		return heap.Close()
	}, nil
}
