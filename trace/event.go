package trace

import (
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/suilong/suilong/internal/errs"
)

// EventKind is what happened to a lot.
type EventKind string

// The custody events of a lot's journey.
const (
	// Harvest commissions the lot; it is recorded when the lot is registered, at its harvest time.
	Harvest EventKind = "harvest"
	// Load puts the lot into an asset: onto a truck or into a cold store.
	Load EventKind = "load"
	// Unload takes the lot out of the asset it is in.
	Unload EventKind = "unload"
	// Receive is the buyer's receipt at the market; it ends the journey (and the leg the lot is in, if any:
	// buyers take produce straight off the truck).
	Receive EventKind = "receive"
)

// Valid reports whether k is a known kind.
func (k EventKind) Valid() bool {
	switch k {
	case Harvest, Load, Unload, Receive:
		return true
	}
	return false
}

// AssetKind is the kind of an asset of the ingest registry.
type AssetKind string

// Asset kinds (as ingest names them).
const (
	Truck     AssetKind = "truck"
	ColdStore AssetKind = "cold_store"
)

// Event is one custody event of a lot, in EPCIS terms: what (the lot), when (At), where (the asset, or a
// place), why (BizStep and Disposition, from the kind and the asset).
type Event struct {
	ID        int64     `json:"id"`
	LotID     int64     `json:"lot_id"`
	Kind      EventKind `json:"kind"`
	At        time.Time `json:"at"`
	AssetID   string    `json:"asset_id,omitempty"`
	AssetKind AssetKind `json:"asset_kind,omitempty"`
	// AssetName and AssetCity are the asset's as registered when the event was recorded.
	AssetName string `json:"asset_name,omitempty"`
	AssetCity string `json:"asset_city,omitempty"`
	// Location names the place where no asset is involved: the base for a harvest, the market for a receipt.
	Location    string    `json:"location,omitempty"`
	Note        string    `json:"note,omitempty"`
	RecordedBy  int64     `json:"recorded_by_org_id"`
	RecorderOrg string    `json:"recorded_by"`
	RecordedAt  time.Time `json:"recorded_at"`
	BizStep     string    `json:"biz_step"`
	Disposition string    `json:"disposition"`
	// HandoverTempC is the product temperature measured at a load, unload or receipt, and MeasuredBy who
	// measured it (GB 31605: the temperature is checked at every handover).
	HandoverTempC *float64 `json:"handover_temp_c,omitempty"`
	MeasuredBy    string   `json:"measured_by,omitempty"`
	// EPCISEventID is the eventID of the EPCIS event this event was captured from (empty: recorded here).
	EPCISEventID string `json:"epcis_event_id,omitempty"`
}

// Why returns the EPCIS (CBV 2.0) business step and disposition of an event of kind k in an asset of kind a:
//
//	harvest                  commissioning  active
//	load onto a truck        loading        in_transit
//	unload from a truck      unloading      in_progress
//	load into a cold store   receiving      sellable_not_accessible   (the store receives the lot)
//	unload from a cold store shipping       in_transit                (the store ships it)
//	receive (buyer)          receiving      sellable_accessible
func Why(k EventKind, a AssetKind) (bizStep, disposition string) {
	switch {
	case k == Harvest:
		return "commissioning", "active"
	case k == Load && a == ColdStore:
		return "receiving", "sellable_not_accessible"
	case k == Load:
		return "loading", "in_transit"
	case k == Unload && a == ColdStore:
		return "shipping", "in_transit"
	case k == Unload:
		return "unloading", "in_progress"
	case k == Receive:
		return "receiving", "sellable_accessible"
	}
	return "other", "unknown"
}

// NewEvent is what a client gives to record an event.
type NewEvent struct {
	Kind     EventKind `json:"kind"`
	At       time.Time `json:"at"`
	AssetID  string    `json:"asset_id"`
	Location string    `json:"location"`
	Note     string    `json:"note"`
	// HandoverTempC is the product temperature measured at the handover (−60…60 °C), MeasuredBy who measured it;
	// both or neither.
	HandoverTempC *float64 `json:"handover_temp_c"`
	MeasuredBy    string   `json:"measured_by"`
	// EPCISEventID is set by EPCIS capture, never by a client of the events API.
	EPCISEventID string `json:"-"`
}

// The range of a handover temperature, the same as a sensor reading's (DESIGN.md, MQTT contract).
const (
	MinHandoverC = -60.0
	MaxHandoverC = 60.0
)

// EventSkew is how far in the future an event's time may lie (clocks differ).
const EventSkew = 10 * time.Minute

// Validate checks the fields on their own; whether the event fits the lot's journey is Custody's business.
// Errors: Unprocessable naming the fields.
func (n *NewEvent) Validate(now time.Time) error {
	var fe errs.FieldErrors
	n.AssetID = strings.TrimSpace(n.AssetID)
	n.Location = strings.TrimSpace(n.Location)
	n.Note = strings.TrimSpace(n.Note)
	switch n.Kind {
	case Load, Unload:
		if n.AssetID == "" {
			fe.Add("asset_id", "is required for %s (the truck or cold store, e.g. LY-TRK-0001)", n.Kind)
		} else if len(n.AssetID) > 64 {
			fe.Add("asset_id", "must be at most 64 characters")
		}
	case Receive:
		if n.AssetID != "" {
			fe.Add("asset_id", "must be empty for receive; name the market in location")
		}
	case Harvest:
		fe.Add("kind", "harvest is recorded when the lot is registered; record load, unload or receive")
	default:
		fe.Add("kind", "must be one of load, unload, receive")
	}
	switch {
	case n.At.IsZero():
		fe.Add("at", "is required (RFC 3339, e.g. 2026-11-20T08:00:00+08:00)")
	case n.At.After(now.Add(EventSkew)):
		fe.Add("at", "is in the future")
	}
	n.MeasuredBy = strings.TrimSpace(n.MeasuredBy)
	switch t := n.HandoverTempC; {
	case t == nil && n.MeasuredBy != "":
		fe.Add("handover_temp_c", "is required with measured_by (the product temperature measured at the handover, °C)")
	case t == nil:
	case math.IsNaN(*t) || *t < MinHandoverC || *t > MaxHandoverC:
		fe.Add("handover_temp_c", "must be between %g and %g °C", MinHandoverC, MaxHandoverC)
	case n.MeasuredBy == "":
		fe.Add("measured_by", "is required with handover_temp_c (who measured the temperature)")
	}
	switch l := utf8.RuneCountInString(n.MeasuredBy); {
	case l > 100:
		fe.Add("measured_by", "must be at most 100 characters")
	case strings.ContainsFunc(n.MeasuredBy, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		fe.Add("measured_by", "must not contain control characters")
	}
	if utf8.RuneCountInString(n.Location) > 200 {
		fe.Add("location", "must be at most 200 characters")
	}
	if utf8.RuneCountInString(n.Note) > 500 {
		fe.Add("note", "must be at most 500 characters")
	}
	for field, v := range map[string]string{"location": n.Location, "note": n.Note} {
		if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 && r != '\n' || r == 0x7f }) {
			fe.Add(field, "must not contain control characters")
		}
	}
	return fe.Err()
}
