package spool

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// laidOut is where a record sits in a pristine spool, found by its bytes (not by the spool's own reader).
type laidOut struct {
	id         int
	seg        int // index among the sorted segment files
	start, end int64
}

func layout(t *testing.T, dir string, data []string) (files []string, recs []laidOut) {
	t.Helper()
	files, _ = filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	slices.Sort(files)
	next := 0
	for i, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for off := int64(0); off < int64(len(b)); next++ {
			if next == len(data) || !bytes.HasPrefix(b[off+headerLen:], []byte(data[next])) {
				t.Fatalf("segment %s at %d does not hold record %d", name, off, next)
			}
			end := off + headerLen + int64(len(data[next]))
			recs = append(recs, laidOut{id: next, seg: i, start: off, end: end})
			off = end
		}
	}
	if next != len(data) {
		t.Fatalf("%d records on disk, %d appended", next, len(data))
	}
	return files, recs
}

type damageFigures struct {
	rounds, segments, records, touched, delivered, lost, corrupt, cut int
	kinds                                                             map[string]int
}

// damage changes one segment file the way rnd picks and says how.
func damage(t *testing.T, rnd *rand.Rand, name string, recs []laidOut) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	size := len(b)
	at := func() laidOut { return recs[rnd.IntN(len(recs))] }
	var kind string
	switch rnd.IntN(7) {
	case 0:
		kind = "flipped bytes"
		for range 1 + rnd.IntN(4) {
			b[rnd.IntN(size)] ^= byte(1 + rnd.IntN(255))
		}
	case 1:
		kind = "zeroed run"
		off, n := rnd.IntN(size), 1+rnd.IntN(64)
		clear(b[off:min(size, off+n)])
	case 2:
		kind = "random run"
		off, n := rnd.IntN(size), 1+rnd.IntN(64)
		for i := off; i < min(size, off+n); i++ {
			b[i] = byte(rnd.IntN(256))
		}
	case 3:
		kind = "length 0xFFFFFFFF"
		binary.LittleEndian.PutUint32(b[at().start:], 0xFFFFFFFF)
	case 4:
		kind = "length 256 MiB with the magic"
		binary.LittleEndian.PutUint32(b[at().start:], recMagic|lenMask)
	case 5:
		kind = "length past the segment's end"
		r := at()
		binary.LittleEndian.PutUint32(b[r.start:], recMagic|uint32(int64(size)-r.start-headerLen+1))
	default:
		kind = "truncated in the middle"
		b = b[:1+rnd.IntN(size-1)]
	}
	if err := os.WriteFile(name, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return kind
}

