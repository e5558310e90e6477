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
	"math"
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
