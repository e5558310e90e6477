package trace

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
)

// ProductInfo is what traceability needs of a product profile (matching's products).
type ProductInfo struct {
	Name   string
	NameZH string
	Band   Band
	// ShelfLifeHours is the product's shelf life (0: none known).
	ShelfLifeHours int
}

// Products looks up product profiles.
type Products interface {
	// Product returns a product by name. Errors: NotFound.
	Product(ctx context.Context, name string) (ProductInfo, error)
}

// AssetInfo is what traceability needs of a truck or cold store (ingest's registry).
type AssetInfo struct {
	ID   string
	Kind AssetKind
	Name string
	City string
	// Band is the asset's own setting; when it has none, the band of its product profile (Product) applies.
	Band    Band
	Product string
}

// Assets looks up trucks and cold stores.
type Assets interface {
	// Asset returns an asset by id. Errors: NotFound.
	Asset(ctx context.Context, id string) (AssetInfo, error)
}

// Orders is matching's side of the lots that deliver an order.
type Orders interface {
	// OrderBuyer returns the buying organisation of an order that the seller organisation supplies.
	// Errors: NotFound when there is no such order or it is not the seller's.
	OrderBuyer(ctx context.Context, orderID, sellerOrgID int64) (buyerOrgID int64, err error)
	// MarkOrderDelivered records that the order's goods were received at `at`.
	MarkOrderDelivered(ctx context.Context, orderID int64, at time.Time) error
}

// Readings gives the temperature of an asset (all its sensors) from InfluxDB.
type Readings interface {
	// Series returns windows of `every` (aligned to the Unix epoch) with the minimum, mean and maximum of the
	// readings in [from, to), computed in InfluxDB (aggregateWindow); windows without readings are left out.
	Series(ctx context.Context, assetID string, from, to time.Time, every time.Duration) ([]Window, error)
	// Outside returns every reading in [from, to) outside the band.
	Outside(ctx context.Context, assetID string, from, to time.Time, band Band) ([]Sample, error)
	// Fingerprint returns the number and the sum of the readings in [from, to): cheap to compute, and it
	// changes when readings arrive late.
	Fingerprint(ctx context.Context, assetID string, from, to time.Time) (count int64, sum float64, err error)
}

// Service is traceability's use cases, with who may do what: a base registers and moves its own lots; the
// buyer of a lot's order may see it and record its receipt; admins and coordinators see every lot; anyone with
// a lot's code sees its public report.
type Service struct {
	Store    *Store
	Products Products
	Assets   Assets
	Orders   Orders // nil: lots cannot be linked to orders
	Readings Readings
	URIs     URIs
	Log      *slog.Logger
	Now      func() time.Time
	// Settle is how long readings are given to arrive before a stretch of a leg is summarised for good.
	Settle time.Duration
	// VerifyEvery is how long a stored leg summary, and a delivered lot's report kept in memory, is trusted
	// without asking InfluxDB whether readings came that nobody told of (ReadingsArrivedLate).
	VerifyEvery time.Duration

	// For recalls (all optional): ingest's alarms, matching's orders, the people of organisations, and the
	// notification channels. Without a notifier a recall lists whom to call.
	Alarms    Alarms
	OrderBook OrderBook
	Contacts  Contacts
	Notifier  RecallNotifier
	// Raw gives every reading of a leg for the compliance record (nil: the record has no readings table).
	Raw RawReadings
	// Retention is how long records are kept (Retention.Purge).
	Retention Retention

	metrics *metrics
	reports *reportCache
}

// NewService returns a service; reg may be nil.
func NewService(store *Store, products Products, assets Assets, orders Orders, readings Readings, uris URIs, reg prometheus.Registerer, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{Store: store, Products: products, Assets: assets, Orders: orders, Readings: readings, URIs: uris, Log: log,
		Now: time.Now, Settle: 10 * time.Minute, VerifyEvery: time.Hour, metrics: newMetrics(reg), reports: newReportCache(1024)}
}

// canSee reports whether p may see the lot: its base, its buyer, staff.
func canSee(p auth.Principal, l Lot) bool {
	return p.Staff() || p.OrgID == l.OrgID || (l.BuyerOrgID != nil && *l.BuyerOrgID == p.OrgID)
}