// TestDamageAnywhere damages every segment of a spool (flipped bytes, zeroed and random runs, absurd lengths,
// truncation in the middle), some before it is opened and some under a spool already open, and replays it:
// every record whose bytes were not touched comes out, in order, the touched ones do not, Corrupt counts them
// (a damaged stretch whose record boundaries are lost counts once), and the spool drains to empty.
func TestDamageAnywhere(t *testing.T) {
	rounds := 200
	if testing.Short() {
		rounds = 30
	}
	base := t.TempDir()
	pristine := filepath.Join(base, "pristine")
	rnd := rand.New(rand.NewPCG(2026, 10))
	s := open(t, pristine, Options{SegmentBytes: 1000, Log: quiet})
	var data []string
	for i := range 300 {
		data = append(data, fmt.Sprintf("<%04d>%s", i, strings.Repeat(string(rune('a'+i%26)), rnd.IntN(100))))
		if err := s.Append([]byte(data[i])); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	files, recs := layout(t, pristine, data)
	bySeg := make([][]laidOut, len(files))
	for _, r := range recs {
		bySeg[r.seg] = append(bySeg[r.seg], r)
	}

	fig := damageFigures{kinds: map[string]int{}}
	for round := range rounds {
		rnd := rand.New(rand.NewPCG(uint64(round), 77))
		dir := filepath.Join(base, fmt.Sprint(round))
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, f := range append(files, filepath.Join(pristine, cursorName)) {
			b, _ := os.ReadFile(f)
			if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		var log counting
		opts := Options{Dir: dir, SegmentBytes: 1000, Log: slog.New(&log)}
		underOpen := rnd.IntN(3) == 0
		var s *Spool
		if underOpen {
			s = open(t, dir, opts)
		}
		for i, f := range files {
			fig.kinds[damage(t, rnd, filepath.Join(dir, filepath.Base(f)), bySeg[i])]++
		}
		if !underOpen {
			s = open(t, dir, opts)
		}

		// What the damage touched, from the bytes; and where each file now ends.
		touched := make([]bool, len(recs))
		sizes := make([]int64, len(files))
		for i, f := range files {
			before, _ := os.ReadFile(f)
			after, _ := os.ReadFile(filepath.Join(dir, filepath.Base(f)))
			sizes[i] = int64(len(after))
			for _, r := range bySeg[i] {
				touched[r.id] = int64(len(after)) < r.end || !bytes.Equal(before[r.start:r.end], after[r.start:r.end])
			}
		}
		var want []string
		for _, r := range recs {
			if !touched[r.id] {
				want = append(want, data[r.id])
			}
		}
		// Each run of touched records in a segment counts from once to once a record, except a run at the end
		// of the newest segment found at open: that is a torn append, cut off. A segment cut short exactly
		// where a record began looks like a shorter segment: what is past the cut is gone, not counted.
		var lo, hi, cut int
		for i := range files {
			seg := bySeg[i]
			for k := 0; k < len(seg); {
				if !touched[seg[k].id] {
					k++
					continue
				}
				j := k
				for j < len(seg) && touched[seg[j].id] {
					j++
				}
				switch {
				case !underOpen && i == len(files)-1 && j == len(seg):
					cut += j - k
				case j == len(seg) && seg[k].start == sizes[i]:
					hi += j - k
				default:
					lo, hi = lo+1, hi+j-k
				}
				k = j
			}
		}
		if st := s.Stats(); !underOpen && st.Records != int64(len(want)) {
			t.Fatalf("round %d: %d records counted at open, %d not touched", round, st.Records, len(want))
		}
		var got []string
		for {
			recs, err := s.Peek(1+rnd.IntN(10), int64(1+rnd.IntN(2000)))
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) == 0 {
				break
			}
			for _, r := range recs {
				got = append(got, string(r.Data))
			}
			if err := s.Commit(recs); err != nil {
				t.Fatal(err)
			}
			if st := s.Stats(); s.Empty() != (st.Records == 0) || st.Records < 0 || st.Bytes < 0 {
				t.Fatalf("round %d: Empty %v, %+v", round, s.Empty(), st)
			}
		}
		st := s.Stats()
		if !slices.Equal(got, want) {
			t.Fatalf("round %d (under an open spool: %v): got %d records, want the %d untouched\n got %.60q\nwant %.60q",
				round, underOpen, len(got), len(want), got, want)
		}
		if st.Corrupt < int64(lo) || st.Corrupt > int64(hi) {

			t.Fatalf("round %d: Corrupt %d, want %d to %d", round, st.Corrupt, lo, hi)
		}
		if !s.Empty() || st.Records != 0 || st.Bytes != 0 {
			t.Fatalf("round %d: drained, but Empty %v and %+v", round, s.Empty(), st)
		}
		if lo > 0 && log.count("spool: skipped damaged records") == 0 {
			t.Fatalf("round %d: damage skipped without a word in the log", round)
		}
		s.Close()
		os.RemoveAll(dir)
		fig.rounds++
		fig.segments += len(files)
		fig.records += len(recs)
		fig.delivered += len(got)
		fig.corrupt += int(st.Corrupt)
		fig.cut += cut
		for _, tt := range touched {
			if tt {
				fig.touched++
			}
		}
	}
	fig.lost = fig.records - fig.touched - fig.delivered
	t.Logf("damage: %d rounds, %d segments damaged (%v); %d records, %d touched by the damage, %d delivered, "+
		"%d untouched lost, %d counted corrupt, %d in torn tails cut at open",
		fig.rounds, fig.segments, fig.kinds, fig.records, fig.touched, fig.delivered, fig.lost, fig.corrupt, fig.cut)
}

// A length header is checked before anything is allocated for it: headers claiming 4 GiB, 256 MiB and one byte
// more than the segment holds cost no more memory than a small record, whether the damage is found at open
// (by the scan) or by Peek under a spool already open.
func TestAbsurdLengthAllocatesNothing(t *testing.T) {
	for _, underOpen := range []bool{false, true} {
		dir := t.TempDir()
		s := open(t, dir, Options{Log: quiet})
		for i := range 8 {
			if err := s.Append(fmt.Appendf(nil, "record-%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		if !underOpen {
			s.Close()
		}
		segs, _ := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
		b, _ := os.ReadFile(segs[0])
		rec := int64(headerLen + len("record-0"))
		binary.LittleEndian.PutUint32(b[1*rec:], 0xFFFFFFFF)
		binary.LittleEndian.PutUint32(b[3*rec:], recMagic|lenMask)
		binary.LittleEndian.PutUint32(b[5*rec:], recMagic|uint32(int64(len(b))-5*rec-headerLen+1))
		os.WriteFile(segs[0], b, 0o600)

		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		if !underOpen {
			s = open(t, dir, Options{Log: quiet})
		}
		got := drain(t, s, 10)
		runtime.ReadMemStats(&after)
		if fmt.Sprint(got) != "[record-0 record-2 record-4 record-6 record-7]" || s.Stats().Corrupt != 3 {
			t.Fatalf("under an open spool %v: got %v, %d corrupt", underOpen, got, s.Stats().Corrupt)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
			t.Fatalf("under an open spool %v: reading allocated %d bytes", underOpen, n)
		}
	}
}

// Segments and the cursor of format 1 are read (with their rule: damage ends the segment); new records go to
// a format 2 segment after them.
func TestFormatOneIsRead(t *testing.T) {
	dir := t.TempDir()
	seg := func(seq int, recs ...string) []byte {
		var b []byte
		for _, r := range recs {
			b = binary.LittleEndian.AppendUint32(b, uint32(len(r)))
			b = binary.LittleEndian.AppendUint32(b, crc32.Checksum([]byte(r), castagnoli))
			b = append(b, r...)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%016d.seg", seq)), b, 0o600); err != nil {
			t.Fatal(err)
		}
		return b
	}
	seg(3, "a", "b")
	b := seg(4, "c", "d", "e")
	seg(5, "f", "g", "h")
	last := seg(6, "i", "j")
	// Cursor of format 1 after "c"; "e" damaged; a torn record at the end.
	cur := binary.LittleEndian.AppendUint64(nil, 4)
	cur = binary.LittleEndian.AppendUint64(cur, 9)
	cur = binary.LittleEndian.AppendUint32(cur, crc32.Checksum(cur, castagnoli))
	os.WriteFile(filepath.Join(dir, cursorName), cur, 0o600)
	b[len(b)-1] ^= 1
	os.WriteFile(filepath.Join(dir, fmt.Sprintf("%016d.seg", 4)), b, 0o600)
	os.WriteFile(filepath.Join(dir, fmt.Sprintf("%016d.seg", 6)), append(last, 9, 0, 0), 0o600)

	s := open(t, dir, Options{Log: quiet})
	if st := s.Stats(); st.Records != 6 {
		t.Fatalf("%d records pending, want 6 (d f g h i j)", st.Records)
	}
	if err := s.Append([]byte("k")); err != nil {
		t.Fatal(err)
	}
	if got := drain(t, s, 3); fmt.Sprint(got) != "[d f g h i j k]" || s.Stats().Corrupt != 1 {
		t.Fatalf("got %v, %d corrupt", got, s.Stats().Corrupt)
	}
	if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf("%016d%s", 7, segSuffix))); err != nil {
		t.Fatalf("new records not in a format 2 segment after the old ones: %v", err)
	}
	s.Close()
	s = open(t, dir, Options{Log: quiet})
	if !s.Empty() {
		t.Fatalf("after reopening a drained spool: %+v", s.Stats())
	}
}
