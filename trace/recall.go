package trace

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/suilong/suilong/internal/auth"
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

// window is one stretch of one asset a recall looks at.
type window struct {
	asset    string
	from, to time.Time
}

// CreateRecall finds the exposed lots, stores the recall, and tells the holders. Bases may recall their own
// lots (by lot code); admins and coordinators any lot, asset or alarm. Errors: Forbidden, Unprocessable naming
// the field (an unknown lot, asset or alarm included).
func (s *Service) CreateRecall(ctx context.Context, p auth.Principal, n NewRecall) (Recall, error) {
	start := time.Now()
	now := s.Now()
	if !p.Staff() && p.Role != auth.RoleBase {
		return Recall{}, errs.E(errs.Forbidden, "only a produce base (its own lots) and coordinators start recalls")
	}
	if err := n.Validate(now); err != nil {
		return Recall{}, err
	}
	if !p.Staff() && n.LotCode == "" {
		var fe errs.FieldErrors
		fe.Add("lot_code", "a base recalls its own lots by lot code; a recall of an asset or an alarm is a coordinator's")
		return Recall{}, withFields(errs.E(errs.Forbidden, "a base recalls its own lots only"), fe)
	}
	r := Recall{Reason: n.Reason, Status: RecallOpen, OrgID: p.OrgID, CreatedBy: p.Actor()}
	var wins []window
	var origin int64
	switch {
	case n.LotCode != "":
		r.Source, r.LotCode = FromLot, n.LotCode
		l, err := s.Store.LotByCode(ctx, n.LotCode)
		if errs.Is(err, errs.NotFound) || err == nil && !p.Staff() && l.OrgID != p.OrgID {
			var fe errs.FieldErrors
			fe.Add("lot_code", "no lot %s of yours", n.LotCode)
			return Recall{}, fe.Err()
		} else if err != nil {
			return Recall{}, err
		}
		origin = l.ID
		evs, err := s.Store.Events(ctx, l.ID)
		if err != nil {
			return Recall{}, err
		}
		c, err := DeriveCustody(evs)
		if err != nil {
			return Recall{}, errs.Wrap(errs.Internal, err, "lot %d", l.ID)
		}
		for _, g := range c.Legs {
			wins = append(wins, window{g.AssetID, g.From, g.End(now)})
		}
	case n.AlarmID != nil:
		r.Source, r.AlarmID = FromAlarm, n.AlarmID
		if s.Alarms == nil {
			return Recall{}, fieldErr("alarm_id", "alarms are not available on this platform").Err()
		}
		a, err := s.Alarms.Alarm(ctx, *n.AlarmID)
		if errs.Is(err, errs.NotFound) {
			return Recall{}, fieldErr("alarm_id", fmt.Sprintf("no alarm %d", *n.AlarmID)).Err()
		} else if err != nil {
			return Recall{}, err
		}
		end := now
		if a.End != nil {
			end = *a.End
		}
		r.AssetID, r.From, r.To = a.AssetID, &a.Start, &end
		wins = append(wins, window{a.AssetID, a.Start, end})
	default:
		r.Source, r.AssetID, r.From, r.To = FromAsset, n.AssetID, n.From, n.To
		if s.Assets != nil {
			if _, err := s.Assets.Asset(ctx, n.AssetID); errs.Is(err, errs.NotFound) {
				return Recall{}, fieldErr("asset_id", fmt.Sprintf("no truck or cold store %q is registered", n.AssetID)).Err()
			} else if err != nil {
				return Recall{}, err
			}
		}
		wins = append(wins, window{n.AssetID, *n.From, *n.To})
	}
	lots, err := s.exposed(ctx, wins, origin)
	if err != nil {
		return Recall{}, err
	}
	r.Lots = lots
	r.Holders, err = s.holders(ctx, lots)
	if err != nil {
		return Recall{}, err
	}
	r.TookMs = time.Since(start).Milliseconds()
	r.Actions = []RecallAction{{At: now, Actor: p.Actor(), Action: "created",
		Note: fmt.Sprintf("%d lots found, %d holders", len(lots), len(r.Holders))}}
	if r.ID, err = s.Store.CreateRecall(ctx, &r); err != nil {
		return Recall{}, err
	}
	s.Log.Info("trace: recall", "recall", r.ID, "source", r.Source, "lots", len(lots), "holders", len(r.Holders), "by", p.Actor(), "took_ms", r.TookMs)
	if err := s.notify(ctx, &r); err != nil {
		s.Log.Warn("trace: telling a recall's holders failed", "recall", r.ID, "err", err)
	}
	return s.Recall(ctx, p, r.ID)
}

