package spool

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"syscall"
	"testing"
)

// faultyFS fails reads, writes (after writing half) or fsyncs of files while told to.
type faultyFS struct {
	FS
	read, write, sync bool
}

type faultyFile struct {
	File
	fs *faultyFS
}

func (f *faultyFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultyFile{File: file, fs: f}, nil
}

func (f *faultyFile) ReadAt(p []byte, off int64) (int, error) {
	if f.fs.read {
		return 0, syscall.EIO
	}
	return f.File.ReadAt(p, off)
}

func (f *faultyFile) WriteAt(p []byte, off int64) (int, error) {
	if f.fs.write {
		n, _ := f.File.WriteAt(p[:len(p)/2], off)
		return n, syscall.ENOSPC
	}
	return f.File.WriteAt(p, off)
}

func (f *faultyFile) Sync() error {
	if f.fs.sync {
		return syscall.EIO
	}
	return f.File.Sync()
}

// TestDiskErrors: a read error is an error from Peek, never "nothing to give" while records wait (a replay
// loop backs off on it); a failed write or fsync fails that Append only, and every acknowledged record is
// delivered afterwards, also after a restart.
func TestDiskErrors(t *testing.T) {
	dir := t.TempDir()
	ffs := &faultyFS{FS: OSFS{}}
	s := open(t, dir, Options{FS: ffs, Log: quiet})
	for _, r := range []string{"a", "b"} {
		if err := s.Append([]byte(r)); err != nil {
			t.Fatal(err)
		}
	}
	ffs.read = true
	if recs, err := s.Peek(10, 1<<20); err == nil || len(recs) != 0 || s.Empty() || s.Stats().Records != 2 {
		t.Fatalf("Peek while reads fail: %d records, err %v, empty %v, %+v", len(recs), err, s.Empty(), s.Stats())
	}
	ffs.read = false

	acked := []string{"a", "b"}
	for i, fault := range []*bool{&ffs.write, nil, &ffs.sync, nil, &ffs.write, &ffs.sync, nil} {
		rec := fmt.Sprintf("r%d", i)
		if fault != nil {
			*fault = true
		}
		err := s.Append([]byte(rec))
		if fault != nil {
			*fault = false
			if err == nil || !(errors.Is(err, syscall.EIO) || errors.Is(err, syscall.ENOSPC)) {
				t.Fatalf("append %s with a failing disk: %v", rec, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("append %s after the disk recovered: %v", rec, err)
		}
		acked = append(acked, rec)
	}

	// A commit whose cursor cannot be synced fails; what it committed may come again after a restart.
	recs, err := s.Peek(1, 1<<20)
	if err != nil || len(recs) != 1 || string(recs[0].Data) != "a" {
		t.Fatalf("peek: %v %v", recs, err)
	}
	ffs.sync = true
	if err := s.Commit(recs); err == nil {
		t.Fatal("commit with a failing fsync returned nil")
	}
	ffs.sync = false
	if recs, err := s.Peek(1, 1<<20); err != nil || len(recs) != 1 || string(recs[0].Data) != "b" {
		t.Fatalf("peek after the failed commit: %v %v", recs, err)
	}
	s.Close()

	// After a restart every acknowledged record comes, "a" perhaps again, and no failed append left damage.
	s = open(t, dir, Options{Log: quiet})
	got := drain(t, s, 2)
	if len(got) > 0 && got[0] == "a" {
		got = got[1:]
	}
	if want := acked[1:]; !slices.Equal(got, want) {
		t.Fatalf("after disk errors and a restart got %v, want %v", got, want)
	}
	if st := s.Stats(); !s.Empty() || st.Records != 0 || st.Bytes != 0 || st.Corrupt != 0 {
		t.Fatalf("drained: %+v", st)
	}
}
