package spool

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
)

const (
	headerLen = 8
	// A record's first word is its length, with recMagic in the top four bits.
	recMagic  = 0x1 << 28
	lenMask   = 1<<28 - 1
	maxRecord = lenMask
	// Segments before format 2 had a plain length (up to 256 MiB) and a CRC-32C of the data alone.
	oldMaxRecord = 256 << 20

	segSuffix    = ".seg2"
	oldSegSuffix = ".seg"
	cursorName   = "cursor"

	window = 64 << 10 // read-ahead of a segment reader
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// segKey is XORed into the checksum of every record of segment seq, so that a record is valid only in the
// segment that wrote it: stale blocks of a deleted segment showing up in a new one after a crash are damage.
func segKey(seq uint64) uint32 {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], seq)
	return crc32.Checksum(b[:], castagnoli)
}

// encode fills rec (headerLen+len(data) bytes, the data already in place) with the header for segment key.
func encode(rec []byte, key uint32) {
	binary.LittleEndian.PutUint32(rec[0:4], recMagic|uint32(len(rec)-headerLen))
	crc := crc32.Update(crc32.Checksum(rec[0:4], castagnoli), castagnoli, rec[headerLen:])
	binary.LittleEndian.PutUint32(rec[4:8], crc^key)
}

// span is a damaged stretch of a segment: no valid record starts inside it.
type span struct {
	start, end int64
	records    int64 // how many records it seems to have held (at least 1)
}

// reader reads one segment through a window, so that scanning costs one read a window, not two a record.
type reader struct {
	f    File
	key  uint32
	old  bool
	size int64 // what the spool counts as the segment; a record must end within it
	buf  []byte
	boff int64 // file offset of buf[0]
}

func newReader(f File, sg *segment) *reader {
	return &reader{f: f, key: segKey(sg.seq), old: sg.old, size: sg.size}
}

// at returns n ≤ window bytes at off, valid until the next call. A file shorter than that is damage:
// io.ErrUnexpectedEOF.
func (r *reader) at(off int64, n int) ([]byte, error) {
	if off >= r.boff && off+int64(n) <= r.boff+int64(len(r.buf)) {
		return r.buf[off-r.boff : off-r.boff+int64(n)], nil
	}
	if cap(r.buf) < window {
		r.buf = make([]byte, window)
	}
	m, err := r.f.ReadAt(r.buf[:window], off)
	r.buf, r.boff = r.buf[:m], off
	if m >= n {
		return r.buf[:n], nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return nil, io.ErrUnexpectedEOF
	}
	return nil, err
}

// damaged turns a short read into "not a valid record" and keeps real I/O errors.
func damaged(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return nil
	}
	return err
}

// plausible checks a header at off before anything is read or allocated for it: the magic, and a length
// within the maximum and within what is left of the segment.
func (r *reader) plausible(hdr []byte, off int64) (int64, bool) {
	w := binary.LittleEndian.Uint32(hdr[0:4])
	n, limit := int64(w&lenMask), int64(maxRecord)
	if r.old {
		n, limit = int64(w), oldMaxRecord
	} else if w&^lenMask != recMagic {
		return 0, false
	}
	return n, n <= limit && n <= r.size-off-headerLen
}

func (r *reader) sum(hdr []byte, crc uint32) bool {
	want := binary.LittleEndian.Uint32(hdr[4:8])
	if r.old {
		return crc == want
	}
	return crc^r.key == want
}

func (r *reader) seed(hdr []byte) uint32 {
	if r.old {
		return 0
	}
	return crc32.Checksum(hdr[0:4], castagnoli)
}

// check reports whether a whole valid record starts at off, and its data length. It allocates nothing.
func (r *reader) check(off int64) (int64, bool, error) {
	if off+headerLen > r.size {
		return 0, false, nil
	}
	h, err := r.at(off, headerLen)
	if err != nil {
		return 0, false, damaged(err)
	}
	var hdr [headerLen]byte
	copy(hdr[:], h)
	n, ok := r.plausible(hdr[:], off)
	if !ok {
		return 0, false, nil
	}
	crc := r.seed(hdr[:])
	for pos, end := off+headerLen, off+headerLen+n; pos < end; {
		k := int(min(end-pos, window))
		b, err := r.at(pos, k)
		if err != nil {
			return 0, false, damaged(err)
		}
		crc = crc32.Update(crc, castagnoli, b)
		pos += int64(k)
	}
	return n, r.sum(hdr[:], crc), nil
}

