package ingest

import (
	"context"
	"slices"
	"time"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/coldchain"
	"github.com/suilong/suilong/internal/errs"
)

// Span is the period [From, To). A zero To is open: up to now.
type Span struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// Carriage tells when assets carried an organisation's goods: traceability's legs (load to unload or receipt)
// of the lots the organisation owns as a base or buys as a buyer. cmd/suilong adapts package trace to it.
type Carriage interface {
	// AssetsCarrying returns the ids of the assets that ever carried the organisation's lots.
	AssetsCarrying(ctx context.Context, orgID int64) ([]string, error)
	// Carried returns the periods in which the asset carried the organisation's lots, in any order, possibly
	// overlapping; a lot still in the asset has an open period.
	Carried(ctx context.Context, orgID int64, assetID string) ([]Span, error)
}

// MaxPeriods bounds the periods one readings request of a base or buyer may cover (each is a part of one
// InfluxDB query).
const MaxPeriods = 100

// Fleet is who sees what of the fleet. Admins and coordinators see every asset and all its readings. A base or
// a buyer sees an asset only if it carried the organisation's lots (Carriage), and its readings only for the
// periods in which it did; any other asset is "not found", like any other organisation's record. Gateway keys
// see nothing.
type Fleet struct {
	Store    *Store
	Readings Readings
	Carriage Carriage // nil: bases and buyers see no asset
	Now      func() time.Time
}

// NewFleet returns a fleet view.
func NewFleet(store *Store, readings Readings, carriage Carriage) *Fleet {
	return &Fleet{Store: store, Readings: readings, Carriage: carriage, Now: time.Now}
}

// everything reports whether p sees the whole fleet; err is Forbidden for a caller who sees none of it.
func everything(p auth.Principal) (bool, error) {
	switch {
	case p.Staff():
		return true, nil
	case p.Is(auth.RoleBase, auth.RoleBuyer):
		return false, nil
	}
	return false, errs.E(errs.Forbidden, "your organisation's role (%s) sees no assets", p.Role)
}

func notFound(id string) error { return errs.E(errs.NotFound, "asset %s not found", id) }

// Assets lists the assets p may see. Errors: Forbidden.
func (f *Fleet) Assets(ctx context.Context, p auth.Principal, filter AssetFilter, page Page) ([]Asset, int, error) {
	all, err := everything(p)
	if err != nil {
		return nil, 0, err
	}
	filter.Among, filter.OnlyAmong = nil, !all
	if !all && f.Carriage != nil {
		if filter.Among, err = f.Carriage.AssetsCarrying(ctx, p.OrgID); err != nil {
			return nil, 0, err
		}
	}
	return f.Store.Assets(ctx, filter, page)
}

// Asset returns an asset p may see. Errors: Forbidden, NotFound (also for assets p may not see).
func (f *Fleet) Asset(ctx context.Context, p auth.Principal, id string) (Asset, error) {
	if _, err := f.periods(ctx, p, id); err != nil {
		return Asset{}, err
	}
	return f.Store.Asset(ctx, id)
}

// periods returns the merged periods in which p may see the asset, nil for all time. Errors: Forbidden,
// NotFound when there are none.
func (f *Fleet) periods(ctx context.Context, p auth.Principal, id string) ([]Span, error) {
	all, err := everything(p)
	if err != nil || all {
		return nil, err
	}
	if f.Carriage == nil {
		return nil, notFound(id)
	}
	spans, err := f.Carriage.Carried(ctx, p.OrgID, id)
	if err != nil {
		return nil, err
	}
	if len(spans) == 0 {
		return nil, notFound(id)
	}
	return mergeSpans(spans), nil
}

// mergeSpans sorts spans and joins those that overlap or touch (lots loaded together).
func mergeSpans(spans []Span) []Span {
	spans = slices.Clone(spans)
	slices.SortFunc(spans, func(a, b Span) int { return a.From.Compare(b.From) })
	out := spans[:1]
	for _, s := range spans[1:] {
		last := &out[len(out)-1]
		switch {
		case last.To.IsZero():
		case s.From.After(last.To):
			out = append(out, s)
		case s.To.IsZero() || s.To.After(last.To):
			last.To = s.To
		}
	}
	return out
}

