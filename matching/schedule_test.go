package matching_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/suilong/suilong/internal/pg"
	"github.com/suilong/suilong/matching"
)

// Two processes' schedulers on one database, ticking every few milliseconds on a clock the test moves: the
// round runs once at its close, its unanswered allocations lapse once at the deadline, and both loops stop
// when their context ends.
func TestTwoSchedulersRunARoundOnceAndLapseOnce(t *testing.T) {
	m := newMarket(t)
	pool2, err := pg.Open(ctx, m.s.DB().(*pgxpool.Pool).Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer pool2.Close()
	var now atomic.Pointer[time.Time]
	set := func(t time.Time) { now.Store(&t) }
	set(closes.Add(-time.Minute))
	clock := func() time.Time { return *now.Load() }
	stores := []*matching.Store{m.s, matching.NewStore(pool2)}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, s := range stores {
		sc := &matching.Scheduler{Store: s, Every: 5 * time.Millisecond, Now: clock}
		wg.Go(func() { sc.Run(runCtx) })
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	roundRuns := func() int {
		var n int
		if err := m.s.DB().QueryRow(ctx, `SELECT count(*) FROM matching_runs WHERE round_id = $1`, m.round.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	time.Sleep(50 * time.Millisecond) // several ticks before the close
	if n := roundRuns(); n != 0 {
		t.Fatalf("%d runs before the close", n)
	}
	set(closes)
	waitFor("the round's run", func() bool { return roundRuns() > 0 })
	time.Sleep(50 * time.Millisecond) // more ticks of both after it
	if n := roundRuns(); n != 1 {
		t.Fatalf("%d runs of the round, want 1", n)
	}
	set(m.round.AnswerBy)
	lapsed := func() int {
		var n int
		_ = m.s.DB().QueryRow(ctx, `SELECT count(*) FROM allocations WHERE status = 'lapsed'`).Scan(&n)
		return n
	}
	waitFor("the lapse", func() bool { return lapsed() == 2 })
	stop()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the schedulers did not stop with their context")
	}
	if o, _ := m.s.Offer(ctx, m.baseA, m.oA.ID); o.AvailableKg != 3000 {
		t.Fatalf("base A's offer after the lapse: %+v", o)
	}
}