// CreateLot registers a harvest lot of the caller's base. Errors: Forbidden for anyone but a base,
// Unprocessable naming the fields (an unknown product or order included).
func (s *Service) CreateLot(ctx context.Context, p auth.Principal, n NewLot) (Lot, error) {
	return s.createLot(ctx, p, n, "")
}

func (s *Service) createLot(ctx context.Context, p auth.Principal, n NewLot, code string) (Lot, error) {
	if p.Role != auth.RoleBase {
		return Lot{}, errs.E(errs.Forbidden, "only a produce base registers lots")
	}
	if err := n.Validate(s.Now()); err != nil {
		return Lot{}, err
	}
	var fe errs.FieldErrors
	prod, err := s.Products.Product(ctx, n.Product)
	switch {
	case errs.Is(err, errs.NotFound):
		fe.Add("product", "unknown product %q", n.Product)
	case err != nil:
		return Lot{}, err
	}
	rec := LotRecord{NewLot: n, Code: code, OrgID: p.OrgID, Recorder: p.OrgName, ProductZH: prod.NameZH, Band: prod.Band,
		ShelfLifeHours: prod.ShelfLifeHours}
	if n.OrderID != nil {
		if s.Orders == nil {
			fe.Add("order_id", "orders are not available on this platform")
		} else if buyer, err := s.Orders.OrderBuyer(ctx, *n.OrderID, p.OrgID); errs.Is(err, errs.NotFound) {
			fe.Add("order_id", "no order %d supplied by your organisation", *n.OrderID)
		} else if err != nil {
			return Lot{}, err
		} else {
			rec.BuyerOrgID = &buyer
		}
	}
	if err := fe.Err(); err != nil {
		return Lot{}, err
	}
	l, err := s.Store.CreateLot(ctx, rec)
	if err == nil {
		s.Log.Info("trace: lot registered", "lot", l.ID, "code", l.Code, "org", p.OrgName, "product", l.Product, "kg", l.QuantityKg)
	}
	return l, err
}

// Lot returns a lot the caller may see. Errors: NotFound (also for lots of others).
func (s *Service) Lot(ctx context.Context, p auth.Principal, id int64) (Lot, error) {
	l, err := s.Store.Lot(ctx, id)
	if err != nil {
		return Lot{}, err
	}
	if !canSee(p, l) {
		return Lot{}, errs.E(errs.NotFound, "lot not found")
	}
	return l, nil
}

// Lots lists the lots the caller may see: its own (as base or buyer), or all for staff.
func (s *Service) Lots(ctx context.Context, p auth.Principal, f LotFilter) ([]Lot, int, error) {
	f.OwnerOrBuyer = nil
	// Only bases register lots and only buyers buy them, so each sees one side, read through that side's index.
	switch {
	case p.Staff():
	case p.Role == auth.RoleBase && (f.OrgID == nil || *f.OrgID == p.OrgID):
		f.OrgID = &p.OrgID
	case p.Role == auth.RoleBuyer && (f.BuyerOrgID == nil || *f.BuyerOrgID == p.OrgID):
		f.BuyerOrgID = &p.OrgID
	default:
		f.OwnerOrBuyer = &p.OrgID
	}
	return s.Store.Lots(ctx, f)
}

// Events returns the events of a lot the caller may see. Errors: NotFound.
func (s *Service) Events(ctx context.Context, p auth.Principal, id int64) ([]Event, error) {
	if _, err := s.Lot(ctx, p, id); err != nil {
		return nil, err
	}
	return s.Store.Events(ctx, id)
}

