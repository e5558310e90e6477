package rules

import (
	"math"
	"time"
)

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
