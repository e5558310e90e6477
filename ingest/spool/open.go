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
)

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
