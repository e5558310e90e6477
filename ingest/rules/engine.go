package rules

import (
	"cmp"
	"slices"
	"sort"
	"sync"
	"time"
)

// Engine evaluates the rules for many sensors. It is safe for concurrent use; sensors are sharded so that
// ingest workers rarely wait on each other.
type Engine struct {
	cfg    Config
	shards [32]shard

	mu      sync.Mutex
	tooLate int64
}

type shard struct {
	mu      sync.Mutex
	sensors map[string]*sensor
}

// New returns an engine with the given configuration (zero fields take the defaults).
func New(cfg Config) *Engine {
	e := &Engine{cfg: cfg.withDefaults()}
	for i := range e.shards {
		e.shards[i].sensors = make(map[string]*sensor)
	}
	return e
}

// Config returns the engine's configuration, defaults applied.
func (e *Engine) Config() Config { return e.cfg }

func (e *Engine) shard(id string) *shard {
	var h uint32 = 2166136261
	for i := 0; i < len(id); i++ {
		h = (h ^ uint32(id[i])) * 16777619
	}
	return &e.shards[h%uint32(len(e.shards))]
}

// TooLate returns how many samples arrived more than Window behind their sensor's newest one and were ignored.
func (e *Engine) TooLate() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.tooLate
}

// Observe adds a sample of a sensor mounted in asset.
func (e *Engine) Observe(sensorID, assetID string, x Sample) {
	sh := e.shard(sensorID)
	sh.mu.Lock()
	late := sh.observe(&e.cfg, sensorID, assetID, x)
	sh.mu.Unlock()
	if late {
		e.mu.Lock()
		e.tooLate++
		e.mu.Unlock()
	}
}

func (sh *shard) observe(c *Config, sensorID, assetID string, x Sample) (tooLate bool) {
	s := sh.sensors[sensorID]
	if s == nil {
		s = &sensor{ID: sensorID, Asset: assetID, Emitted: map[key]Alarm{}}
		sh.sensors[sensorID] = s
	}
	if s.Base.HasLast && x.TS <= s.Base.LastTS {
		return true
	}
	if assetID != "" {
		s.Asset = assetID
	}
	if s.Silence != nil && s.Silence.End == 0 && x.TS > s.Silence.Start {
		s.Silence.End = x.TS
	}
	n := len(s.Samples)
	switch {
	case n == 0 || x.TS > s.Samples[n-1].TS:
		s.Samples = append(s.Samples, x)
		s.cur.step(x, c, s.ID, s.Asset, &s.Done)
	default:
		i := sort.Search(n, func(i int) bool { return s.Samples[i].TS >= x.TS })
		if i < n && s.Samples[i].TS == x.TS {
			if s.Samples[i] == x {
				return false // a redelivered duplicate
			}
			s.Samples[i] = x
		} else {
			s.Samples = slices.Insert(s.Samples, i, x)
		}
		s.refold(c)
	}
	s.MaxTS = max(s.MaxTS, x.TS)
	s.compact(c)
	s.dirty = true
	return false
}

// compact folds samples that fell out of the window into Base. It runs in bursts (a quarter window at a time)
// so that its cost spreads over many samples.
func (s *sensor) compact(c *Config) {
	horizon := s.MaxTS - c.Window.Milliseconds()
	over := len(s.Samples) - c.MaxSamples
	if over <= 0 && (len(s.Samples) == 0 || s.Samples[0].TS >= horizon-c.Window.Milliseconds()/4) {
		return
	}
	k := sort.Search(len(s.Samples), func(i int) bool { return s.Samples[i].TS >= horizon })
	k = max(k, over+c.MaxSamples/4)
	k = min(k, len(s.Samples))
	var scratch []done
	for _, x := range s.Samples[:k] {
		s.Base.step(x, c, s.ID, s.Asset, &scratch)
	}
	s.Samples = slices.Delete(s.Samples, 0, k)
	// Alarms completed inside the compacted prefix can no longer change.
	j := 0
	for _, d := range s.Done {
		if d.At <= s.Base.LastTS {
			s.Final = append(s.Final, d.Alarm)
		} else {
			s.Done[j] = d
			j++
		}
	}
	s.Done = s.Done[:j]
}

// Sweep raises sensor_silent for every sensor whose newest reading is SilenceLimit or more older than now.
func (e *Engine) Sweep(now time.Time) {
	limit := e.cfg.SilenceLimit.Milliseconds()
	for i := range e.shards {
		sh := &e.shards[i]
		sh.mu.Lock()
		for _, s := range sh.sensors {
			if len(s.Samples) == 0 && !s.Base.HasLast {
				continue
			}
			if (s.Silence == nil || s.Silence.End != 0) && now.UnixMilli()-s.MaxTS >= limit {
				if s.Silence != nil && s.Silence.Start == s.MaxTS {
					continue // already raised and ended for this very gap
				}
				s.Silence = &silence{Start: s.MaxTS, RaisedAt: now.UTC()}
				s.dirty = true
			}
		}
		sh.mu.Unlock()
	}
}

// Drain returns every alarm whose view changed since the previous Drain: new ones, updated ones (peak,
// degree-minutes, end) and withdrawn ones. Ongoing excursions are reported with their current peak each time
// Drain is called after new samples, so the caller chooses the update rate.
func (e *Engine) Drain() []Alarm {
	var out []Alarm
	for i := range e.shards {
		sh := &e.shards[i]
		sh.mu.Lock()
		for _, s := range sh.sensors {
			if s.dirty {
				out = s.drain(out)
				s.dirty = false
			}
		}
		sh.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b Alarm) int {
		return cmp.Or(cmp.Compare(a.SensorID, b.SensorID), a.Start.Compare(b.Start), cmp.Compare(a.Kind, b.Kind))
	})
	return out
}

func (s *sensor) drain(out []Alarm) []Alarm {
	current := make(map[key]Alarm, len(s.Done)+2)
	for _, d := range s.Done {
		current[d.Alarm.key()] = d.Alarm
	}
	for _, a := range s.cur.ongoing(s.ID, s.Asset) {
		current[a.key()] = a
	}
	if sl := s.Silence; sl != nil {
		a := Alarm{SensorID: s.ID, AssetID: s.Asset, Kind: Silent, Start: ms(sl.Start), RaisedAt: sl.RaisedAt}
		if sl.End != 0 {
			a.End = ms(sl.End)
			s.Final = append(s.Final, a)
			s.Silence = nil
		} else {
			current[a.key()] = a
		}
	}
	for _, a := range s.Final {
		if prev, ok := s.Emitted[a.key()]; !ok || prev != a {
			out = append(out, a)
		}
		delete(s.Emitted, a.key())
	}
	s.Final = s.Final[:0]
	for k, a := range current {
		if prev, ok := s.Emitted[k]; !ok || prev != a {
			out = append(out, a)
			s.Emitted[k] = a
		}
	}
	for k, a := range s.Emitted {
		if _, ok := current[k]; !ok {
			a.Withdrawn = true
			out = append(out, a)
			delete(s.Emitted, k)
		}
	}
	s.unsaved = true
	return out
}
