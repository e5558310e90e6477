package spool

import "fmt"

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