func withFields(e *errs.Error, fe errs.FieldErrors) error {
	e.Fields = fe
	return e
}

func fieldErr(field, msg string) errs.FieldErrors {
	var fe errs.FieldErrors
	fe.Add(field, "%s", msg)
	return fe
}

// exposed returns the lots in the windows' assets at overlapping times, by lot id.
func (s *Service) exposed(ctx context.Context, wins []window, origin int64) ([]RecallLot, error) {
	byLot := map[int64]*RecallLot{}
	var ids []int64
	for _, w := range wins {
		legs, err := s.Store.legsOverlapping(ctx, w.asset, w.from, w.to)
		if err != nil {
			return nil, err
		}
		if len(legs) == 0 {
			continue
		}
		peaks := s.peaks(ctx, w)
		for _, g := range legs {
			from, to := maxTime(g.From, w.from), minTime(g.End(w.to), w.to)
			if !to.After(from) {
				continue
			}
			x := Exposure{AssetID: w.asset, From: from, To: to, Minutes: minutes(to.Sub(from)), PeakC: peakIn(peaks, from, to)}
			rl := byLot[g.LotID]
			if rl == nil {
				rl = &RecallLot{LotID: g.LotID, Origin: g.LotID == origin}
				byLot[g.LotID] = rl
				ids = append(ids, g.LotID)
			}
			rl.Exposures = append(rl.Exposures, x)
		}
	}
	if origin != 0 && byLot[origin] == nil { // a lot never loaded is still the recall's origin
		byLot[origin] = &RecallLot{LotID: origin, Origin: true, Exposures: []Exposure{}}
		ids = append(ids, origin)
	}
	if err := s.Store.recallLots(ctx, ids, byLot); err != nil {
		return nil, err
	}
	out := make([]RecallLot, 0, len(ids))
	for _, id := range ids {
		rl := byLot[id]
		for _, x := range rl.Exposures {
			rl.ExposureMinutes += x.Minutes
			if x.PeakC != nil && (rl.PeakC == nil || *x.PeakC > *rl.PeakC) {
				rl.PeakC = ptr(*x.PeakC)
			}
		}
		if rl.Holder.OrderID != nil && s.OrderBook != nil {
			if o, err := s.OrderBook.OrderInfo(ctx, *rl.Holder.OrderID); err == nil {
				if rl.Holder.Market == "" {
					rl.Holder.Market = o.Market
				}
				if rl.Holder.Buyer == "" {
					rl.Holder.Buyer = o.BuyerName
				}
			} else if !errs.Is(err, errs.NotFound) {
				return nil, err
			}
		}
		out = append(out, *rl)
	}
	slices.SortFunc(out, func(a, b RecallLot) int {
		if a.Origin != b.Origin {
			if a.Origin {
				return -1
			}
			return 1
		}
		return int(a.LotID - b.LotID)
	})
	return out, nil
}

// peaks are the windows of the asset's readings over w, coarse enough for one query; nil when they cannot be
// read (a recall does not wait for InfluxDB: the lots and holders matter first).
func (s *Service) peaks(ctx context.Context, w window) []Window {
	if s.Readings == nil {
		return nil
	}
	every := max(BaseEvery, ChartEvery(w.to.Sub(w.from), 2000))
	ws, err := s.Readings.Series(ctx, w.asset, w.from.Truncate(every), w.to, every)
	if err != nil {
		s.Log.Warn("trace: recall without peaks: readings unavailable", "asset", w.asset, "err", err)
		return nil
	}
	for i := range ws {
		ws[i].Count = int(every / time.Second) // the window's length, for peakIn
	}
	return ws
}

