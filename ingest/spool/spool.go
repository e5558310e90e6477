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
	"log/slog"
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
