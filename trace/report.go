package trace

import (
	"time"
)

// Report is everything known about a lot's journey, built once and shown three ways: the public page, the
// JSON of /lots/{id}/trace and the EPCIS document, so that the three always agree.
type Report struct {
	Lot        Lot        `json:"lot"`
	Events     []Event    `json:"events"`
	Custody    Custody    `json:"custody"`
	Compliance Compliance `json:"compliance"`
	Chart      Chart      `json:"chart"`
	// Inspection is the lot's latest 农残检测, when one is recorded.
	Inspection  *Inspection `json:"inspection,omitempty"`
	GeneratedAt time.Time   `json:"generated_at"`
}

// Chart is the temperature of the whole journey, downsampled for display: per leg, windows of Every with the
// minimum, mean and maximum of all the asset's sensors.
type Chart struct {
	EveryS int        `json:"every_s"`
	From   time.Time  `json:"from"`
	To     time.Time  `json:"to"`
	Legs   []ChartLeg `json:"legs"`
}

// ChartLeg is one leg's line.
type ChartLeg struct {
	Leg    int      `json:"leg"`
	Points []Window `json:"points"`
}

// Every is the chart's window size.
func (c Chart) Every() time.Duration { return time.Duration(c.EveryS) * time.Second }

// ChartPoints bounds the windows of a chart: a phone screen is about 360 CSS pixels wide.
const ChartPoints = 200

// NewReport assesses a lot's journey from its events and the readings of each leg (data[i] for leg i).
// Errors: Conflict when the events do not make a journey (they were checked when recorded, so this means
// the data were changed behind the store's back).
func NewReport(lot Lot, events []Event, data []LegReadings, now time.Time) (*Report, error) {
	c, err := DeriveCustody(events)
	if err != nil {
		return nil, err
	}
	evs := append([]Event(nil), events...)
	SortEvents(evs)
	r := &Report{Lot: lot, Events: evs, Custody: c, GeneratedAt: now}
	r.Compliance = Assess(lot.Band, c, data, now)
	flagHandovers(&r.Compliance, evs)
	r.Chart = chart(c, data, now)
	return r, nil
}

func chart(c Custody, data []LegReadings, now time.Time) Chart {
	ch := Chart{Legs: []ChartLeg{}}
	if len(c.Legs) == 0 {
		return ch
	}
	ch.From, ch.To = c.Legs[0].From, c.Legs[len(c.Legs)-1].End(now)
	every := ChartEvery(ch.To.Sub(ch.From), ChartPoints)
	ch.EveryS = int(every / time.Second)
	for i := range c.Legs {
		var pts []Window
		if i < len(data) {
			pts = Downsample(data[i].Windows, every)
		}
		if pts == nil {
			pts = []Window{}
		}
		ch.Legs = append(ch.Legs, ChartLeg{Leg: i, Points: pts})
	}
	return ch
}
