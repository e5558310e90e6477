package spool

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

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
