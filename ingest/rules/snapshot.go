package rules

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"time"
)

// Snapshot is the persisted rule state of one sensor.
type Snapshot struct {
	SensorID string
	Data     []byte
}

// Snapshot encodes the state of every sensor changed since the previous Snapshot (all sensors when all is
// set). Restore on a fresh engine continues exactly where this one was.
func (e *Engine) Snapshot(all bool) ([]Snapshot, error) {
	var out []Snapshot
	for i := range e.shards {
		sh := &e.shards[i]
		sh.mu.Lock()
		for _, s := range sh.sensors {
			if !all && !s.unsaved && !s.dirty {
				continue
			}
			var buf bytes.Buffer
			if err := gob.NewEncoder(&buf).Encode(s); err != nil {
				sh.mu.Unlock()
				return nil, fmt.Errorf("encode rule state of %s: %w", s.ID, err)
			}
			s.unsaved = false
			out = append(out, Snapshot{SensorID: s.ID, Data: buf.Bytes()})
		}
		sh.mu.Unlock()
	}
	return out, nil
}

// Restore loads snapshots taken by Snapshot, replacing the state of those sensors.
func (e *Engine) Restore(snaps []Snapshot) error {
	for _, sn := range snaps {
		s := new(sensor)
		if err := gob.NewDecoder(bytes.NewReader(sn.Data)).Decode(s); err != nil {
			return fmt.Errorf("decode rule state of %s: %w", sn.SensorID, err)
		}
		if s.Emitted == nil {
			s.Emitted = map[key]Alarm{}
		}
		s.refold(&e.cfg)
		sh := e.shard(s.ID)
		sh.mu.Lock()
		sh.sensors[s.ID] = s
		sh.mu.Unlock()
	}
	return nil
}

// Sensors returns how many sensors the engine tracks.
func (e *Engine) Sensors() int {
	n := 0
	for i := range e.shards {
		sh := &e.shards[i]
		sh.mu.Lock()
		n += len(sh.sensors)
		sh.mu.Unlock()
	}
	return n
}

// NewestRange returns the smallest and the largest of the sensors' newest reading times: where a restarted
// engine should resume reading history from.
func (e *Engine) NewestRange() (oldest, newest time.Time, ok bool) {
	var lo, hi int64
	for i := range e.shards {
		sh := &e.shards[i]
		sh.mu.Lock()
		for _, s := range sh.sensors {
			if s.MaxTS == 0 {
				continue
			}
			if !ok || s.MaxTS < lo {
				lo = s.MaxTS
			}
			if !ok || s.MaxTS > hi {
				hi = s.MaxTS
			}
			ok = true
		}
		sh.mu.Unlock()
	}
	return ms(lo), ms(hi), ok
}