// record reads the record at off: its data, or ok false if none valid starts there. The data is allocated only
// once the header has passed plausible, so never more than what the segment holds.
func (r *reader) record(off int64) ([]byte, bool, error) {
	if off+headerLen > r.size {
		return nil, false, nil
	}
	h, err := r.at(off, headerLen)
	if err != nil {
		return nil, false, damaged(err)
	}
	var hdr [headerLen]byte
	copy(hdr[:], h)
	n, ok := r.plausible(hdr[:], off)
	if !ok {
		return nil, false, nil
	}
	data := make([]byte, n)
	if n <= window {
		b, err := r.at(off+headerLen, int(n))
		if err != nil {
			return nil, false, damaged(err)
		}
		copy(data, b)
	} else if m, err := r.f.ReadAt(data, off+headerLen); int64(m) < n {
		if err == nil || errors.Is(err, io.EOF) {
			return nil, false, nil
		}
		return nil, false, err
	}
	if !r.sum(hdr[:], crc32.Update(r.seed(hdr[:]), castagnoli, data)) {
		return nil, false, nil
	}
	return data, true, nil
}

// scan walks the segment from off to its end and returns how many valid records it holds and the damaged
// stretches between them.
func (r *reader) scan(off int64) (records int64, damage []span, err error) {
	for off < r.size {
		n, ok, err := r.check(off)
		if err != nil {
			return 0, nil, err
		}
		if ok {
			records++
			off += headerLen + n
			continue
		}
		d, err := r.resync(off)
		if err != nil {
			return 0, nil, err
		}
		damage = append(damage, d)
		off = d.end
	}
	return records, damage, nil
}

// resync finds the end of the damage that starts at off: the next offset at which a valid record starts, or
// the end of the segment. Old segments have no magic to find a record by, so there it is the end.
func (r *reader) resync(off int64) (span, error) {
	end := r.size
	for q := off + 1; !r.old && q+headerLen <= r.size; q++ {
		_, ok, err := r.check(q)
		if err != nil {
			return span{}, err
		}
		if ok {
			end = q
			break
		}
	}
	return span{start: off, end: end, records: r.guess(off, end)}, nil
}

// guess counts the records a damaged stretch held: when the lengths in it lead from record to record exactly
// to its end, each was a record whose data is damaged; otherwise the boundaries are lost and it counts as one.
func (r *reader) guess(start, end int64) int64 {
	var count int64
	for p := start; p < end; count++ {
		h, err := r.at(p, headerLen)
		if err != nil {
			return 1
		}
		n, ok := r.plausible(h, p)
		if !ok || p+headerLen+n > end {
			return 1
		}
		p += headerLen + n
	}
	return max(count, 1)
}

// The cursor file holds two slots, in different sectors, written in turn, so a torn write spoils only the
// newer one. A slot: magic, generation, segment, offset (little-endian), CRC-32C of the 28 bytes before it.
const (
	cursorMagic = 0x32435053 // "SPC2"
	cursorSlot  = 512
	cursorLen   = 32
	oldCursor   = 20 // before format 2: segment, offset, CRC-32C, at offset 0
)

type position struct {
	gen uint64
	seq uint64
	off int64
}

func readCursor(f File) (position, bool) {
	var best position
	found := false
	for i := range int64(2) {
		var b [cursorLen]byte
		if n, _ := f.ReadAt(b[:], i*cursorSlot); n < cursorLen {
			continue
		}
		if binary.LittleEndian.Uint32(b[0:4]) != cursorMagic ||
			crc32.Checksum(b[:28], castagnoli) != binary.LittleEndian.Uint32(b[28:32]) {
			continue
		}
		p := position{gen: binary.LittleEndian.Uint64(b[4:12]), seq: binary.LittleEndian.Uint64(b[12:20]),
			off: int64(binary.LittleEndian.Uint64(b[20:28]))}
		if !found || p.gen > best.gen {
			best, found = p, true
		}
	}
	if found {
		return best, true
	}
	var b [oldCursor]byte
	if n, _ := f.ReadAt(b[:], 0); n == oldCursor && crc32.Checksum(b[:16], castagnoli) == binary.LittleEndian.Uint32(b[16:]) {
		return position{seq: binary.LittleEndian.Uint64(b[0:8]), off: int64(binary.LittleEndian.Uint64(b[8:16]))}, true
	}
	return position{}, false
}

func encodeCursor(p position) []byte {
	b := make([]byte, cursorLen)
	binary.LittleEndian.PutUint32(b[0:4], cursorMagic)
	binary.LittleEndian.PutUint64(b[4:12], p.gen)
	binary.LittleEndian.PutUint64(b[12:20], p.seq)
	binary.LittleEndian.PutUint64(b[20:28], uint64(p.off))
	binary.LittleEndian.PutUint32(b[28:32], crc32.Checksum(b[:28], castagnoli))
	return b
}
