// Package coldchain holds the value types that ingest and trace both speak: a temperature band and the
// windows and samples of an asset's readings. They live here, once, so that an alarm on a truck and the verdict
// on a lot's page judge a temperature by the same rule.
package coldchain

import (
	"strconv"
	"time"
)

// Band is an allowed temperature range in °C, bounds included. A nil bound is open (frozen goods: no
// minimum, at most −18 °C).
type Band struct {
	MinC *float64 `json:"min_c"`
	MaxC *float64 `json:"max_c"`
}

// Contains reports whether t is inside the band.
func (b Band) Contains(t float64) bool {
	return (b.MinC == nil || t >= *b.MinC) && (b.MaxC == nil || t <= *b.MaxC)
}

// IsZero reports whether the band has no bound at all (nothing is ever outside it).
func (b Band) IsZero() bool { return b.MinC == nil && b.MaxC == nil }

// String writes the band for people: "0–4 °C", "≤ -18 °C", "≥ 2 °C"; "" for no band.
func (b Band) String() string {
	switch {
	case b.MinC != nil && b.MaxC != nil:
		return num(*b.MinC) + "–" + num(*b.MaxC) + " °C"
	case b.MaxC != nil:
		return "≤ " + num(*b.MaxC) + " °C"
	case b.MinC != nil:
		return "≥ " + num(*b.MinC) + " °C"
	}
	return ""
}

func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// Intersect is the one definition of the band in force where goods share an asset: the highest minimum and
// the lowest maximum of the bands (a band without a bound leaves that side to the others). ok is false when
// they have no temperature in common.
func Intersect(bands ...Band) (b Band, ok bool) {
	for _, x := range bands {
		if x.MinC != nil && (b.MinC == nil || *x.MinC > *b.MinC) {
			b.MinC = x.MinC
		}
		if x.MaxC != nil && (b.MaxC == nil || *x.MaxC < *b.MaxC) {
			b.MaxC = x.MaxC
		}
	}
	return b, b.MinC == nil || b.MaxC == nil || *b.MinC <= *b.MaxC
}

// Window is the readings of all the sensors of an asset (or of one sensor) within [Start, Start+every):
// what InfluxDB's aggregateWindow gives.
type Window struct {
	Start time.Time `json:"t"`
	MinC  float64   `json:"min_c"`
	MeanC float64   `json:"mean_c"`
	MaxC  float64   `json:"max_c"`
	Count int       `json:"n"`
}

// Sample is one reading of a temperature.
type Sample struct {
	At    time.Time `json:"t"`
	TempC float64   `json:"temp_c"`
}
