package spool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// counting is a log handler that counts messages, so that a test can say what the spool reported.
type counting struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counting) Enabled(context.Context, slog.Level) bool { return true }
func (c *counting) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[r.Message]++
	return nil
}
func (c *counting) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *counting) WithGroup(string) slog.Handler      { return c }

func (c *counting) count(prefix string) (n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for msg, k := range c.n {
		if strings.HasPrefix(msg, prefix) {
			n += k
		}
	}
	return n
}

// ledger is what the test knows of every record it tried to append, and what the spool may still give.
type ledger struct {
	t    testing.TB
	data []string // by id
	// acked: Append returned nil; committed: Commit was called with it (after a crash it may come again).
	acked, committed []bool
	queue            []int // ids the spool may give next, in order
	redelivered      int
}

func (l *ledger) must(id int) bool { return l.acked[id] && !l.committed[id] }

func (l *ledger) add(data string, acked bool) {
	l.data = append(l.data, data)
	l.acked = append(l.acked, acked)
	l.committed = append(l.committed, false)
	l.queue = append(l.queue, len(l.data)-1)
}

// reopened: after a crash the spool may give any record that reached it, committed or not, in order; the
// acknowledged and uncommitted ones it must.
func (l *ledger) reopened() {
	l.queue = l.queue[:0]
	for id := range l.data {
		l.queue = append(l.queue, id)
	}
}

// match checks that recs are what the spool may give next and returns how far into the queue they reach.
func (l *ledger) match(recs []Record) []int {
	var at []int
	i := 0
	for _, r := range recs {
		id, err := strconv.Atoi(strings.SplitN(string(r.Data), ":", 2)[0])
		if err != nil || id < 0 || id >= len(l.data) || l.data[id] != string(r.Data) {
			l.t.Fatalf("the spool gave a record never appended: %.40q", r.Data)
		}
		for ; i < len(l.queue) && l.queue[i] != id; i++ {
			if l.must(l.queue[i]) {
				l.t.Fatalf("record %d (acknowledged, not committed) skipped: the spool gave %d next", l.queue[i], id)
			}
		}
		if i == len(l.queue) {
			l.t.Fatalf("record %d given out of order or again after its commit", id)
		}
		at = append(at, i)
		i++
	}
	return at
}

func (l *ledger) commit(recs []Record, at []int) {
	for k := range recs {
		id := l.queue[at[k]]
		if l.committed[id] {
			l.redelivered++
		}
		l.committed[id] = true
	}
	l.queue = l.queue[at[len(recs)-1]+1:]
}

func (l *ledger) musts() (n int) {
	for _, id := range l.queue {
		if l.must(id) {
			n++
		}
	}
	return n
}

// check holds at any moment the spool is up: Empty and Records agree with what it must still give.
func (l *ledger) check(s *Spool) {
	st := s.Stats()
	if m := l.musts(); st.Records < int64(m) || st.Records > int64(len(l.queue)) {
		l.t.Fatalf("Stats().Records %d, but %d records must still come and at most %d may", st.Records, m, len(l.queue))
	}
	if s.Empty() != (st.Records == 0) || (st.Records == 0) != (st.Bytes == 0) {
		l.t.Fatalf("Empty %v with %+v", s.Empty(), st)
	}
}

type powerLossFigures struct {
	runs, crashes, appended, acked, committed, delivered, redelivered, lost int
	modes                                                                   [4]int
	log                                                                     counting
}

// TestPowerLoss runs random work on a spool whose file system is the page-cache model and cuts the power at
// a random operation (in Append, Commit, a rotation, Open, or between them), writes out a state the disk could
// be left in, and goes on from there; each run does this one to three times, then opens the spool on the real
// file system and replays everything. At every step nothing acknowledged and not committed may be missing or
// out of order, nothing committed may come again unless the power went since, and Empty and Stats must be true.
func TestPowerLoss(t *testing.T) {
	runs := 400
	if testing.Short() {
		runs = 60
	}
	var fig powerLossFigures
	for run := range runs {
		powerLossRun(t, uint64(run), &fig)
	}
	fig.runs = runs
	t.Logf("power loss: %d runs, %d power cuts (lose all %d, keep all %d, prefix %d, subset %d); %d appends tried, "+
		"%d acknowledged, %d committed, %d delivered by the last replay, %d committed ones delivered again, %d lost; "+
		"%d torn appends cut at open",
		fig.runs, fig.crashes, fig.modes[loseAll], fig.modes[keepAll], fig.modes[keepPrefix], fig.modes[keepSubset],
		fig.appended, fig.acked, fig.committed, fig.delivered, fig.redelivered, fig.lost, fig.log.count("spool: cut off"))
}

