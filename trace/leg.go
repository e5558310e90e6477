package trace

import (
	"cmp"
	"slices"
	"time"

	"github.com/suilong/suilong/internal/errs"
)

// Leg is a stretch of the journey the lot spent in one asset: from its load to its unload (or the buyer's
// receipt). An open leg (the lot is still in the asset) has a zero To.
type Leg struct {
	AssetID   string    `json:"asset_id"`
	AssetKind AssetKind `json:"asset_kind"`
	AssetName string    `json:"asset_name"`
	AssetCity string    `json:"asset_city"`
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
	Open      bool      `json:"open"`
	LoadID    int64     `json:"load_event_id"`
	EndID     int64     `json:"end_event_id,omitempty"` // the unload or receive that closed the leg
}

// End is the leg's end, or now for an open leg.
func (l Leg) End(now time.Time) time.Time {
	if l.Open {
		return now
	}
	return l.To
}

// State is where a lot is in its journey.
type State string

// Lot states.
const (
	AtBase    State = "at_base"    // harvested, not yet loaded anywhere
	InAsset   State = "in_asset"   // on a truck or in a cold store
	Between   State = "between"    // unloaded, not yet loaded again nor received
	Delivered State = "delivered"  // received by the buyer
	NoHarvest State = "no_harvest" // no harvest event (cannot happen for lots registered through the store)
)

// Custody is a lot's journey as its events tell it.
type Custody struct {
	HarvestedAt time.Time `json:"harvested_at"`
	Legs        []Leg     `json:"legs"`
	State       State     `json:"state"`
	// ReceivedAt is the buyer's receipt; zero until delivered.
	ReceivedAt time.Time `json:"received_at"`
}

// SortEvents orders events by time, then by id (the order they were recorded in), in place.
func SortEvents(events []Event) {
	slices.SortStableFunc(events, func(a, b Event) int {
		return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.ID, b.ID))
	})
}

// DeriveCustody derives the legs from a lot's events (any order; they are sorted by time, then id). It
// refuses impossible journeys with a Conflict error that says what is wrong: no harvest or two, an event
// before the harvest, unloading a lot that is not in that asset (or in none), loading a lot that is still in
// another asset (a lot cannot be in two assets at once), anything after the buyer's receipt.
func DeriveCustody(events []Event) (Custody, error) {
	evs := slices.Clone(events)
	SortEvents(evs)
	var c Custody
	c.Legs = []Leg{}
	if len(evs) == 0 || evs[0].Kind != Harvest {
		if i := slices.IndexFunc(evs, func(e Event) bool { return e.Kind == Harvest }); i > 0 {
			return c, conflict(evs[0], "the lot was harvested later, at %s; nothing happens to a lot before its harvest", stamp(evs[i].At))
		}
		c.State = NoHarvest
		if len(evs) > 0 {
			return c, conflict(evs[0], "the lot has no harvest")
		}
		return c, nil
	}
	c.HarvestedAt = evs[0].At
	c.State = AtBase
	var cur *Leg // the open leg, if the lot is in an asset
	for _, e := range evs[1:] {
		if c.State == Delivered {
			return c, conflict(e, "the buyer already received the lot at %s; nothing happens to it after that", stamp(c.ReceivedAt))
		}
		switch e.Kind {
		case Harvest:
			return c, conflict(e, "the lot was already harvested at %s", stamp(c.HarvestedAt))
		case Load:
			if cur != nil {
				return c, conflict(e, "the lot is still in %s (loaded %s) and cannot be in %s as well; unload it first",
					cur.AssetID, stamp(cur.From), e.AssetID)
			}
			c.Legs = append(c.Legs, Leg{AssetID: e.AssetID, AssetKind: e.AssetKind, AssetName: e.AssetName, AssetCity: e.AssetCity,
				From: e.At, Open: true, LoadID: e.ID})
			cur = &c.Legs[len(c.Legs)-1]
			c.State = InAsset
		case Unload:
			switch {
			case cur == nil && len(c.Legs) == 0:
				return c, conflict(e, "the lot was never loaded, so it cannot be unloaded from %s", e.AssetID)
			case cur == nil:
				return c, conflict(e, "the lot is in no asset (it was unloaded from %s at %s), so it cannot be unloaded from %s",
					c.Legs[len(c.Legs)-1].AssetID, stamp(c.Legs[len(c.Legs)-1].To), e.AssetID)
			case cur.AssetID != e.AssetID:
				return c, conflict(e, "the lot is in %s (loaded %s), not in %s", cur.AssetID, stamp(cur.From), e.AssetID)
			}
			cur.To, cur.Open, cur.EndID = e.At, false, e.ID
			cur = nil
			c.State = Between
		case Receive:
			if cur != nil {
				cur.To, cur.Open, cur.EndID = e.At, false, e.ID
				cur = nil
			}
			c.ReceivedAt = e.At
			c.State = Delivered
		default:
			return c, conflict(e, "unknown kind of event")
		}
	}
	return c, nil
}

// Current is the open leg, if the lot is in an asset.
func (c Custody) Current() (Leg, bool) {
	if n := len(c.Legs); n > 0 && c.Legs[n-1].Open {
		return c.Legs[n-1], true
	}
	return Leg{}, false
}

// InAt reports the leg the lot was in at t (legs include their start and exclude their end).
func (c Custody) InAt(t, now time.Time) (Leg, bool) {
	for _, l := range c.Legs {
		if !t.Before(l.From) && t.Before(l.End(now)) {
			return l, true
		}
	}
	return Leg{}, false
}

func conflict(e Event, format string, args ...any) error {
	what := string(e.Kind)
	if e.AssetID != "" {
		what += " " + e.AssetID
	}
	err := errs.E(errs.Conflict, what+" at "+stamp(e.At)+": "+format, args...)
	err.Fields = []errs.FieldError{{Field: "at", Message: "does not fit the lot's journey"}}
	if e.Kind == Load || e.Kind == Unload {
		err.Fields = append(err.Fields, errs.FieldError{Field: "asset_id", Message: "does not fit the lot's journey"})
	}
	return err
}

// stamp formats a time for messages, in China Standard Time where the lots live.
func stamp(t time.Time) string { return t.In(CST).Format("2006-01-02 15:04 MST") }

// CST is China Standard Time (UTC+8, no daylight saving), the zone of the people who read the pages.
var CST = time.FixedZone("CST", 8*3600)
