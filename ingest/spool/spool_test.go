package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func open(t *testing.T, dir string, o Options) *Spool {
	t.Helper()
	o.Dir = dir
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func drain(t *testing.T, s *Spool, per int) []string {
	t.Helper()
	var out []string
	for {
		recs, err := s.Peek(per, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return out
		}
		for _, r := range recs {
			out = append(out, string(r.Data))
		}
		if err := s.Commit(recs); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAppendReplayInOrderAcrossSegmentsAndReopen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{SegmentBytes: 100})
	var want []string
	for i := range 50 {
		rec := fmt.Sprintf("batch-%02d", i)
		want = append(want, rec)
		if err := s.Append([]byte(rec)); err != nil {
			t.Fatal(err)
		}
	}
	if st := s.Stats(); st.Records != 50 || st.Bytes != 50*(8+8) {
		t.Fatalf("stats %+v", st)
	}
	// Consume a third, then reopen: the rest comes back, in order, and nothing consumed returns.
	recs, _ := s.Peek(17, 1<<20)
	if err := s.Commit(recs); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, dir, Options{SegmentBytes: 100})
	if st := s.Stats(); st.Records != 33 {
		t.Fatalf("after reopen %d records pending, want 33", st.Records)
	}
	got := drain(t, s, 4)
	if fmt.Sprint(got) != fmt.Sprint(want[17:]) {
		t.Fatalf("replay\n got %v\nwant %v", got, want[17:])
	}
	if st := s.Stats(); st.Records != 0 || st.Bytes != 0 {
		t.Fatalf("drained spool stats %+v", st)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	if len(segs) != 1 {
		t.Fatalf("consumed segments not deleted: %v", segs)
	}
	// Usable after draining.
	if err := s.Append([]byte("again")); err != nil {
		t.Fatal(err)
	}
	if got := drain(t, s, 10); len(got) != 1 || got[0] != "again" {
		t.Fatalf("after drain: %v", got)
	}
}

func TestTornTailIsCut(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	for _, r := range []string{"one", "two"} {
		if err := s.Append([]byte(r)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	f, _ := os.OpenFile(segs[0], os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte{200, 0, 0, 0, 1, 2, 3}) // a header promising 200 bytes, then a crash
	f.Close()
	s = open(t, dir, Options{})
	if err := s.Append([]byte("three")); err != nil {
		t.Fatal(err)
	}
	if got := drain(t, s, 10); fmt.Sprint(got) != "[one two three]" {
		t.Fatalf("after torn tail: %v", got)
	}
}

func TestFull(t *testing.T) {
	s := open(t, t.TempDir(), Options{MaxBytes: 100})
	n := 0
	for {
		err := s.Append(make([]byte, 20))
		if errors.Is(err, ErrFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 3 { // 3 × 28 bytes fit in 100, a fourth does not
		t.Fatalf("%d records fit, want 3", n)
	}
	recs, _ := s.Peek(1, 1)
	if err := s.Commit(recs); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(make([]byte, 20)); err != nil {
		t.Fatalf("append after making room: %v", err)
	}
}

func TestCorruptRecordInMiddleSegmentIsSkipped(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{SegmentBytes: 30})
	for _, r := range []string{"aaaaaaaaaa", "bbbbbbbbbb", "cccccccccc", "dddddddddd"} {
		if err := s.Append([]byte(r)); err != nil {
			t.Fatal(err)
		}
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	if len(segs) < 3 {
		t.Fatalf("want several segments, got %v", segs)
	}
	b, _ := os.ReadFile(segs[1])
	b[len(b)-1] ^= 0xff
	os.WriteFile(segs[1], b, 0o600)
	got := drain(t, s, 10)
	if len(got) != 3 || s.Stats().Corrupt != 1 {
		t.Fatalf("got %v, corrupt %d", got, s.Stats().Corrupt)
	}
}

func BenchmarkAppendSync(b *testing.B) {
	s, err := Open(Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	rec := make([]byte, 64<<10)
	b.SetBytes(int64(len(rec)))
	for b.Loop() {
		if err := s.Append(rec); err != nil {
			b.Fatal(err)
		}
	}
}