// AddEvent records a custody event. The lot's base records loads, unloads and the receipt; the buyer of the
// lot's order records the receipt. Errors: NotFound for a lot the caller cannot see, Forbidden for an event
// the caller may not record, Unprocessable for bad fields or an unknown asset, Conflict when the journey
// would be impossible (see DeriveCustody) or a load would leave the goods in the asset no common band
// (MixedLoad).
func (s *Service) AddEvent(ctx context.Context, p auth.Principal, lotID int64, n NewEvent) (Event, error) {
	l, err := s.Lot(ctx, p, lotID)
	if err != nil {
		return Event{}, err
	}
	owner := p.OrgID == l.OrgID && p.Role == auth.RoleBase
	buyer := l.BuyerOrgID != nil && *l.BuyerOrgID == p.OrgID
	switch {
	case owner:
	case buyer && n.Kind == Receive:
	case buyer:
		return Event{}, errs.E(errs.Forbidden, "the buyer records only the receipt; loads and unloads are recorded by the lot's base")
	default:
		return Event{}, errs.E(errs.Forbidden, "only the lot's base and the buyer of its order record its events")
	}
	if err := n.Validate(s.Now()); err != nil {
		return Event{}, err
	}
	e := Event{LotID: lotID, Kind: n.Kind, At: n.At, Location: n.Location, Note: n.Note, RecordedBy: p.OrgID, RecorderOrg: p.OrgName,
		HandoverTempC: n.HandoverTempC, MeasuredBy: n.MeasuredBy, EPCISEventID: n.EPCISEventID}
	var assetBand Band
	if n.Kind == Load || n.Kind == Unload {
		a, err := s.Assets.Asset(ctx, n.AssetID)
		if errs.Is(err, errs.NotFound) {
			var fe errs.FieldErrors
			fe.Add("asset_id", "no truck or cold store %q is registered", n.AssetID)
			return Event{}, fe.Err()
		} else if err != nil {
			return Event{}, err
		}
		e.AssetID, e.AssetKind, e.AssetName, e.AssetCity = a.ID, a.Kind, a.Name, a.City
		if n.Kind == Load {
			if assetBand, err = s.AssetBand(ctx, a); err != nil {
				return Event{}, err
			}
		}
	}
	e, c, err := s.Store.AddEvent(ctx, e, assetBand)
	if err != nil {
		return Event{}, err
	}
	s.Log.Info("trace: event recorded", "lot", lotID, "kind", e.Kind, "at", e.At, "asset", e.AssetID, "by", p.OrgName)
	if c.State == Delivered {
		if l.OrderID != nil && s.Orders != nil {
			if err := s.Orders.MarkOrderDelivered(ctx, *l.OrderID, c.ReceivedAt); err != nil {
				// The receipt stands; matching learns of it again when the lot is assessed.
				s.Log.Error("trace: could not mark the order delivered", "order", *l.OrderID, "lot", lotID, "err", err)
			}
		}
		go s.assessLater(l)
	}
	return e, nil
}

// AssetBand is the asset's own band: its setting, else its product profile's (as ingest applies it when the
// asset carries nothing with a band).
func (s *Service) AssetBand(ctx context.Context, a AssetInfo) (Band, error) {
	if !a.Band.IsZero() || a.Product == "" || s.Products == nil {
		return a.Band, nil
	}
	p, err := s.Products.Product(ctx, a.Product)
	if errs.Is(err, errs.NotFound) {
		return Band{}, nil
	}
	return p.Band, err
}

// assessLater assesses a lot just delivered, so that the plan's KPI counts it without anyone opening its page.
func (s *Service) assessLater(l Lot) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := s.report(ctx, l); err != nil {
		s.Log.Warn("trace: assessing a delivered lot failed; it is assessed when next viewed", "lot", l.ID, "err", err)
	}
}

