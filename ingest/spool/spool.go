// Package spool is a bounded, crash-safe, first-in first-out queue of records on local disk: what ingest keeps
// when InfluxDB (or PostgreSQL, for the dead letter) cannot take it, until it can.
//
// # Contract
//
// Append returns once the record is on disk (written and fsynced, and the name of a new segment fsynced into
// the directory): a record Append acknowledged survives a crash of the process and a loss of power. A reader
// peeks records in append order and commits them once they are stored elsewhere. After a crash the reader may
// see committed records again (at least once: harmless for InfluxDB, where the same series and time
// overwrite), but never misses an acknowledged record it has not committed.
//
// Damage is skipped, counted (Stats().Corrupt) and logged, never a reason to stop: a record whose bytes are
// wrong anywhere, in any segment, is passed over and the records after it are delivered. Empty and Stats stay
// true to what Peek can still give. A damaged stretch whose record boundaries are lost counts as one record;
// a segment cut short exactly at a record boundary looks like a shorter segment and is not counted.
//
// # On disk (format 2)
//
// Dir holds segments, named by a sequence number ("0000000000000007.seg2") that only grows and is never used
// twice, and a cursor. A segment is a run of records, each an 8-byte header and its data:
//
//	word 0: uint32 LE, the data's length in the low 28 bits (so at most 256 MiB - 1), 0x1 in the top 4
//	word 1: uint32 LE, CRC-32C of word 0 and the data, XOR the CRC-32C of the segment's number (uint64 LE)
//
// A header is believed only as far as its magic, a length within the maximum and within what is left of the
// segment, and then the checksum; nothing is allocated before. After a bad record the reader tries every
// following offset for a valid record and goes on from the first it finds (records are bound to their segment
// by the XOR, so stale data of another segment does not pass). Bad bytes after the last valid record of the
// newest segment are what a crash in the middle of an Append leaves: they are cut off at open, logged, and not
// counted as damage.
//
// Segments are only appended to (the one exception: bytes past the last valid record, where nothing was
// acknowledged, are cut off), and deleted whole once read to the end; a drained spool goes on appending to
// its newest segment until it reaches SegmentBytes. So an offset in a segment always means the same record,
// and a cursor, however old, never points past a record that was appended after it was written.
//
// The cursor file has two 32-byte slots, at offsets 0 and 512, written in turn and fsynced: magic "SPC2",
// generation, segment, offset (uint64 LE each) and a CRC-32C of those 28 bytes. The valid slot with the higher
// generation is the read position: everything before it is committed. A torn slot falls back to the other one;
// none valid means the oldest segment's start. Commit writes the cursor before it deletes segments; a crash
// between the two leaves segments the cursor has passed, which open deletes.
//
// Format 1 (".seg" segments: a plain length and a CRC-32C of the data alone; a 20-byte cursor at offset 0)
// is still read, with its old rule that damage ends the segment; new records go to a format 2 segment.
package spool

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// ErrFull is returned by Append when the spool holds MaxBytes already.
var ErrFull = errors.New("spool is full")

var errClosed = errors.New("spool: closed")

// Options configure a spool.
type Options struct {
	// Dir holds the segments and the cursor; it is created if missing.
	Dir string
	// MaxBytes bounds the unconsumed data (default 1 GiB).
	MaxBytes int64
	// SegmentBytes is the size at which a new segment starts (default 64 MiB).
	SegmentBytes int64
	// NoSync skips fsync (benchmarks of everything else only: nothing survives a power loss).
	NoSync bool
	// FS is the file system (default the operating system's, OSFS).
	FS FS
	// Log gets damage found and skipped (default slog.Default()).
	Log *slog.Logger
}

type segment struct {
	seq     uint64
	old     bool // format 1: read only
	size    int64
	records int64  // valid records not yet consumed
	damage  []span // damaged stretches not yet passed, in order
}

