package pg_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/internal/pg"
	"github.com/suilong/suilong/internal/pg/pgtest"
)

// One leader at a time: a second process waits until the first lets go, or until the first's session ends
// (here: PostgreSQL terminates it, as a crash or a lost network would), and the first learns that it lost.
func TestLeadership(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	first, err := pg.Lead(ctx, db, "test.leader", 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *pg.Leadership, 1)
	go func() {
		l, err := pg.Lead(ctx, db, "test.leader", 100*time.Millisecond)
		if err != nil {
			t.Error(err)
		}
		got <- l
	}()
	select {
	case <-got:
		t.Fatal("a second leader while the first holds the lock")
	case <-time.After(500 * time.Millisecond):
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	var second *pg.Leadership
	select {
	case second = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("the standby did not take over after a release")
	}

	// Another process's connection to the same database kills the leader's session.
	if _, err := db.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objid = ($1::bigint & x'ffffffff'::bigint)`,
		pg.LockKey("test.leader")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-second.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("the leader did not notice its session ended")
	}
	_ = second.Release()
	third, err := pg.Lead(ctx, db, "test.leader", 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	_ = third.Release()

	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	hold, _ := pg.Lead(ctx, db, "test.leader", 100*time.Millisecond)
	if _, err := pg.Lead(cctx, db, "test.leader", 100*time.Millisecond); err == nil {
		t.Fatal("Lead returned without the lock when its context ended")
	}
	_ = hold.Release()
}

// A job every replica schedules runs once at a time: of 20 simultaneous attempts only those that found the
// lock free ran, never two at once.
func TestRunOnce(t *testing.T) {
	db := pgtest.New(t)
	var running, most, ran atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			ok, err := pg.RunOnce(context.Background(), db, "test.job", func(ctx context.Context, tx pgx.Tx) error {
				n := running.Add(1)
				for {
					m := most.Load()
					if n <= m || most.CompareAndSwap(m, n) {
						break
					}
				}
				time.Sleep(50 * time.Millisecond)
				running.Add(-1)
				return nil
			})
			if err != nil {
				t.Error(err)
			}
			if ok {
				ran.Add(1)
			}
		})
	}
	wg.Wait()
	if most.Load() != 1 || ran.Load() < 1 || ran.Load() == 20 {
		t.Fatalf("ran %d times, at most %d at once", ran.Load(), most.Load())
	}
}

// A job that two replicas schedule each on its own timer runs once per period: the second replica finds it
// done; it runs again once the period has passed; a failed run is tried again at the next tick.
func TestRunDue(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	runs := 0
	job := func(context.Context) error { runs++; return nil }
	for i, at := range []time.Duration{0, time.Minute, 59 * time.Minute, 61 * time.Minute, 62 * time.Minute} {
		ran, err := pg.RunDue(ctx, db, "test.hourly", time.Hour, t0.Add(at), job)
		if err != nil {
			t.Fatal(err)
		}
		if want := i == 0 || i == 3; ran != want {
			t.Fatalf("tick at +%s ran %v, want %v", at, ran, want)
		}
	}
	if runs != 2 {
		t.Fatalf("%d runs in 62 minutes of an hourly job, want 2", runs)
	}
	failing := func(context.Context) error { return context.DeadlineExceeded }
	if _, err := pg.RunDue(ctx, db, "test.failing", time.Hour, t0, failing); err == nil {
		t.Fatal("a failed job reported no error")
	}
	if ran, err := pg.RunDue(ctx, db, "test.failing", time.Hour, t0.Add(time.Minute), job); err != nil || !ran {
		t.Fatalf("the job that failed was not tried again: %v %v", ran, err)
	}
}
