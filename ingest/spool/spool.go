// Package spool is a bounded, crash-safe, first-in first-out queue of records on local disk: what ingest keeps
// when InfluxDB (or PostgreSQL, for the dead letter) cannot take it, until it can.
//
// Records are appended to segment files and synced before Append returns, so an acknowledged message survives
// a crash. A reader peeks records in append order and commits them once they are stored elsewhere; consumed
// segments are deleted. The read position is saved in a small cursor file; after a crash the reader may see a
// few committed records again, which is harmless for InfluxDB (same series and time overwrite).
//
// Layout of a record: 4-byte little-endian length, 4-byte CRC-32C of the data, the data. A torn record at the
// end of the last segment (a crash mid-append, before the sync returned) is cut off at open.
package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// ErrFull is returned by Append when the spool holds MaxBytes already.
var ErrFull = errors.New("spool is full")

// Options configure a spool.
type Options struct {
	// Dir holds the segments and the cursor; it is created if missing.
	Dir string
	// MaxBytes bounds the unconsumed data (default 1 GiB).
	MaxBytes int64
	// SegmentBytes is the size at which a new segment starts (default 64 MiB).
	SegmentBytes int64
	// NoSync skips fsync (benchmarks of everything else only).
	NoSync bool
}

const (
	headerLen  = 8
	maxRecord  = 256 << 20
	segSuffix  = ".seg"
	cursorName = "cursor"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type segment struct {
	seq  uint64
	size int64
}

// Spool is safe for concurrent use: appends from many goroutines, one reader.
type Spool struct {
	opts Options

	mu      sync.Mutex
	segs    []segment // oldest first; the last is the one appended to
	w       *os.File
	rSeq    uint64
	rOff    int64 // read position in segs[0]
	pending int64 // records not yet committed
	bytes   int64 // bytes not yet committed
	corrupt int64
	cursor  *os.File
}

// Open opens (or creates) the spool in opts.Dir, repairing a torn tail.
func Open(opts Options) (*Spool, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 1 << 30
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = 64 << 20
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s := &Spool{opts: opts}
	entries, err := os.ReadDir(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, segSuffix) {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(name, segSuffix), 10, 64)
		if err != nil {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		s.segs = append(s.segs, segment{seq: seq, size: info.Size()})
	}
	slices.SortFunc(s.segs, func(a, b segment) int { return int(a.seq) - int(b.seq) })

	s.cursor, err = os.OpenFile(filepath.Join(opts.Dir, cursorName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	cseq, coff := s.readCursor()

	// Drop segments the cursor has moved past (a crash between commit and delete).
	for len(s.segs) > 1 && s.segs[0].seq < cseq {
		_ = os.Remove(s.segPath(s.segs[0].seq))
		s.segs = s.segs[1:]
	}
	if len(s.segs) == 0 {
		s.segs = []segment{{seq: max(cseq, 1)}}
		coff = 0
	} else if s.segs[0].seq != cseq {
		coff = 0
	}
	// Repair the tail, then count what is pending.
	last := &s.segs[len(s.segs)-1]
	_, valid, err := scan(s.segPath(last.seq), 0)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if valid < last.size {
		if err := os.Truncate(s.segPath(last.seq), valid); err != nil {
			return nil, fmt.Errorf("spool: cut torn record: %w", err)
		}
		last.size = valid
	}
	if coff > s.segs[0].size {
		coff = 0
	}
	s.rSeq, s.rOff = s.segs[0].seq, coff
	for i, sg := range s.segs {
		from := int64(0)
		if i == 0 {
			from = coff
		}
		cnt, _, err := scan(s.segPath(sg.seq), from)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("spool: %w", err)
		}
		s.pending += cnt
		s.bytes += sg.size - from
	}
	s.w, err = os.OpenFile(s.segPath(last.seq), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	return s, nil
}

func (s *Spool) segPath(seq uint64) string {
	return filepath.Join(s.opts.Dir, fmt.Sprintf("%016d%s", seq, segSuffix))
}

// scan counts the valid records of a segment from offset and returns where the valid data ends.
func scan(path string, from int64) (count, end int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	off := from
	var hdr [headerLen]byte
	buf := make([]byte, 0, 64<<10)
	for {
		if _, err := f.ReadAt(hdr[:], off); err != nil {
			return count, off, nil
		}
		n := int64(binary.LittleEndian.Uint32(hdr[0:4]))
		if n > maxRecord {
			return count, off, nil
		}
		if int64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := f.ReadAt(buf, off+headerLen); err != nil {
			return count, off, nil
		}
		if crc32.Checksum(buf, castagnoli) != binary.LittleEndian.Uint32(hdr[4:8]) {
			return count, off, nil
		}
		off += headerLen + n
		count++
	}
}

func (s *Spool) readCursor() (uint64, int64) {
	var b [20]byte
	if n, _ := s.cursor.ReadAt(b[:], 0); n != len(b) {
		return 0, 0
	}
	if crc32.Checksum(b[:16], castagnoli) != binary.LittleEndian.Uint32(b[16:]) {
		return 0, 0
	}
	return binary.LittleEndian.Uint64(b[0:8]), int64(binary.LittleEndian.Uint64(b[8:16]))
}

func (s *Spool) writeCursor() error {
	var b [20]byte
	binary.LittleEndian.PutUint64(b[0:8], s.rSeq)
	binary.LittleEndian.PutUint64(b[8:16], uint64(s.rOff))
	binary.LittleEndian.PutUint32(b[16:], crc32.Checksum(b[:16], castagnoli))
	_, err := s.cursor.WriteAt(b[:], 0)
	return err
}

// Append adds a record and returns once it is on disk. Errors: ErrFull when the spool holds MaxBytes.
func (s *Spool) Append(data []byte) error {
	if len(data) > maxRecord {
		return fmt.Errorf("spool: record of %d bytes is too large", len(data))
	}
	rec := make([]byte, headerLen+len(data))
	binary.LittleEndian.PutUint32(rec[0:4], uint32(len(data)))
	binary.LittleEndian.PutUint32(rec[4:8], crc32.Checksum(data, castagnoli))
	copy(rec[headerLen:], data)

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bytes+int64(len(rec)) > s.opts.MaxBytes {
		return ErrFull
	}
	last := &s.segs[len(s.segs)-1]
	if last.size > 0 && last.size+int64(len(rec)) > s.opts.SegmentBytes {
		if err := s.rotate(); err != nil {
			return err
		}
		last = &s.segs[len(s.segs)-1]
	}
	if _, err := s.w.Write(rec); err != nil {
		// A partial write would be cut at the next open; make this one's length count no further.
		_ = s.w.Truncate(last.size)
		return fmt.Errorf("spool: append: %w", err)
	}
	if !s.opts.NoSync {
		if err := s.w.Sync(); err != nil {
			return fmt.Errorf("spool: sync: %w", err)
		}
	}
	last.size += int64(len(rec))
	s.pending++
	s.bytes += int64(len(rec))
	return nil
}

func (s *Spool) rotate() error {
	if !s.opts.NoSync {
		if err := s.w.Sync(); err != nil {
			return fmt.Errorf("spool: sync: %w", err)
		}
	}
	_ = s.w.Close()
	seq := s.segs[len(s.segs)-1].seq + 1
	w, err := os.OpenFile(s.segPath(seq), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("spool: new segment: %w", err)
	}
	if !s.opts.NoSync {
		if d, err := os.Open(s.opts.Dir); err == nil {
			_ = d.Sync() // make the new file's name durable
			d.Close()
		}
	}
	s.w = w
	s.segs = append(s.segs, segment{seq: seq})
	return nil
}

// Record is a peeked record; pass Records' count to Commit once they are stored.
type Record struct {
	Data []byte
	seq  uint64
	end  int64
}

// Peek returns up to maxRecords records (and about maxBytes at most, but at least one) from the read position,
// in append order, without consuming them.
func (s *Spool) Peek(maxRecords int, maxBytes int64) ([]Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Record
	var total int64
	seq, off := s.rSeq, s.rOff
	for i := 0; i < len(s.segs) && len(out) < maxRecords; i++ {
		sg := s.segs[i]
		if sg.seq < seq {
			continue
		}
		if sg.seq > seq {
			seq, off = sg.seq, 0
		}
		f, err := os.Open(s.segPath(sg.seq))
		if err != nil {
			return out, fmt.Errorf("spool: %w", err)
		}
		for off < sg.size && len(out) < maxRecords && (len(out) == 0 || total < maxBytes) {
			var hdr [headerLen]byte
			if _, err := f.ReadAt(hdr[:], off); err != nil {
				break
			}
			n := int64(binary.LittleEndian.Uint32(hdr[0:4]))
			data := make([]byte, n)
			if n > maxRecord || off+headerLen+n > sg.size {
				s.corrupt++
				off = sg.size
				break
			}
			if _, err := f.ReadAt(data, off+headerLen); err != nil && !errors.Is(err, io.EOF) {
				f.Close()
				return out, fmt.Errorf("spool: read: %w", err)
			}
			if crc32.Checksum(data, castagnoli) != binary.LittleEndian.Uint32(hdr[4:8]) {
				// Damage inside a segment that was synced whole: skip the rest of it rather than stall.
				s.corrupt++
				off = sg.size
				break
			}
			off += headerLen + n
			total += n
			out = append(out, Record{Data: data, seq: sg.seq, end: off})
		}
		f.Close()
	}
	return out, nil
}

// Commit consumes the records up to and including last (the last of a Peek's records that is now stored).
func (s *Spool) Commit(upto []Record) error {
	if len(upto) == 0 {
		return nil
	}
	last := upto[len(upto)-1]
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending -= int64(len(upto))
	s.rSeq, s.rOff = last.seq, last.end
	// Delete fully consumed segments, never the one being appended to.
	for len(s.segs) > 1 && (s.segs[0].seq < s.rSeq || (s.segs[0].seq == s.rSeq && s.rOff >= s.segs[0].size)) {
		_ = os.Remove(s.segPath(s.segs[0].seq))
		s.segs = s.segs[1:]
		if s.segs[0].seq > s.rSeq {
			s.rSeq, s.rOff = s.segs[0].seq, 0
		}
	}
	s.bytes = -s.rOff
	for _, sg := range s.segs {
		s.bytes += sg.size
	}
	if s.pending <= 0 {
		s.pending, s.bytes = 0, 0
		// Everything is consumed: start the tail over so the directory does not grow.
		if len(s.segs) == 1 && s.segs[0].size > 0 && s.rOff >= s.segs[0].size {
			if err := s.w.Truncate(0); err == nil {
				s.segs[0].size = 0
				s.rOff = 0
			}
		}
	}
	return s.writeCursor()
}

// Stats reports what the spool holds.
type Stats struct {
	Records  int64 // records not yet committed
	Bytes    int64 // their size on disk
	MaxBytes int64
	Corrupt  int64 // damaged records skipped since open
}

// Stats returns the spool's depth.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Records: s.pending, Bytes: s.bytes, MaxBytes: s.opts.MaxBytes, Corrupt: s.corrupt}
}

// Empty reports whether every record has been committed.
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
	}
	if s.cursor != nil {
		_ = s.cursor.Close()
	}
	return err
}