func peakIn(ws []Window, from, to time.Time) *float64 {
	var p *float64
	for _, w := range ws {
		end := w.Start.Add(time.Duration(w.Count) * time.Second)
		if !w.Start.Before(to) || !end.After(from) {
			continue
		}
		if p == nil || w.MaxC > *p {
			p = ptr(w.MaxC)
		}
	}
	return p
}

// holders groups the lots by who holds them: the buyer of a lot's order, else its base.
func (s *Service) holders(ctx context.Context, lots []RecallLot) ([]RecallHolder, error) {
	byOrg := map[int64]*RecallHolder{}
	var order []int64
	for _, l := range lots {
		org, name, role := l.BaseOrgID, l.Base, "base"
		if l.Holder.BuyerOrgID != nil {
			org, name, role = *l.Holder.BuyerOrgID, l.Holder.Buyer, "buyer"
		}
		h := byOrg[org]
		if h == nil {
			h = &RecallHolder{OrgID: org, Name: name, Role: role, Lots: []string{}, Channels: []string{}, People: []Person{}}
			byOrg[org] = h
			order = append(order, org)
		}
		h.Lots = append(h.Lots, l.Code)
	}
	out := make([]RecallHolder, 0, len(order))
	for _, org := range order {
		h := byOrg[org]
		if s.Contacts != nil {
			ps, err := s.Contacts.People(ctx, org)
			if err != nil {
				return nil, err
			}
			if ps != nil {
				h.People = ps
			}
		}
		out = append(out, *h)
	}
	return out, nil
}

// notify tells every holder through its channels and records how; when every holder was reached, the recall
// is notified.
func (s *Service) notify(ctx context.Context, r *Recall) error {
	if s.Notifier == nil || len(r.Holders) == 0 {
		return nil
	}
	reached := 0
	for i := range r.Holders {
		h := &r.Holders[i]
		notice := RecallNotice{RecallID: r.ID, Reason: r.Reason}
		for _, l := range r.Lots {
			if slices.Contains(h.Lots, l.Code) {
				notice.Lots = append(notice.Lots, l)
			}
		}
		chs, err := s.Notifier.NotifyRecall(ctx, h.OrgID, notice)
		if err != nil {
			h.Error = err.Error()
			continue
		}
		if len(chs) > 0 {
			h.Channels, h.Notified = chs, ptr(s.Now())
			reached++
		}
	}
	if err := s.Store.setHolders(ctx, r.ID, r.Holders); err != nil {
		return err
	}
	if reached == len(r.Holders) {
		_, err := s.Store.setRecallStatus(ctx, r.ID, RecallNotified, RecallAction{At: s.Now(), Actor: "suilong",
			Action: "notified", Note: fmt.Sprintf("all %d holders told through their notification channels", reached)})
		return err
	}
	return s.Store.addRecallAction(ctx, r.ID, RecallAction{At: s.Now(), Actor: "suilong", Action: "notify",
		Note: fmt.Sprintf("%d of %d holders told through their channels; call the others", reached, len(r.Holders))})
}

// canSeeRecall: staff, and the organisation that started it.
func canSeeRecall(p auth.Principal, r Recall) bool { return p.Staff() || p.OrgID == r.OrgID }

// Recall returns a recall the caller may see, with what the caller may know of other organisations' lots.
// Errors: NotFound.
func (s *Service) Recall(ctx context.Context, p auth.Principal, id int64) (Recall, error) {
	r, err := s.Store.Recall(ctx, id)
	if err != nil {
		return Recall{}, err
	}
	if !canSeeRecall(p, r) {
		return Recall{}, errs.E(errs.NotFound, "recall not found")
	}
	return redact(p, r), nil
}