// Spool is safe for concurrent use: appends from many goroutines, one reader.
type Spool struct {
	opts Options
	fs   FS
	log  *slog.Logger

	mu       sync.Mutex
	segs     []segment // oldest first; the last is the one appended to
	w        File      // the last segment
	key      uint32    // segKey of the last segment
	rSeq     uint64    // read position: always segs[0]
	rOff     int64
	gen      uint64 // generation of the cursor last written
	pending  int64  // records not yet committed
	bytes    int64  // bytes from the read position to the end
	corrupt  int64
	cursor   File
	dirDirty bool // a file was created and the directory is not fsynced since
	broken   bool // an append failed: its segment's tail is uncertain, start a new one
}

// Open opens (or creates) the spool in opts.Dir, cutting off a torn tail.
func Open(opts Options) (*Spool, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 1 << 30
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = 64 << 20
	}
	s := &Spool{opts: opts, fs: opts.FS, log: opts.Log}
	if s.fs == nil {
		s.fs = OSFS{}
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if err := s.open(); err != nil {
		s.Close()
		return nil, fmt.Errorf("spool: %w", err)
	}
	return s, nil
}

func (s *Spool) open() error {
	dir := s.opts.Dir
	if err := ensureDir(s.fs, dir, !s.opts.NoSync); err != nil {
		return err
	}
	names, err := s.fs.ReadDir(dir)
	if err != nil {
		return err
	}
	var haveCursor bool
	for _, name := range names {
		old := strings.HasSuffix(name, oldSegSuffix)
		if !old && !strings.HasSuffix(name, segSuffix) {
			haveCursor = haveCursor || name == cursorName
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSuffix(name, segSuffix), oldSegSuffix), 10, 64)
		if err != nil {
			continue
		}
		s.segs = append(s.segs, segment{seq: seq, old: old})
	}
	slices.SortFunc(s.segs, func(a, b segment) int { return cmpSeq(a.seq, b.seq) })
	for i := 1; i < len(s.segs); i++ {
		if s.segs[i].seq == s.segs[i-1].seq {
			return fmt.Errorf("two segments numbered %d in %s", s.segs[i].seq, dir)
		}
	}

	s.cursor, err = s.fs.OpenFile(filepath.Join(dir, cursorName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	s.dirDirty = !haveCursor
	cur, _ := readCursor(s.cursor)
	s.gen = cur.gen

	// Segments before the cursor's are consumed (a crash between Commit's cursor write and its deletes).
	next := cur.seq
	for len(s.segs) > 0 && s.segs[0].seq < cur.seq {
		_ = s.fs.Remove(s.segPath(&s.segs[0]))
		s.segs = s.segs[1:]
	}
	if len(s.segs) > 0 {
		next = max(next, s.segs[len(s.segs)-1].seq)
	}
	if len(s.segs) > 0 && s.segs[0].seq == cur.seq {
		s.rOff = cur.off
	}

	for i := range s.segs {
		if err := s.load(i, i == len(s.segs)-1); err != nil {
			return err
		}
	}
	if len(s.segs) == 0 || s.segs[len(s.segs)-1].old {
		if err := s.create(next + 1); err != nil {
			return err
		}
	} else {
		last := &s.segs[len(s.segs)-1]
		if s.w, err = s.fs.OpenFile(s.segPath(last), os.O_RDWR, 0); err != nil {
			return err
		}
		s.key = segKey(last.seq)
	}
	s.rSeq = s.segs[0].seq
	var spans, records int64
	for _, sg := range s.segs {
		for _, d := range sg.damage {
			spans, records = spans+1, records+d.records
		}
	}
	if spans > 0 {
		s.log.Warn("spool: damaged records found at open; replay skips them and goes on", "dir", dir,
			"stretches", spans, "records", records)
	}
	drop := s.advance()
	if s.rSeq != cur.seq || s.rOff != cur.off || cur.gen == 0 {
		if err := s.writeCursor(); err != nil {
			return err
		}
	}
	s.remove(drop)
	if s.dirDirty && !s.opts.NoSync {
		if err := s.fs.SyncDir(dir); err != nil {
			return err
		}
		s.dirDirty = false
	}
	return nil
}

// load reads segment i to count its records and find its damage; the newest one's torn tail is cut off.
func (s *Spool) load(i int, newest bool) error {
	sg := &s.segs[i]
	f, err := s.fs.OpenFile(s.segPath(sg), os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if sg.size, err = f.Size(); err != nil {
		return err
	}
	from := int64(0)
	if i == 0 {
		if s.rOff > sg.size {
			s.log.Warn("spool: the cursor points past the end of its segment; reading the segment from its start",
				"segment", sg.seq, "cursor", s.rOff, "size", sg.size)
			s.rOff = 0
		}
		from = s.rOff
	}
	r := newReader(f, sg)
	if sg.records, sg.damage, err = r.scan(from); err != nil {
		return err
	}
	if n := len(sg.damage); newest && n > 0 && sg.damage[n-1].end == sg.size {
		cut := sg.damage[n-1].start
		s.log.Warn("spool: cut off a torn record at the end of the newest segment (a crash during an append)",
			"segment", sg.seq, "offset", cut, "bytes", sg.size-cut)
		if err := f.Truncate(cut); err != nil {
			return fmt.Errorf("cut torn record: %w", err)
		}
		if !s.opts.NoSync {
			if err := f.Sync(); err != nil {
				return fmt.Errorf("cut torn record: %w", err)
			}
		}
		sg.size, sg.damage = cut, sg.damage[:n-1]
	}
	return nil
}

func cmpSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ensureDir creates dir and any missing parent, making each new name durable in its parent.
func ensureDir(fsys FS, dir string, sync bool) error {
	err := fsys.Mkdir(dir, 0o700)
	if errors.Is(err, fs.ErrNotExist) {
		parent := filepath.Dir(dir)
		if parent == dir {
			return err
		}
		if err := ensureDir(fsys, parent, sync); err != nil {
			return err
		}
		err = fsys.Mkdir(dir, 0o700)
	}
	switch {
	case errors.Is(err, fs.ErrExist):
		return nil
	case err != nil:
		return err
	case sync:
		return fsys.SyncDir(filepath.Dir(dir))
	}
	return nil
}

func (s *Spool) segPath(sg *segment) string {
	suffix := segSuffix
	if sg.old {
		suffix = oldSegSuffix
	}
	return filepath.Join(s.opts.Dir, fmt.Sprintf("%016d%s", sg.seq, suffix))
}

// create starts segment seq and appends to it from now on. Its name is fsynced before the first append.
func (s *Spool) create(seq uint64) error {
	sg := segment{seq: seq}
	w, err := s.fs.OpenFile(s.segPath(&sg), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("new segment: %w", err)
	}
	if s.w != nil {
		_ = s.w.Close()
	}
	s.w, s.key, s.broken, s.dirDirty = w, segKey(seq), false, true
	s.segs = append(s.segs, sg)
	return nil
}

func (s *Spool) writeCursor() error {
	if s.cursor == nil {
		return errClosed
	}
	p := position{gen: s.gen + 1, seq: s.rSeq, off: s.rOff}
	if _, err := s.cursor.WriteAt(encodeCursor(p), int64(p.gen%2)*cursorSlot); err != nil {
		return fmt.Errorf("write cursor: %w", err)
	}
	if !s.opts.NoSync {
		if err := s.cursor.Sync(); err != nil {
			return fmt.Errorf("sync cursor: %w", err)
		}
	}
	s.gen = p.gen
	return nil
}

// Append adds a record and returns once it is on disk. Errors: ErrFull when the spool holds MaxBytes.
func (s *Spool) Append(data []byte) error {
	if len(data) > maxRecord {
		return fmt.Errorf("spool: record of %d bytes is too large", len(data))
	}
	rec := make([]byte, headerLen+len(data))
	copy(rec[headerLen:], data)

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w == nil {
		return errClosed
	}
	if s.bytes+int64(len(rec)) > s.opts.MaxBytes {
		return ErrFull
	}
	last := &s.segs[len(s.segs)-1]
	if last.size > 0 && (s.broken || last.size+int64(len(rec)) > s.opts.SegmentBytes) {
		if err := s.create(last.seq + 1); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		last = &s.segs[len(s.segs)-1]
	}
	if s.dirDirty && !s.opts.NoSync {
		if err := s.fs.SyncDir(s.opts.Dir); err != nil {
			return fmt.Errorf("spool: sync directory: %w", err)
		}
		s.dirDirty = false
	}
	encode(rec, s.key)
	if _, err := s.w.WriteAt(rec, last.size); err != nil {
		s.fail(last)
		return fmt.Errorf("spool: append: %w", err)
	}
	if !s.opts.NoSync {
		if err := s.w.Sync(); err != nil {
			s.fail(last)
			return fmt.Errorf("spool: sync: %w", err)
		}
	}
	s.broken = false
	last.size += int64(len(rec))
	last.records++
	s.pending++
	s.bytes += int64(len(rec))
	return nil
}

// fail leaves what a failed append may have written past the end, and moves on to a new segment: after a
// failed fsync the kernel may have dropped pages it had, and that file's tail is not to be trusted.
func (s *Spool) fail(last *segment) {
	_ = s.w.Truncate(last.size)
	s.broken = true
}

// Record is a peeked record; pass Records' count to Commit once they are stored.
type Record struct {
	Data []byte
	seq  uint64
	end  int64
}

// Peek returns up to maxRecords records (and about maxBytes at most, but at least one) from the read position,
// in append order, without consuming them. It returns no records only when the spool is empty, and an error
// when a segment cannot be read.
func (s *Spool) Peek(maxRecords int, maxBytes int64) ([]Record, error) {
	if maxRecords <= 0 {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	pk := peek{max: maxRecords, maxBytes: maxBytes}
	for i := 0; i < len(s.segs) && !pk.full(); i++ {
		sg := &s.segs[i]
		from := int64(0)
		if i == 0 {
			from = s.rOff
		}
		if from >= sg.size {
			continue
		}
		f, err := s.fs.OpenFile(s.segPath(sg), os.O_RDONLY, 0)
		if err != nil {
			return pk.out, fmt.Errorf("spool: %w", err)
		}
		err = s.peekSegment(f, sg, from, &pk)
		f.Close()
		if err != nil {
			return pk.out, err
		}
	}
	if len(pk.out) == 0 {
		s.remove(s.advance())
		if s.pending != 0 {
			// Cannot happen while the files hold still; if it does, say so rather than let a replay loop spin.
			s.log.Error("spool: records counted but none found; recounting", "records", s.pending)
			for i := range s.segs {
				s.segs[i].records = 0
			}
			s.count()
		}
	}
	return pk.out, nil
}

// peek is what a Peek has gathered so far.
type peek struct {
	out      []Record
	total    int64
	max      int
	maxBytes int64
}

func (pk *peek) full() bool {
	return len(pk.out) >= pk.max || (len(pk.out) > 0 && pk.total >= pk.maxBytes)
}

func (s *Spool) peekSegment(f File, sg *segment, from int64, pk *peek) error {
	r := newReader(f, sg)
	rescanned := false
	for off := from; off < sg.size && !pk.full(); {
		if d := damageAt(sg, off); d != nil {
			off = d.end
			continue
		}
		data, ok, err := r.record(off)
		if err != nil {
			return fmt.Errorf("spool: read: %w", err)
		}
		if !ok {
			if rescanned {
				if len(pk.out) > 0 {
					return nil
				}
				return fmt.Errorf("spool: segment %d changed while read", sg.seq)
			}
			// Damaged since open: count the segment again, so that its damage is known and its count true.
			rescanned = true
			if err := s.rescan(r, sg, from); err != nil {
				return err
			}
			continue
		}
		off += headerLen + int64(len(data))
		pk.total += int64(len(data))
		pk.out = append(pk.out, Record{Data: data, seq: sg.seq, end: off})
	}
	return nil
}

// rescan counts segment sg again from where its reading starts (from: the read position or 0).
func (s *Spool) rescan(r *reader, sg *segment, from int64) error {
	records, damage, err := r.scan(from)
	if err != nil {
		return fmt.Errorf("spool: read: %w", err)
	}
	sg.records, sg.damage = records, damage
	s.count()
	return nil
}

// damageAt returns the known damage that starts at (or covers) off.
func damageAt(sg *segment, off int64) *span {
	for i := range sg.damage {
		if d := &sg.damage[i]; d.start <= off && off < d.end {
			return d
		}
	}
	return nil
}

// Commit consumes the records up to and including the last of upto (a Peek's records, or the first of them,
// that are now stored elsewhere). The cursor is fsynced before consumed segments are deleted.
func (s *Spool) Commit(upto []Record) error {
	if len(upto) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range upto {
		if !s.ahead(r.seq, r.end) {
			continue // committed already
		}
		for i := range s.segs {
			if s.segs[i].seq == r.seq && s.segs[i].records > 0 {
				s.segs[i].records--
			}
		}
	}
	last := upto[len(upto)-1]
	var drop []segment
	if s.ahead(last.seq, last.end) {
		for len(s.segs) > 1 && s.segs[0].seq < last.seq {
			s.passDamage(&s.segs[0], s.segs[0].size)
			drop = append(drop, s.segs[0])
			s.segs = s.segs[1:]
			s.rSeq, s.rOff = s.segs[0].seq, 0
		}
		if s.rSeq == last.seq {
			s.rOff = max(s.rOff, last.end)
		}
	}
	drop = append(drop, s.advance()...)
	err := s.writeCursor()
	s.remove(drop)
	return err
}

// ahead reports whether (seq, off) is past the read position.
func (s *Spool) ahead(seq uint64, off int64) bool {
	return seq > s.rSeq || (seq == s.rSeq && off > s.rOff)
}

// advance moves the read position past the damage it stands on and past segments read to their end (never
// the newest), counting and logging what it skips. It returns the segments left behind, for deleting once the
// cursor is written.
func (s *Spool) advance() []segment {
	var drop []segment
	for {
		sg := &s.segs[0]
		s.rOff = s.passDamage(sg, s.rOff)
		if s.rOff < sg.size || len(s.segs) == 1 {
			break
		}
		drop = append(drop, *sg)
		s.segs = s.segs[1:]
		s.rSeq, s.rOff = s.segs[0].seq, 0
	}
	s.count()
	return drop
}

// passDamage forgets (counting it) the damage of sg that starts at or before off and returns where reading
// goes on.
func (s *Spool) passDamage(sg *segment, off int64) int64 {
	for len(sg.damage) > 0 && sg.damage[0].start <= off {
		d := sg.damage[0]
		sg.damage = sg.damage[1:]
		off = max(off, d.end)
		s.corrupt += d.records
		s.log.Warn("spool: skipped damaged records", "dir", s.opts.Dir, "segment", sg.seq, "offset", d.start,
			"bytes", d.end-d.start, "records", d.records)
	}
	return off
}

func (s *Spool) count() {
	s.pending, s.bytes = 0, -s.rOff
	for _, sg := range s.segs {
		s.pending += sg.records
		s.bytes += sg.size
	}
}

// remove deletes consumed segments. One that stays (an error here, or a crash before the directory is
// synced) is deleted at the next open: the cursor has passed it.
func (s *Spool) remove(drop []segment) {
	for i := range drop {
		if err := s.fs.Remove(s.segPath(&drop[i])); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("spool: could not delete a consumed segment", "err", err)
		}
	}
}

// Stats reports what the spool holds.
type Stats struct {
	Records  int64 // records not yet committed
	Bytes    int64 // their size on disk
	MaxBytes int64
	Corrupt  int64 // damaged records skipped since open (a stretch whose boundaries are lost counts once)
}

// Stats returns the spool's depth.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Records: s.pending, Bytes: s.bytes, MaxBytes: s.opts.MaxBytes, Corrupt: s.corrupt}
}

// Empty reports whether every record has been committed: when it is false, Peek has a record to give.
func (s *Spool) Empty() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending == 0
}

// Close closes the files.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	if s.w != nil {
		err = s.w.Close()
		s.w = nil
	}
	if s.cursor != nil {
		_ = s.cursor.Close()
		s.cursor = nil
	}
	return err
}
