package trace

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/suilong/suilong/internal/errs"
)

// A recall finds, in seconds, every lot that may have been exposed to a fault of the cold chain, where each
// came from and who holds it now, and tells those holders. It starts from a lot (every lot that shared a leg
// with it: the same asset at overlapping times), from an asset and a time window, or from an excursion alarm
// (its asset, from its start to its end). What it found is stored as it was found, with the audit of who did
// what; its status goes open → notified → closed.

// RecallSource is what a recall started from.
type RecallSource string

// Recall sources.
const (
	FromLot   RecallSource = "lot"
	FromAsset RecallSource = "asset"
	FromAlarm RecallSource = "alarm"
)

// RecallStatus is where a recall is.
type RecallStatus string

// Recall statuses, in order.
const (
	RecallOpen     RecallStatus = "open"     // found; not every holder has been told
	RecallNotified RecallStatus = "notified" // every holder has been told
	RecallClosed   RecallStatus = "closed"   // the goods are dealt with
)

// MaxRecallWindow bounds the window of an asset recall.
const MaxRecallWindow = 400 * 24 * time.Hour

// NewRecall is what a caller gives to start a recall: one of a lot code, an asset with a window, or an alarm.
type NewRecall struct {
	LotCode string     `json:"lot_code"`
	AssetID string     `json:"asset_id"`
	From    *time.Time `json:"from"`
	To      *time.Time `json:"to"`
	AlarmID *int64     `json:"alarm_id"`
	Reason  string     `json:"reason"`
}

// Validate checks that exactly one source is given, with its fields. Errors: Unprocessable naming the fields.
func (n *NewRecall) Validate(now time.Time) error {
	var fe errs.FieldErrors
	n.LotCode, n.AssetID, n.Reason = strings.TrimSpace(n.LotCode), strings.TrimSpace(n.AssetID), strings.TrimSpace(n.Reason)
	given := 0
	for _, b := range []bool{n.LotCode != "", n.AssetID != "" || n.From != nil || n.To != nil, n.AlarmID != nil} {
		if b {
			given++
		}
	}
	switch {
	case given == 0:
		fe.Add("lot_code", "give one of lot_code, asset_id with from and to, or alarm_id")
	case given > 1:
		field := "asset_id"
		if n.LotCode != "" && n.AlarmID != nil {
			field = "alarm_id"
		}
		fe.Add(field, "give only one of lot_code, asset_id with from and to, or alarm_id")
	case n.LotCode != "":
		if c, ok := NormalizeCode(n.LotCode); !ok {
			fe.Add("lot_code", "is not a lot code (8 to 32 letters and digits)")
		} else {
			n.LotCode = c
		}
	case n.AlarmID != nil:
		if *n.AlarmID <= 0 {
			fe.Add("alarm_id", "must be a positive alarm id")
		}
	default:
		if n.AssetID == "" || len(n.AssetID) > 64 {
			fe.Add("asset_id", "is required with from and to (the truck or cold store, e.g. LY-TRK-0001)")
		}
		switch {
		case n.From == nil:
			fe.Add("from", "is required with asset_id (RFC 3339)")
		case n.From.After(now.Add(EventSkew)):
			fe.Add("from", "is in the future")
		}
		switch {
		case n.To == nil:
			fe.Add("to", "is required with asset_id (RFC 3339)")
		case n.From != nil && !n.To.After(*n.From):
			fe.Add("to", "must be after from")
		case n.From != nil && n.To.Sub(*n.From) > MaxRecallWindow:
			fe.Add("to", "the window may be at most %d days", int(MaxRecallWindow.Hours()/24))
		}
	}
	switch {
	case utf8.RuneCountInString(n.Reason) > 1000:
		fe.Add("reason", "must be at most 1000 characters")
	case strings.ContainsFunc(n.Reason, func(r rune) bool { return r < 0x20 && r != '\n' || r == 0x7f }):
		fe.Add("reason", "must not contain control characters")
	}
	return fe.Err()
}

// AlarmInfo is what a recall needs of an alarm (ingest's).
type AlarmInfo struct {
	ID      int64
	AssetID string
	Kind    string
	Start   time.Time
	End     *time.Time // nil while it lasts
}

// Alarms looks up ingest's alarms.
type Alarms interface {
	// Alarm returns an alarm by id. Errors: NotFound.
	Alarm(ctx context.Context, id int64) (AlarmInfo, error)
}

// OrderInfo is what a recall needs of an order (matching's): who bought it and where it goes.
type OrderInfo struct {
	ID          int64
	BuyerOrgID  int64
	BuyerName   string
	Market      string
	QuantityKg  int64
	DeliveredAt *time.Time
}

// OrderBook looks up matching's orders.
type OrderBook interface {
	// OrderInfo returns an order by id. Errors: NotFound.
	OrderInfo(ctx context.Context, id int64) (OrderInfo, error)
}