// Report builds the report of a lot the caller may see. Errors: NotFound.
func (s *Service) Report(ctx context.Context, p auth.Principal, id int64) (*Report, error) {
	l, err := s.Lot(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if r := s.reports.get(l.ID, l.Revision, s.Now(), s.VerifyEvery); r != nil {
		return r, nil
	}
	return s.report(ctx, l)
}

// PublicReport builds the report of the lot with the code, for anyone who has the code. A delivered lot's
// report comes from memory while the lot's revision stays: one indexed read of PostgreSQL, nothing of InfluxDB.
// Errors: NotFound.
func (s *Service) PublicReport(ctx context.Context, code string) (*Report, error) {
	id, rev, err := s.Store.LotRevision(ctx, code)
	if err != nil {
		return nil, err
	}
	if r := s.reports.get(id, rev, s.Now(), s.VerifyEvery); r != nil {
		return r, nil
	}
	l, err := s.Store.Lot(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.report(ctx, l)
}

// ReadingsArrivedLate is told by ingest of readings it stored after their time had settled: the leg summaries
// they fall in are dropped and the lots whose legs they fall in revised, so that their pages show them.
func (s *Service) ReadingsArrivedLate(ctx context.Context, rs []ReadingsLate) error {
	if len(rs) == 0 {
		return nil
	}
	if err := s.Store.arrivedLate(ctx, rs); err != nil {
		return err
	}
	s.metrics.late.Add(float64(len(rs)))
	return nil
}

func (s *Service) report(ctx context.Context, l Lot) (*Report, error) {
	start := time.Now()
	now := s.Now()
	evs, err := s.Store.Events(ctx, l.ID)
	if err != nil {
		return nil, err
	}
	c, err := DeriveCustody(evs)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "the events of lot %d do not make a journey", l.ID)
	}
	data := make([]LegReadings, len(c.Legs))
	for i, leg := range c.Legs {
		if data[i], err = s.legReadings(ctx, leg, l.Band, now); err != nil {
			return nil, err
		}
	}
	r, err := NewReport(l, evs, data, now)
	if err != nil {
		return nil, err
	}
	if r.Inspection, err = s.Store.LatestInspection(ctx, l.ID); err != nil {
		return nil, err
	}
	if c.State == Delivered {
		if err := s.Store.SetVerdict(ctx, l.ID, r.Compliance.Verdict); err != nil {
			s.Log.Warn("trace: could not store a lot's verdict", "lot", l.ID, "err", err)
		}
		// Only a delivered lot's report stays the same while nothing is recorded; an open leg's grows by the
		// minute. Kept under the revision read before the events and readings: a change meanwhile shows as a
		// newer revision at the next view.
		s.reports.put(l.ID, l.Revision, r, now)
	}
	s.metrics.reportSeconds.Observe(time.Since(start).Seconds())
	return r, nil
}

// ComplianceStats counts delivered lots and those whose cold chain was kept (the plan's KPI). Delivered lots
// not assessed yet are assessed first, a few at a time.
func (s *Service) ComplianceStats(ctx context.Context) (ComplianceStats, error) {
	if err := s.assessPending(ctx); err != nil {
		return ComplianceStats{}, err
	}
	return s.Store.ComplianceStats(ctx)
}

// assessPending assesses a few delivered lots that have no verdict yet, so that the KPIs do not wait for
// someone to open their pages.
func (s *Service) assessPending(ctx context.Context) error {
	ids, err := s.Store.Unassessed(ctx, 20)
	if err != nil {
		return err
	}
	for _, id := range ids {
		l, err := s.Store.Lot(ctx, id)
		if err == nil {
			_, err = s.report(ctx, l)
		}
		if err != nil {
			s.Log.Warn("trace: assessing a delivered lot failed", "lot", id, "err", err)
		}
	}
	return nil
}

// BandIn returns the band in force in an asset at t, for ingest's excursion rules: the intersection of the
// bands of the lots in it (Intersect). ok is false when no lot with a band is in it; the asset's own band then
// applies (ingest's fallback). Loads that would leave no common band are refused (MixedLoad), so the band is
// never empty for lots loaded through AddEvent.
func (s *Service) BandIn(ctx context.Context, assetID string, t time.Time) (Band, bool, error) {
	lots, err := s.Store.LotsIn(ctx, assetID, t)
	if err != nil {
		return Band{}, false, err
	}
	b, ok := BandOf(lots)
	return b, ok, nil
}

type metrics struct {
	reportSeconds prometheus.Histogram
	cache         *prometheus.CounterVec
	late          prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		reportSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "suilong_trace_report_seconds",
			Help: "Time to build a lot's report (events, readings of every leg, compliance).", Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "suilong_trace_leg_cache_total",
			Help: "Leg readings summaries: hit (reused), extended (reused and extended), miss (computed afresh), stale (readings nobody told of; recomputed)."}, []string{"result"}),
		late: prometheus.NewCounter(prometheus.CounterOpts{Name: "suilong_trace_late_readings_total",
			Help: "Stretches of an asset's readings that ingest stored late, whose summaries and lots' pages were renewed."}),
	}
	if reg != nil {
		reg.MustRegister(m.reportSeconds, m.cache, m.late)
	}
	return m
}
