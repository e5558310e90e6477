package trace

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
)

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
