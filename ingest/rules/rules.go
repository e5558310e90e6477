// Package rules is the cold-chain rule engine: temperature excursions, doors open too long and silent sensors,
// evaluated per sensor on EVENT time.
//
// Each sensor keeps its recent samples sorted by timestamp, plus a folded state for everything older (the
// "base"). The alarms of a sensor are a pure function of that sorted set, so readings that arrive late or out of
// order give the same alarms as readings that arrive in order, as long as they are no older than Config.Window
// behind the newest one. In-order samples are folded in O(1); a late one refolds the retained window. The whole
// state can be snapshotted and restored, so a restart in the middle of an excursion still raises it on time with
// its true start.
//
// The rules, for samples s1 < s2 < ... of one sensor:
//   - excursion: a run of samples outside the asset's band, starting at the first one. It becomes an alarm
//     when an outside sample lies OpenAfter or more after the start. It ends at the first inside sample after
//     which the readings stay inside for CloseAfter (brief returns inside do not end it). Peak is the sample
//     furthest outside the band; degree-minutes integrate the distance outside the band over time (each sample's
//     distance holds until the next sample, a gap counting at most SilenceLimit).
//   - door_open: door_open=true samples in a row; an alarm when an open sample lies DoorLimit or more after the
//     first; ends at the first door_open=false sample.
//   - sensor_silent: no reading for SilenceLimit of wall-clock time (Sweep); ends with the next reading.
package rules

import (
	"bytes"
	"cmp"
	"encoding/gob"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"
	"time"
)

// Kind is the kind of alarm a rule raises.
type Kind string

// Alarm kinds.
const (
	Excursion Kind = "excursion"
	DoorOpen  Kind = "door_open"
	Silent    Kind = "sensor_silent"
)

// Config holds the rule parameters.
type Config struct {
	OpenAfter    time.Duration // outside the band this long raises an excursion
	CloseAfter   time.Duration // back inside this long ends it
	DoorLimit    time.Duration // door open this long raises door_open
	SilenceLimit time.Duration // no reading for this long raises sensor_silent
	// Window is how far behind a sensor's newest reading a late one still changes the alarms; older ones are
	// stored but ignored by the rules (counted in TooLate).
	Window time.Duration
	// MaxSamples bounds the samples kept per sensor, whatever the Window.
	MaxSamples int
}

// Defaults for Config's zero fields.
const (
	DefaultOpenAfter    = 15 * time.Minute
	DefaultCloseAfter   = 10 * time.Minute
	DefaultDoorLimit    = 10 * time.Minute
	DefaultSilenceLimit = 15 * time.Minute
	DefaultWindow       = 3 * time.Hour
	DefaultMaxSamples   = 2048
)

func (c Config) withDefaults() Config {
	if c.OpenAfter <= 0 {
		c.OpenAfter = DefaultOpenAfter
	}
	if c.CloseAfter < 0 {
		c.CloseAfter = 0
	} else if c.CloseAfter == 0 {
		c.CloseAfter = DefaultCloseAfter
	}
	if c.DoorLimit <= 0 {
		c.DoorLimit = DefaultDoorLimit
	}
	if c.SilenceLimit <= 0 {
		c.SilenceLimit = DefaultSilenceLimit
	}
	if c.Window <= 0 {
		c.Window = DefaultWindow
	}
	if c.MaxSamples <= 0 {
		c.MaxSamples = DefaultMaxSamples
	}
	return c
}

// Door states of a sample.
const (
	DoorUnknown int8 = 0
	DoorClosed  int8 = 1
	DoorOpened  int8 = 2
)

// Sample is one reading as the rules see it.
type Sample struct {
	TS    int64   // unix milliseconds
	TempC float32 //
	Door  int8    // DoorUnknown, DoorClosed or DoorOpened
	// Lo and Hi are the band in force for the sample's asset at TS; ±Inf for an open bound.
	Lo, Hi float32
}

// NoBand is the band of an asset nobody configured: nothing is outside it.
var NoBand = [2]float32{float32(math.Inf(-1)), float32(math.Inf(1))}

func (s Sample) deviation() float32 {
	switch {
	case s.TempC > s.Hi:
		return s.TempC - s.Hi
	case s.TempC < s.Lo:
		return s.Lo - s.TempC
	}
	return 0
}

// Alarm is the current view of one alarm. Its identity is (SensorID, Kind, Start): a later view with the same
// identity replaces an earlier one.
type Alarm struct {
	SensorID string
	AssetID  string
	Kind     Kind
	Start    time.Time // the condition began (first sample outside the band / door open / last reading)
	RaisedAt time.Time // the condition became an alarm (event time; wall time for sensor_silent)
	// End is when the condition ended (back in band, door closed, reading again); zero while it lasts.
	End           time.Time
	PeakC         float64 // excursion: the temperature furthest outside the band
	BandLo        float64 // excursion: the band at the start (-Inf: no minimum)
	BandHi        float64 // excursion: the band at the start (+Inf: no maximum)
	DegreeMinutes float64 // excursion: °C·min outside the band
	// Withdrawn is set when late readings showed the alarm never happened (e.g. a gap filled with readings
	// inside the band split a long excursion into short ones).
	Withdrawn bool
}

// Ongoing reports whether the condition still lasts.
func (a Alarm) Ongoing() bool { return a.End.IsZero() }

type key struct {
	Kind  Kind
	Start int64
}