func powerLossRun(t *testing.T, seed uint64, fig *powerLossFigures) {
	rnd := rand.New(rand.NewPCG(seed, 0x5b001))
	base := t.TempDir()
	dir := filepath.Join(base, "disk0")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	opts := Options{SegmentBytes: int64(48 + rnd.IntN(400)), Log: slog.New(&fig.log)}
	if rnd.IntN(3) == 0 {
		opts.MaxBytes = int64(200 + rnd.IntN(2000)) // some ErrFull
	}
	l := &ledger{t: t}
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d (segments of %d bytes): %s", seed, opts.SegmentBytes, fmt.Sprintf(format, args...))
	}
	l.t = failer{t, fail}

	for gen := range 1 + rnd.IntN(3) {
		steps := 20 + rnd.IntN(100)
		pc := newPageCache(t, dir, rnd.IntN(2*steps))
		o := opts
		o.Dir, o.FS = dir, pc
		l.reopened()
		s, err := Open(o)
		if err != nil && !pc.down() {
			fail("open: %v", err)
		}
		if err == nil {
			l.check(s)
			work(s, pc, rnd, l, steps, fig, fail)
			s.Close()
		}
		dir = filepath.Join(base, fmt.Sprintf("disk%d", gen+1))
		fig.modes[pc.crash(t, rnd, dir)]++
		fig.crashes++
	}

	// The last replay, on the real file system.
	l.reopened()
	s, err := Open(Options{Dir: dir, SegmentBytes: opts.SegmentBytes, Log: opts.Log})
	if err != nil {
		fail("open after the power came back: %v", err)
	}
	defer s.Close()
	l.check(s)
	for {
		recs, err := s.Peek(1+rnd.IntN(8), 1<<20)
		if err != nil {
			fail("peek: %v", err)
		}
		if len(recs) == 0 {
			break
		}
		at := l.match(recs)
		fig.delivered += len(recs)
		if err := s.Commit(recs); err != nil {
			fail("commit: %v", err)
		}
		l.commit(recs, at)
	}
	if m := l.musts(); m > 0 {
		fig.lost += m
		fail("%d acknowledged records lost", m)
	}
	if st := s.Stats(); !s.Empty() || st.Records != 0 || st.Bytes != 0 || st.Corrupt != 0 {
		fail("drained spool: empty %v, %+v", s.Empty(), st)
	}
	for id := range l.data {
		fig.appended++
		if l.acked[id] {
			fig.acked++
		}
		if l.committed[id] {
			fig.committed++
		}
	}
	fig.redelivered += l.redelivered
}

// failer lets the ledger report with the run's seed.
type failer struct {
	testing.TB
	fail func(string, ...any)
}

func (f failer) Fatalf(format string, args ...any) { f.TB.Helper(); f.fail(format, args...) }