// clip returns the parts of spans (merged) within [from, to); open ones end now.
func clip(spans []Span, from, to, now time.Time) []Span {
	var out []Span
	for _, s := range spans {
		a, b := s.From, s.To
		if b.IsZero() {
			b = now
		}
		if b.After(to) {
			b = to
		}
		if a.Before(from) {
			a = from
		}
		if a.Before(b) {
			out = append(out, Span{a.UTC(), b.UTC()})
		}
	}
	return out
}

// ReadingsQuery asks for an asset's temperature; zero fields take their defaults.
type ReadingsQuery struct {
	SensorID string
	// From and To default to the 24 hours up to now; for a base or buyer asking for neither, the 24 hours up to
	// the end of the latest period (now, while the asset still carries their lots).
	From, To time.Time
	// Every defaults to about 300 windows, in whole seconds of at least a minute.
	Every time.Duration
}

// AssetSeries is an asset's temperature as the caller may see it.
type AssetSeries struct {
	Asset    Asset
	SensorID string
	From, To time.Time
	Every    time.Duration
	// Periods are the parts of [From, To) whose readings the points summarise: all of it for admins and
	// coordinators; for a base or a buyer, the periods in which the asset carried their lots (possibly none).
	Periods []Span
	Points  []coldchain.Window
}

// AssetReadings returns the asset's readings in q's range, downsampled in InfluxDB, clipped to the periods p
// may see. Errors: Forbidden, NotFound (also for assets p may not see), Unprocessable naming from, to or every.
func (f *Fleet) AssetReadings(ctx context.Context, p auth.Principal, id string, q ReadingsQuery) (AssetSeries, error) {
	periods, err := f.periods(ctx, p, id)
	if err != nil {
		return AssetSeries{}, err
	}
	a, err := f.Store.Asset(ctx, id)
	if err != nil {
		return AssetSeries{}, err
	}
	now := f.Now()
	if q.To.IsZero() {
		q.To = now
		if q.From.IsZero() && periods != nil {
			if end := periods[len(periods)-1].To; !end.IsZero() && end.Before(now) {
				q.To = end
			}
		}
	}
	if q.From.IsZero() {
		q.From = q.To.Add(-24 * time.Hour)
	}
	if q.Every == 0 {
		q.Every = max(time.Minute, (q.To.Sub(q.From) / 300).Truncate(time.Second))
	}
	if err := checkSeries(q.From, q.To, q.Every); err != nil {
		return AssetSeries{}, err
	}
	out := AssetSeries{Asset: a, SensorID: q.SensorID, From: q.From, To: q.To, Every: q.Every, Points: []coldchain.Window{}}
	var points []coldchain.Window
	filter := SeriesFilter{SensorID: q.SensorID}
	if periods == nil {
		out.Periods = []Span{{q.From.UTC(), q.To.UTC()}}
		points, err = f.Readings.SeriesOf(ctx, id, filter, q.From, q.To, q.Every)
	} else {
		out.Periods = clip(periods, q.From, q.To, now)
		if n := len(out.Periods); n > MaxPeriods {
			var fe errs.FieldErrors
			msg := "the range holds %d periods in which the asset carried your lots; at most %d per request: narrow from and to"
			fe.Add("from", msg, n, MaxPeriods)
			fe.Add("to", msg, n, MaxPeriods)
			return AssetSeries{}, fe.Err()
		}
		points, err = f.Readings.SeriesIn(ctx, id, filter, out.Periods, q.Every)
	}
	if err != nil {
		return AssetSeries{}, err
	}
	if out.Periods == nil {
		out.Periods = []Span{}
	}
	if points != nil {
		out.Points = points
	}
	return out, nil
}