func (a Alarm) key() key { return key{a.Kind, a.Start.UnixMilli()} }

// episode is the state of one rule over the samples folded so far.
type episode struct {
	Active   bool
	Start    int64
	Last     int64 // last sample that was out of band / door open
	InSince  int64 // first inside sample after Last, 0 while out
	Raised   bool
	RaisedAt int64
	Peak     float32
	PeakDev  float32
	DegMin   float64
	Lo, Hi   float32
}

// fold is the rules' state after a prefix of a sensor's sorted samples.
type fold struct {
	LastTS  int64
	HasLast bool
	PrevDev float32
	Exc     episode
	Door    episode
}

// done is an alarm whose condition ended, with the sample that ended it.
type done struct {
	Alarm Alarm
	At    int64 // ts of the sample that completed it
}

func ms(t int64) time.Time { return time.UnixMilli(t).UTC() }

func (e *episode) alarm(sensor, asset string, kind Kind, end int64) Alarm {
	a := Alarm{SensorID: sensor, AssetID: asset, Kind: kind, Start: ms(e.Start), RaisedAt: ms(e.RaisedAt)}
	if end != 0 {
		a.End = ms(end)
	}
	if kind == Excursion {
		a.PeakC = roundC(e.Peak)
		a.BandLo, a.BandHi = float64(e.Lo), float64(e.Hi)
		a.DegreeMinutes = math.Round(e.DegMin*100) / 100
	}
	return a
}

// roundC keeps a float32 temperature's decimal look (3.4, not 3.4000000953674316).
func roundC(v float32) float64 { return math.Round(float64(v)*1000) / 1000 }

// step folds one sample (newer than every sample folded so far) into f, appending alarms it completes.
func (f *fold) step(s Sample, c *Config, sensor, asset string, out *[]done) {
	dev := s.deviation()
	if f.Exc.Active && f.HasLast {
		gap := min(s.TS-f.LastTS, c.SilenceLimit.Milliseconds())
		f.Exc.DegMin += float64(f.PrevDev) * float64(gap) / 60000
	}
	switch {
	case dev > 0 && !f.Exc.Active:
		f.Exc = episode{Active: true, Start: s.TS, Last: s.TS, Peak: s.TempC, PeakDev: dev, Lo: s.Lo, Hi: s.Hi}
	case dev > 0:
		f.Exc.Last, f.Exc.InSince = s.TS, 0
		if dev > f.Exc.PeakDev {
			f.Exc.Peak, f.Exc.PeakDev = s.TempC, dev
		}
	case f.Exc.Active:
		if f.Exc.InSince == 0 {
			f.Exc.InSince = s.TS
		}
		if s.TS-f.Exc.InSince >= c.CloseAfter.Milliseconds() {
			if f.Exc.Raised {
				*out = append(*out, done{f.Exc.alarm(sensor, asset, Excursion, f.Exc.InSince), s.TS})
			}
			f.Exc = episode{}
		}
	}
	if dev > 0 && !f.Exc.Raised && s.TS-f.Exc.Start >= c.OpenAfter.Milliseconds() {
		f.Exc.Raised, f.Exc.RaisedAt = true, s.TS
	}
	f.PrevDev = dev

	switch s.Door {
	case DoorOpened:
		if !f.Door.Active {
			f.Door = episode{Active: true, Start: s.TS}
		}
		f.Door.Last = s.TS
		if !f.Door.Raised && s.TS-f.Door.Start >= c.DoorLimit.Milliseconds() {
			f.Door.Raised, f.Door.RaisedAt = true, s.TS
		}
	case DoorClosed:
		if f.Door.Active {
			if f.Door.Raised {
				*out = append(*out, done{f.Door.alarm(sensor, asset, DoorOpen, s.TS), s.TS})
			}
			f.Door = episode{}
		}
	}
	f.LastTS, f.HasLast = s.TS, true
}

// ongoing lists the raised alarms whose condition still lasts.
func (f *fold) ongoing(sensor, asset string) []Alarm {
	var out []Alarm
	if f.Exc.Active && f.Exc.Raised {
		out = append(out, f.Exc.alarm(sensor, asset, Excursion, 0))
	}
	if f.Door.Active && f.Door.Raised {
		out = append(out, f.Door.alarm(sensor, asset, DoorOpen, 0))
	}
	return out
}

// silence is a sensor_silent alarm.
type silence struct {
	Start    int64 // the last reading before the silence
	RaisedAt time.Time
	End      int64
}

// sensor is the rules' state for one sensor. Exported fields are what a snapshot keeps.
type sensor struct {
	ID      string
	Asset   string
	Base    fold     // everything compacted out of Samples
	Samples []Sample // sorted, all newer than Base.LastTS
	MaxTS   int64
	Silence *silence
	// Done are alarms completed within Samples, in order; Final are completed alarms that no late reading can
	// change any more, waiting to be drained once.
	Done  []done
	Final []Alarm
	// Emitted is the last view of each alarm handed out by Drain.
	Emitted map[key]Alarm

	cur     fold
	dirty   bool // changed since the last Drain
	unsaved bool // changed since the last Snapshot
}

func (s *sensor) refold(c *Config) {
	s.cur = s.Base
	s.Done = s.Done[:0]
	for _, x := range s.Samples {
		s.cur.step(x, c, s.ID, s.Asset, &s.Done)
	}
}

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