// work does steps random operations, or fewer if the power goes.
func work(s *Spool, pc *pageCache, rnd *rand.Rand, l *ledger, steps int, fig *powerLossFigures, fail func(string, ...any)) {
	for range steps {
		switch op := rnd.IntN(20); {
		case op < 10: // append
			data := fmt.Sprintf("%d:%s", len(l.data), strings.Repeat(string(rune('a'+rnd.IntN(26))), rnd.IntN(90)))
			err := s.Append([]byte(data))
			switch {
			case err == nil:
				l.add(data, true)
			case errors.Is(err, ErrFull):
			case pc.down():
				l.add(data, false) // it may have reached the disk
				return
			default:
				fail("append: %v", err)
			}
		case op < 17: // peek, and commit some of it
			recs, err := s.Peek(1+rnd.IntN(6), int64(1+rnd.IntN(400)))
			if err != nil {
				if pc.down() {
					return
				}
				fail("peek: %v", err)
			}
			if len(recs) == 0 {
				if !s.Empty() || l.musts() > 0 {
					fail("Peek gave nothing; Empty %v, %d records must still come", s.Empty(), l.musts())
				}
				continue
			}
			at := l.match(recs)
			if n := rnd.IntN(len(recs) + 1); n > 0 {
				err := s.Commit(recs[:n])
				l.commit(recs[:n], at[:n])
				if err != nil {
					if pc.down() {
						return
					}
					fail("commit: %v", err)
				}
			}
		case op < 19: // drain
			for {
				recs, err := s.Peek(8, 1<<20)
				if err != nil {
					if pc.down() {
						return
					}
					fail("peek: %v", err)
				}
				if len(recs) == 0 {
					break
				}
				at := l.match(recs)
				err = s.Commit(recs)
				l.commit(recs, at)
				if err != nil {
					if pc.down() {
						return
					}
					fail("commit: %v", err)
				}
			}
			if !s.Empty() || l.musts() > 0 {
				fail("drained, but Empty %v and %d records must still come", s.Empty(), l.musts())
			}
		default: // a clean restart: nothing committed may come again
			s.Close()
			again, err := Open(s.opts)
			if err != nil {
				if pc.down() {
					return
				}
				fail("reopen: %v", err)
			}
			s = again
			defer again.Close()
		}
		if pc.down() {
			return
		}
		l.check(s)
	}
}

// The case issue 10 names: a spool drained to empty, then appended to, then the power goes before any other
// commit. Nothing appended after the drain may be skipped, whatever the disk kept of what was not synced.
func TestPowerLossAfterDrain(t *testing.T) {
	for mode := range 4 {
		for seed := range uint64(20) {
			rnd := rand.New(rand.NewPCG(seed, 10))
			dir := t.TempDir()
			pc := newPageCache(t, dir, -1)
			s, err := Open(Options{Dir: dir, FS: pc, SegmentBytes: 1 << 10, Log: quiet})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 + rnd.IntN(20) {
				if err := s.Append(fmt.Appendf(nil, "old-%d", i)); err != nil {
					t.Fatal(err)
				}
			}
			drain(t, s, 1+rnd.IntN(5))
			var want []string
			for i := range 1 + rnd.IntN(5) {
				want = append(want, fmt.Sprintf("new-%d", i))
				if err := s.Append([]byte(want[i])); err != nil {
					t.Fatal(err)
				}
			}
			after := filepath.Join(t.TempDir(), "disk")
			pc.crashAs(t, rnd, after, mode)
			s.Close()
			s = open(t, after, Options{SegmentBytes: 1 << 10, Log: quiet})
			if got := drain(t, s, 10); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("mode %d seed %d: after the power came back got %v, want %v", mode, seed, got, want)
			}
		}
	}
}

// A torn append is cut at open; if the next append starts a new segment, the cut must already be durable, or
// the torn bytes come back in a segment that is no longer the newest, where they count as damage.
func TestTornTailCutIsDurable(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{SegmentBytes: 40, Log: quiet})
	if err := s.Append([]byte("one")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	f, _ := os.OpenFile(segs[0], os.O_WRONLY|os.O_APPEND, 0)
	f.Write(append([]byte{20, 0, 0, 0x10}, "torn"...))
	f.Close()

	pc := newPageCache(t, dir, -1)
	s, err := Open(Options{Dir: dir, FS: pc, SegmentBytes: 40, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Append([]byte(strings.Repeat("two", 10))); err != nil { // does not fit: a new segment
		t.Fatal(err)
	}
	after := filepath.Join(t.TempDir(), "disk")
	pc.crashAs(t, rand.New(rand.NewPCG(1, 1)), after, loseAll)
	s.Close()
	s = open(t, after, Options{SegmentBytes: 40, Log: quiet})
	got := drain(t, s, 10)
	if fmt.Sprint(got) != "[one "+strings.Repeat("two", 10)+"]" || s.Stats().Corrupt != 0 {
		t.Fatalf("got %v, %d corrupt", got, s.Stats().Corrupt)
	}
}