// Person is someone of an organisation a person can call about a recall.
type Person struct {
	Name     string `json:"name"`
	Username string `json:"username,omitempty"`
}

// Contacts finds the people of an organisation (auth's users).
type Contacts interface {
	// People returns the people who sign in for the organisation; none is not an error.
	People(ctx context.Context, orgID int64) ([]Person, error)
}

// RecallNotice is what a holder is told.
type RecallNotice struct {
	RecallID int64       `json:"recall_id"`
	Reason   string      `json:"reason"`
	Lots     []RecallLot `json:"lots"` // the holder's own lots in the recall
}

// RecallNotifier tells an organisation of a recall through its notification channels (notify's).
type RecallNotifier interface {
	// NotifyRecall tells the organisation and returns the channels that took the message; none (nil, nil)
	// when the organisation has no channel, so that the recall lists whom to call instead.
	NotifyRecall(ctx context.Context, orgID int64, n RecallNotice) (channels []string, err error)
}

// Exposure is a lot's time in an asset within a recall's window.
type Exposure struct {
	AssetID string    `json:"asset_id"`
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	Minutes int       `json:"minutes"`
	// PeakC is the highest reading of the asset in the exposure (5-minute windows or coarser for long ones);
	// nil when none is recorded or the readings could not be read.
	PeakC *float64 `json:"peak_c"`
}

// Holding is who holds a lot downstream: its order and buyer, where it went and when it was received.
type Holding struct {
	OrderID    *int64     `json:"order_id,omitempty"`
	BuyerOrgID *int64     `json:"buyer_org_id,omitempty"`
	Buyer      string     `json:"buyer,omitempty"`
	Market     string     `json:"market,omitempty"`
	Kg         int64      `json:"kg"`
	ReceivedAt *time.Time `json:"received_at,omitempty"`
}

// RecallLot is one lot a recall found, with its origin upstream and its holder downstream.
type RecallLot struct {
	LotID     int64  `json:"lot_id"`
	Code      string `json:"code,omitempty"`
	Product   string `json:"product"`
	ProductZH string `json:"product_zh"`
	Kg        int64  `json:"kg"`
	// Upstream: the base (organisation and site), the county, the harvest.
	BaseOrgID   int64     `json:"base_org_id,omitempty"`
	Base        string    `json:"base,omitempty"`
	BaseSite    string    `json:"base_site,omitempty"`
	County      string    `json:"county"`
	HarvestedAt time.Time `json:"harvested_at"`
	// Origin marks the lot the recall started from.
	Origin          bool       `json:"origin,omitempty"`
	State           State      `json:"state"`
	Exposures       []Exposure `json:"exposures"`
	ExposureMinutes int        `json:"exposure_minutes"`
	PeakC           *float64   `json:"peak_c"`
	Holder          Holding    `json:"holder"`
	// Redacted is true when the caller may not know whose lot this is: another organisation's lot found by a
	// base's recall shows only what it is and how it was exposed.
	Redacted bool `json:"redacted,omitempty"`
}

// RecallHolder is an organisation that holds lots of a recall, and how it was told.
type RecallHolder struct {
	OrgID int64  `json:"org_id"`
	Name  string `json:"name"`
	// Role is buyer (the lots are theirs by an order) or base (their own lots, not sold).
	Role     string     `json:"role"`
	Lots     []string   `json:"lots"`
	Channels []string   `json:"channels"` // the notification channels that took the message
	Notified *time.Time `json:"notified_at,omitempty"`
	Error    string     `json:"error,omitempty"`
	// People are whom to call where no channel reached the organisation.
	People []Person `json:"people"`
}

// RecallAction is one entry of a recall's audit.
type RecallAction struct {
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Note   string    `json:"note,omitempty"`
}

// Recall is a stored recall.
type Recall struct {
	ID        int64          `json:"id"`
	Source    RecallSource   `json:"source"`
	LotCode   string         `json:"lot_code,omitempty"`
	AssetID   string         `json:"asset_id,omitempty"`
	AlarmID   *int64         `json:"alarm_id,omitempty"`
	From      *time.Time     `json:"from,omitempty"`
	To        *time.Time     `json:"to,omitempty"`
	Reason    string         `json:"reason"`
	Status    RecallStatus   `json:"status"`
	OrgID     int64          `json:"org_id"`
	CreatedBy string         `json:"created_by"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
	ClosedAt  *time.Time     `json:"closed_at,omitempty"`
	Lots      []RecallLot    `json:"lots"`
	Holders   []RecallHolder `json:"holders"`
	Actions   []RecallAction `json:"actions"`
	// Took is how long finding the lots took, in milliseconds (when the recall was made).
	TookMs int64 `json:"took_ms"`
}
