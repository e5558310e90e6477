package spool

import (
	"errors"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

var errPowerLost = errors.New("power lost")

// pageCache is the file system the power-loss tests give a spool. Every call goes through to real files in one
// directory (so the spool reads what it wrote), and it remembers what the disk would hold: a file's content as
// of its last Sync, the directory's names as of its last SyncDir, and every write, truncate, create and remove
// since. After budget operations the power goes: that call and every later one fail, and crash writes out,
// into a new directory, one state the disk could be left in.
type pageCache struct {
	mu      sync.Mutex
	dir     string
	names   map[string]*inode // as the running process sees the directory
	durable map[string]*inode // as the disk has it
	dirOps  []dirOp           // since the last SyncDir
	budget  int
	crashed bool
	real    []*os.File
}

type inode struct {
	durable []byte
	ops     []fileOp // since the last Sync
}

type fileOp struct {
	off   int64
	data  []byte
	trunc bool // a truncate to off
}

type dirOp struct {
	name string
	ino  *inode // nil: removed
}

// newPageCache models dir as it is now, all of it durable. budget < 0 never crashes.
func newPageCache(t testing.TB, dir string, budget int) *pageCache {
	t.Helper()
	pc := &pageCache{dir: dir, names: map[string]*inode{}, durable: map[string]*inode{}, budget: budget}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		ino := &inode{durable: b}
		pc.names[e.Name()], pc.durable[e.Name()] = ino, ino
	}
	return pc
}

// step counts a mutating operation; the one that exhausts the budget is the moment the power goes.
func (pc *pageCache) step() error {
	if pc.crashed {
		return errPowerLost
	}
	if pc.budget == 0 {
		pc.crashed = true
		return errPowerLost
	}
	if pc.budget > 0 {
		pc.budget--
	}
	return nil
}

func (pc *pageCache) down() bool {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.crashed
}

func (pc *pageCache) inDir(name string) (string, bool) {
	return filepath.Base(name), filepath.Dir(name) == pc.dir
}

func (pc *pageCache) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.crashed {
		return nil, errPowerLost
	}
	base, ok := pc.inDir(name)
	if !ok {
		return nil, errors.New("pageCache: outside the modelled directory: " + name)
	}
	ino := pc.names[base]
	creates := ino == nil && flag&os.O_CREATE != 0
	if creates {
		if err := pc.step(); err != nil {
			return nil, err
		}
	}
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	pc.real = append(pc.real, f)
	if creates {
		ino = &inode{}
		pc.names[base] = ino
		pc.dirOps = append(pc.dirOps, dirOp{name: base, ino: ino})
	}
	return &cachedFile{pc: pc, f: f, ino: ino}, nil
}

func (pc *pageCache) Remove(name string) error {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if err := pc.step(); err != nil {
		return err
	}
	base, _ := pc.inDir(name)
	if err := os.Remove(name); err != nil {
		return err
	}
	delete(pc.names, base)
	pc.dirOps = append(pc.dirOps, dirOp{name: base})
	return nil
}

func (pc *pageCache) Mkdir(name string, perm fs.FileMode) error {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.crashed {
		return errPowerLost
	}
	return os.Mkdir(name, perm)
}

func (pc *pageCache) ReadDir(name string) ([]string, error) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.crashed {
		return nil, errPowerLost
	}
	return OSFS{}.ReadDir(name)
}

func (pc *pageCache) SyncDir(name string) error {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if err := pc.step(); err != nil {
		return err
	}
	if name == pc.dir {
		pc.durable = applyDir(pc.durable, pc.dirOps)
		pc.dirOps = nil
	}
	return nil
}

func applyDir(names map[string]*inode, ops []dirOp) map[string]*inode {
	out := make(map[string]*inode, len(names))
	for k, v := range names {
		out[k] = v
	}
	for _, op := range ops {
		if op.ino == nil {
			delete(out, op.name)
		} else {
			out[op.name] = op.ino
		}
	}
	return out
}

func applyFile(content []byte, ops []fileOp) []byte {
	b := append([]byte(nil), content...)
	for _, op := range ops {
		if op.trunc {
			if op.off < int64(len(b)) {
				b = b[:op.off]
			} else {
				b = append(b, make([]byte, op.off-int64(len(b)))...)
			}
			continue
		}
		if end := op.off + int64(len(op.data)); end > int64(len(b)) {
			b = append(b, make([]byte, end-int64(len(b)))...)
		}
		copy(b[op.off:], op.data)
	}
	return b
}