// redact hides from a base whose lots and buyers of other organisations its recall found: it sees that they
// were exposed, not whose they are.
func redact(p auth.Principal, r Recall) Recall {
	if p.Staff() {
		return r
	}
	mine := map[string]bool{}
	for i, l := range r.Lots {
		if l.BaseOrgID == p.OrgID {
			mine[l.Code] = true
			continue
		}
		r.Lots[i] = RecallLot{LotID: 0, Product: l.Product, ProductZH: l.ProductZH, Kg: l.Kg, County: l.County, HarvestedAt: l.HarvestedAt,
			State: l.State, Exposures: l.Exposures, ExposureMinutes: l.ExposureMinutes, PeakC: l.PeakC, Redacted: true}
	}
	hs := []RecallHolder{}
	for _, h := range r.Holders {
		var own []string
		for _, c := range h.Lots {
			if mine[c] {
				own = append(own, c)
			}
		}
		if len(own) > 0 {
			h.Lots = own
			hs = append(hs, h)
		}
	}
	r.Holders = hs
	return r
}

// RecallFilter selects recalls.
type RecallFilter struct {
	OrgID  *int64
	Status RecallStatus
	Limit  int
	Offset int
	After  string // the next cursor of the previous page (pg.Page.After)
}

// PageKey is the recall's place in Recalls' order, newest first.
func (r Recall) PageKey() []any { return []any{r.ID} }

// Recalls lists the recalls the caller may see, newest first: all for staff, its own for a base.
// Errors: Forbidden for other roles.
func (s *Service) Recalls(ctx context.Context, p auth.Principal, f RecallFilter) ([]Recall, int, error) {
	switch {
	case p.Staff():
		f.OrgID = nil
	case p.Role == auth.RoleBase:
		f.OrgID = &p.OrgID
	default:
		return nil, 0, errs.E(errs.Forbidden, "recalls are for produce bases and coordinators")
	}
	rs, n, err := s.Store.Recalls(ctx, f)
	for i := range rs {
		rs[i] = redact(p, rs[i])
	}
	return rs, n, err
}

// SetRecallStatus moves a recall on: open → notified (every holder has been told; say how in the note for
// those called), notified → closed. The organisation that started it and staff may. Errors: NotFound,
// Unprocessable (status), Conflict (not the next status).
func (s *Service) SetRecallStatus(ctx context.Context, p auth.Principal, id int64, to RecallStatus, note string) (Recall, error) {
	r, err := s.Recall(ctx, p, id)
	if err != nil {
		return Recall{}, err
	}
	note = strings.TrimSpace(note)
	var fe errs.FieldErrors
	if to != RecallNotified && to != RecallClosed {
		fe.Add("status", "must be notified or closed")
	}
	if utf8.RuneCountInString(note) > 1000 {
		fe.Add("note", "must be at most 1000 characters")
	}
	if err := fe.Err(); err != nil {
		return Recall{}, err
	}
	next := map[RecallStatus]RecallStatus{RecallOpen: RecallNotified, RecallNotified: RecallClosed}[r.Status]
	if next != to {
		e := errs.E(errs.Conflict, "recall %d is %s; it can only become %s", id, r.Status, orNone(next))
		e.Fields = []errs.FieldError{{Field: "status", Message: "is not the recall's next status"}}
		return Recall{}, e
	}
	ok, err := s.Store.setRecallStatus(ctx, id, to, RecallAction{At: s.Now(), Actor: p.Actor(), Action: string(to), Note: note})
	if err != nil {
		return Recall{}, err
	}
	if !ok {
		return Recall{}, errs.E(errs.Conflict, "recall %d changed meanwhile; reload it", id)
	}
	return s.Recall(ctx, p, id)
}

func orNone(s RecallStatus) string {
	if s == "" {
		return "nothing else (it is closed)"
	}
	return string(s)
}
