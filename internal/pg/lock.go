package pg

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// LockKey turns a name ("suilong.rules", "suilong.prune-dead-letters") into the 64-bit key of a PostgreSQL
// advisory lock, so that every process names a lock the same way.
func LockKey(name string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(name))
	return int64(h.Sum64())
}

// RunOnce runs fn if no other process is running the job named key right now, holding the lock for fn's
// transaction; it reports whether fn ran. Scheduled jobs that every replica schedules use it, so each runs
// once per tick whatever the number of replicas.
func RunOnce(ctx context.Context, db DB, key string, fn func(ctx context.Context, tx pgx.Tx) error) (bool, error) {
	ran := false
	err := WithTx(ctx, db, func(tx pgx.Tx) error {
		var got bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, LockKey(key)).Scan(&got); err != nil {
			return err
		}
		if !got {
			return nil
		}
		ran = true
		return fn(ctx, tx)
	})
	return ran, err
}

// Leadership is an advisory lock held on a connection of its own: its holder is the one process that does a
// job that must have one owner at a time (the cold-chain rules). The lock ends with the connection, so a
// process that dies or loses PostgreSQL loses it, and a standby waiting in Lead gets it.
type Leadership struct {
	conn *pgxpool.Conn
	key  int64
	lost chan struct{}
	stop chan struct{}
	done chan struct{}
}

// Lead waits until it holds the lock named name (trying every retry) or ctx ends. Errors: ctx's, when it ended
// first.
func Lead(ctx context.Context, pool *pgxpool.Pool, name string, retry time.Duration) (*Leadership, error) {
	key := LockKey(name)
	for {
		conn, err := pool.Acquire(ctx)
		if err == nil {
			var got bool
			err = conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&got)
			if err == nil && got {
				l := &Leadership{conn: conn, key: key, lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
				go l.watch(retry)
				return l, nil
			}
			conn.Release()
		}
		t := time.NewTimer(retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// watch checks the lock's connection; when it fails, the lock is gone (PostgreSQL ends a session's locks with
// it) and Lost is closed.
func (l *Leadership) watch(every time.Duration) {
	defer close(l.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), every)
			err := l.conn.Ping(ctx)
			cancel()
			if err != nil {
				close(l.lost)
				return
			}
		}
	}
}

// Lost is closed when the lock can no longer be trusted to be held.
func (l *Leadership) Lost() <-chan struct{} { return l.lost }

// Release gives the lock up (to a standby) and returns the connection.
func (l *Leadership) Release() error {
	close(l.stop)
	<-l.done
	select {
	case <-l.lost:
		l.conn.Conn().Close(context.Background()) // a broken connection goes, not back to the pool
		l.conn.Release()
		return errors.New("the leadership's connection was lost")
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var ok bool
	err := l.conn.QueryRow(ctx, `SELECT pg_advisory_unlock($1)`, l.key).Scan(&ok)
	l.conn.Release()
	if err != nil {
		return fmt.Errorf("release the leadership: %w", err)
	}
	return nil
}

// RunDue runs fn when the job named name has not run for every (in any process), under RunOnce's lock, and
// records that it ran: a job that every replica schedules runs once per period, however many replicas there
// are and whenever each one's timer fires. It reports whether fn ran. fn's error undoes the record, so the job
// is tried again at the next tick.
func RunDue(ctx context.Context, db DB, name string, every time.Duration, now time.Time, fn func(ctx context.Context) error) (bool, error) {
	ran := false
	_, err := RunOnce(ctx, db, name, func(ctx context.Context, tx pgx.Tx) error {
		var last time.Time
		err := tx.QueryRow(ctx, `SELECT last_run FROM scheduled_jobs WHERE name = $1`, name).Scan(&last)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if err == nil && now.Sub(last) < every {
			return nil
		}
		if err := fn(ctx); err != nil {
			return err
		}
		ran = true
		_, err = tx.Exec(ctx, `INSERT INTO scheduled_jobs (name, last_run) VALUES ($1, $2)
			ON CONFLICT (name) DO UPDATE SET last_run = excluded.last_run`, name, now)
		return err
	})
	return ran, err
}