// crash writes into dir one state the disk could be in after the power went: what was durable, and then,
// by a mode rnd picks, none of what came after, all of it, a prefix of it (the last write torn), or any
// subset of it in order (writes torn anywhere), for the directory and for each file on its own.
func (pc *pageCache) crash(t testing.TB, rnd *rand.Rand, dir string) (mode int) {
	t.Helper()
	mode = rnd.IntN(4)
	pc.crashAs(t, rnd, dir, mode)
	return mode
}

// crashAs is crash with the mode chosen.
func (pc *pageCache) crashAs(t testing.TB, rnd *rand.Rand, dir string, mode int) {
	t.Helper()
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.crashed = true
	for _, f := range pc.real {
		f.Close()
	}
	names := applyDir(pc.durable, pickDir(rnd, mode, pc.dirOps))
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// In name order, so that a seed always draws the same state.
	for _, name := range slices.Sorted(maps.Keys(names)) {
		ino := names[name]
		content := applyFile(ino.durable, pickFile(rnd, mode, ino.ops))
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

const (
	loseAll = iota
	keepAll
	keepPrefix
	keepSubset
)

func pickDir(rnd *rand.Rand, mode int, ops []dirOp) []dirOp {
	switch mode {
	case loseAll:
		return nil
	case keepAll:
		return ops
	case keepPrefix:
		return ops[:rnd.IntN(len(ops)+1)]
	}
	var out []dirOp
	for _, op := range ops {
		if rnd.IntN(2) == 0 {
			out = append(out, op)
		}
	}
	return out
}

func pickFile(rnd *rand.Rand, mode int, ops []fileOp) []fileOp {
	torn := func(op fileOp) fileOp {
		if !op.trunc && len(op.data) > 0 {
			op.data = op.data[:rnd.IntN(len(op.data)+1)]
		}
		return op
	}
	switch mode {
	case loseAll:
		return nil
	case keepAll:
		return ops
	case keepPrefix:
		n := rnd.IntN(len(ops) + 1)
		out := append([]fileOp(nil), ops[:n]...)
		if n > 0 && rnd.IntN(2) == 0 {
			out[n-1] = torn(out[n-1])
		}
		return out
	}
	var out []fileOp
	for _, op := range ops {
		switch rnd.IntN(3) {
		case 0:
			out = append(out, op)
		case 1:
			out = append(out, torn(op))
		}
	}
	return out
}

type cachedFile struct {
	pc  *pageCache
	f   *os.File
	ino *inode
}

func (c *cachedFile) ReadAt(p []byte, off int64) (int, error) {
	if c.pc.down() {
		return 0, errPowerLost
	}
	return c.f.ReadAt(p, off)
}

func (c *cachedFile) WriteAt(p []byte, off int64) (int, error) {
	c.pc.mu.Lock()
	defer c.pc.mu.Unlock()
	if err := c.pc.step(); err != nil {
		return 0, err
	}
	n, err := c.f.WriteAt(p, off)
	c.ino.ops = append(c.ino.ops, fileOp{off: off, data: append([]byte(nil), p[:n]...)})
	return n, err
}

func (c *cachedFile) Truncate(size int64) error {
	c.pc.mu.Lock()
	defer c.pc.mu.Unlock()
	if err := c.pc.step(); err != nil {
		return err
	}
	if err := c.f.Truncate(size); err != nil {
		return err
	}
	c.ino.ops = append(c.ino.ops, fileOp{off: size, trunc: true})
	return nil
}

// Sync makes the file's content durable in the model; the real fsync is left out, it proves nothing here.
func (c *cachedFile) Sync() error {
	c.pc.mu.Lock()
	defer c.pc.mu.Unlock()
	if err := c.pc.step(); err != nil {
		return err
	}
	c.ino.durable = applyFile(c.ino.durable, c.ino.ops)
	c.ino.ops = nil
	return nil
}

func (c *cachedFile) Size() (int64, error) {
	if c.pc.down() {
		return 0, errPowerLost
	}
	return osFile{c.f}.Size()
}

func (c *cachedFile) Close() error { return c.f.Close() }
