package matching

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// DefaultRoundTick is how often a Scheduler looks for rounds due and allocations to lapse.
const DefaultRoundTick = 5 * time.Second

// Scheduler closes rounds whose close has come (running each once) and lapses allocations past their answer
// deadline. Every API process runs one: the claim of a round in its run's transaction and the sweep's own
// UPDATE make their work happen once whatever the number of processes, so no leader is needed.
type Scheduler struct {
	Store *Store
	Every time.Duration    // how often it ticks; DefaultRoundTick when 0
	Now   func() time.Time // the clock (tests drive it); the store's when nil
	Log   *slog.Logger
}

// Tick does one pass: due rounds first (their runs' allocations get the round's deadline), then the sweep.
func (sc *Scheduler) Tick(ctx context.Context) (runs []Run, lapsed int64, err error) {
	now := sc.now()
	runs, err = sc.Store.CloseDueRounds(ctx, now)
	for _, r := range runs {
		sc.log().Info("matching: round closed and run", "round", *r.RoundID, "run", r.ID, "matched_kg", r.MatchedKg,
			"allocations", len(r.Allocations))
	}
	// The sweep goes on when a round's run failed: answers are due whatever happens to other rounds.
	lapsed, lerr := sc.Store.LapseAllocations(ctx, now)
	if lapsed > 0 {
		sc.log().Info("matching: allocations lapsed at their answer deadline", "allocations", lapsed)
	}
	return runs, lapsed, errors.Join(err, lerr)
}

// Run ticks until ctx ends. A run interrupted by the end rolls back whole (the round stays open), and the
// next tick of any process runs it again.
func (sc *Scheduler) Run(ctx context.Context) {
	every := sc.Every
	if every <= 0 {
		every = DefaultRoundTick
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, _, err := sc.Tick(ctx); err != nil && ctx.Err() == nil {
			sc.log().Error("matching: round scheduler tick failed; tried again at the next tick", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (sc *Scheduler) now() time.Time {
	if sc.Now != nil {
		return sc.Now()
	}
	return sc.Store.Now()
}

func (sc *Scheduler) log() *slog.Logger {
	if sc.Log != nil {
		return sc.Log
	}
	return slog.New(slog.DiscardHandler)
}
