package trace

import (
	"fmt"
	"slices"
	"time"

	"github.com/suilong/suilong/internal/coldchain"
)

// Intersect is coldchain.Intersect: the band in force where goods share an asset.
func Intersect(bands ...Band) (Band, bool) { return coldchain.Intersect(bands...) }

// BandOf is the band in force in an asset holding these lots (their bands' intersection), and whether it
// bounds anything.
func BandOf(lots []Carried) (Band, bool) {
	bands := make([]Band, len(lots))
	for i, l := range lots {
		bands[i] = l.Band
	}
	b, _ := Intersect(bands...)
	return b, !b.IsZero()
}

// Occupant is a lot that is, was or will be in an asset during a leg of its own.
type Occupant struct {
	LotID   int64
	Code    string
	Product string
	Band    Band
	// Mine is true for a lot of the organisation recording the load: only those are named by their code.
	Mine bool
	From time.Time
	To   time.Time // zero while the lot is still in the asset
}

func (o Occupant) covers(t time.Time) bool {
	return !t.Before(o.From) && (o.To.IsZero() || t.Before(o.To))
}

// MixedLoad checks a load: the lot, in the asset for leg, must keep a temperature in common with the asset's
// own band and with every lot in the asset at any moment of the leg (others; lots that left before the leg or
// arrive after it do not count). It returns what clashes, for people, or "" when the load fits. A load of
// goods that cannot be kept together would make one of them leave its band all the way, and the excursions
// raised for it would be false alarms about the cold chain rather than about the loading.
func MixedLoad(lot Occupant, leg Leg, assetBand Band, others []Occupant) string {
	// The band in force narrows only when a lot arrives, so the moments to check are the leg's start and every
	// arrival during it.
	moments := []time.Time{leg.From}
	for _, o := range others {
		if o.From.After(leg.From) && (leg.Open || o.From.Before(leg.To)) {
			moments = append(moments, o.From)
		}
	}
	slices.SortFunc(moments, time.Time.Compare)
	type part struct {
		who  string
		band Band
	}
	for _, t := range slices.Compact(moments) {
		parts := []part{{fmt.Sprintf("this lot (%s)", lot.Product), lot.Band}}
		for _, o := range others {
			if !o.covers(t) {
				continue
			}
			who := "another organisation's lot of " + o.Product
			if o.Mine {
				who = fmt.Sprintf("lot %s (%s)", o.Code, o.Product)
			}
			if o.From.After(leg.From) {
				who += ", loaded " + stamp(o.From)
			} else {
				who += ", in it since " + stamp(o.From)
			}
			parts = append(parts, part{who, o.Band})
		}
		if !assetBand.IsZero() { // last: on a tie, the lots are named
			parts = append(parts, part{leg.AssetID + "'s own setting", assetBand})
		}
		bands := make([]Band, len(parts))
		for i, p := range parts {
			bands[i] = p.band
		}
		if _, ok := Intersect(bands...); ok {
			continue
		}
		// Intervals on a line have no common point only if two of them are apart: the one with the highest
		// minimum and the one with the lowest maximum.
		hi, lo := -1, -1
		for i, p := range parts {
			if p.band.MinC != nil && (hi < 0 || *p.band.MinC > *parts[hi].band.MinC) {
				hi = i
			}
			if p.band.MaxC != nil && (lo < 0 || *p.band.MaxC < *parts[lo].band.MaxC) {
				lo = i
			}
		}
		if hi < 0 || lo < 0 || hi == lo { // only a band that contradicts itself gets here
			return fmt.Sprintf("the bands of the goods in %s have no temperature in common", leg.AssetID)
		}
		if hi > lo { // this lot first
			hi, lo = lo, hi
		}
		return fmt.Sprintf("no temperature suits both %s, which needs %s, and %s, which needs %s: kept together one of them would "+
			"leave its band all the way; use another truck or cold store", parts[hi].who, parts[hi].band, parts[lo].who, parts[lo].band)
	}
	return ""
}
