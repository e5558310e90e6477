package trace

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
)

// Store keeps lots, their events and legs in PostgreSQL. It checks journeys (DeriveCustody) but not who is
// asking: Service does.
type Store struct {
	db  pg.DB
	Now func() time.Time
}

// NewStore returns a store on db.
func NewStore(db pg.DB) *Store { return &Store{db: db, Now: time.Now} }

const lotColumns = `l.id, l.code, l.org_id, coalesce(o.name, ''), l.product, l.product_zh, l.variety, l.grade, l.quantity_kg,
	l.base_name, l.county, l.harvested_at, l.certifications, l.certificate_no, coalesce(l.gtin, ''), l.order_id, l.buyer_org_id,
	l.band_min_c, l.band_max_c, l.created_at, coalesce(l.shelf_life_hours, 0), l.certificate_commitment, l.certificate_basis,
	l.certificate_issuer, l.certificate_date, l.revision`

func scanLot(row pgx.Row, extra ...any) (Lot, error) {
	var l Lot
	var certs []string
	var day *time.Time
	err := row.Scan(append([]any{&l.ID, &l.Code, &l.OrgID, &l.OrgName, &l.Product, &l.ProductZH, &l.Variety, &l.Grade, &l.QuantityKg,
		&l.BaseName, &l.County, &l.HarvestedAt, &certs, &l.CertificateNo, &l.GTIN, &l.OrderID, &l.BuyerOrgID,
		&l.Band.MinC, &l.Band.MaxC, &l.CreatedAt, &l.ShelfLifeHours, &l.Certificate.Commitment, &l.Certificate.Basis,
		&l.Certificate.Issuer, &day, &l.Revision}, extra...)...)
	if day != nil {
		// A date column arrives as midnight UTC; the day is a day in China.
		l.Certificate.Date = &DateOnly{time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, CST)}
	}
	l.Certifications = make([]Certification, len(certs))
	for i, c := range certs {
		l.Certifications[i] = Certification(c)
	}
	return l, err
}

// LotRecord is what CreateLot stores: the validated request plus what the service looked up.
type LotRecord struct {
	NewLot
	Code       string // empty: a fresh random code
	OrgID      int64
	Recorder   string
	ProductZH  string
	Band       Band
	BuyerOrgID *int64
	// ShelfLifeHours is the product's (0: none).
	ShelfLifeHours int
}

// CreateLot stores a lot and its harvest event. Errors: Conflict when the code is taken.
func (s *Store) CreateLot(ctx context.Context, r LotRecord) (Lot, error) {
	if r.Code == "" {
		r.Code = NewCode()
	}
	certs := make([]string, len(r.Certifications))
	for i, c := range r.Certifications {
		certs[i] = string(c)
	}
	var gtin *string
	if r.GTIN != "" {
		gtin = &r.GTIN
	}
	var id int64
	err := pg.WithTx(ctx, s.db, func(tx pgx.Tx) error {
		const q = `INSERT INTO lots (code, org_id, product, product_zh, variety, grade, quantity_kg, base_name, county, harvested_at,
			certifications, certificate_no, gtin, order_id, buyer_org_id, band_min_c, band_max_c, shelf_life_hours,
			certificate_commitment, certificate_basis, certificate_issuer, certificate_date)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22) RETURNING id`
		var shelf *int
		if r.ShelfLifeHours > 0 {
			shelf = &r.ShelfLifeHours
		}
		var day *string
		if r.CertificateDate != nil {
			d := r.CertificateDate.String()
			day = &d
		}
		if err := tx.QueryRow(ctx, q, r.Code, r.OrgID, r.Product, r.ProductZH, r.Variety, r.Grade, r.QuantityKg, r.BaseName, r.County,
			r.HarvestedAt, certs, r.CertificateNo, gtin, r.OrderID, r.BuyerOrgID, r.Band.MinC, r.Band.MaxC, shelf,
			r.CertificateCommitment, string(r.CertificateBasis), r.CertificateIssuer, day).Scan(&id); err != nil {
			return pg.Err(err, "lot")
		}
		_, err := tx.Exec(ctx, `INSERT INTO lot_events (lot_id, kind, at, location, recorded_by, recorder) VALUES ($1, 'harvest', $2, $3, $4, $5)`,
			id, r.HarvestedAt, r.BaseName, r.OrgID, r.Recorder)
		return pg.Err(err, "harvest event")
	})
	if err != nil {
		return Lot{}, err
	}
	return s.Lot(ctx, id)
}

// Lot returns a lot by id. Errors: NotFound.
func (s *Store) Lot(ctx context.Context, id int64) (Lot, error) {
	l, err := scanLot(s.db.QueryRow(ctx, `SELECT `+lotColumns+` FROM lots l LEFT JOIN orgs o ON o.id = l.org_id WHERE l.id = $1`, id))
	return l, pg.Err(err, "lot")
}

// LotRevision returns the id and the revision of the lot with the public code. Errors: NotFound.
func (s *Store) LotRevision(ctx context.Context, code string) (id, revision int64, err error) {
	code, ok := NormalizeCode(code)
	if !ok {
		return 0, 0, errs.E(errs.NotFound, "lot not found")
	}
	err = s.db.QueryRow(ctx, `SELECT id, revision FROM lots WHERE code = $1`, code).Scan(&id, &revision)
	return id, revision, pg.Err(err, "lot")
}

// LotByCode returns a lot by its public code. Errors: NotFound.
func (s *Store) LotByCode(ctx context.Context, code string) (Lot, error) {
	code, ok := NormalizeCode(code)
	if !ok {
		return Lot{}, errs.E(errs.NotFound, "lot not found")
	}
	l, err := scanLot(s.db.QueryRow(ctx, `SELECT `+lotColumns+` FROM lots l LEFT JOIN orgs o ON o.id = l.org_id WHERE l.code = $1`, code))
	return l, pg.Err(err, "lot")
}

// LotFilter selects lots. A nil field does not filter; OwnerOrBuyer selects the lots an organisation owns or
// buys.
type LotFilter struct {
	OwnerOrBuyer *int64
	OrgID        *int64
	BuyerOrgID   *int64 // the lots an organisation buys
	OrderID      *int64
	Product      string
	Limit        int
	Offset       int
	After        string // the next cursor of the previous page (pg.Page.After)
}

// PageKey is the lot's place in Lots' order, newest first.
func (l Lot) PageKey() []any { return []any{l.ID} }

// Lots lists lots, newest first, with the total count (up to pg.CountCap). Errors: Invalid (a cursor of
// another list).
func (s *Store) Lots(ctx context.Context, f LotFilter) ([]Lot, int, error) {
	where, args := []string{"true"}, []any{}
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	if f.OwnerOrBuyer != nil { // read whole before a page is taken: OrgID or BuyerOrgID read only the page
		p := arg(*f.OwnerOrBuyer)
		where = append(where, "(l.org_id = "+p+" OR l.buyer_org_id = "+p+")")
	}
	if f.OrgID != nil {
		where = append(where, "l.org_id = "+arg(*f.OrgID))
	}
	if f.BuyerOrgID != nil {
		where = append(where, "l.buyer_org_id = "+arg(*f.BuyerOrgID))
	}
	if f.OrderID != nil {
		where = append(where, "l.order_id = "+arg(*f.OrderID))
	}
	if f.Product != "" {
		where = append(where, "l.product = "+arg(f.Product))
	}
	q := pg.Query{Cols: lotColumns, From: "lots l", Joins: ` LEFT JOIN orgs o ON o.id = l.org_id`, Where: where, Args: args,
		Key: "l.id", Desc: true}
	var after int64
	return pg.List(ctx, s.db, q, pg.Page{Limit: f.Limit, Offset: f.Offset, After: f.After}, "lots",
		func(r pgx.Row, total *int) (Lot, error) { return scanLot(r, total) }, &after)
}

const eventColumns = `id, lot_id, kind, at, coalesce(asset_id, ''), coalesce(asset_kind, ''), asset_name, asset_city, location, note,
	coalesce(recorded_by, 0), recorder, recorded_at, handover_temp_c, measured_by, coalesce(epcis_event_id, '')`

func events(ctx context.Context, db pg.DB, lotID int64) ([]Event, error) {
	rows, err := db.Query(ctx, `SELECT `+eventColumns+` FROM lot_events WHERE lot_id = $1 ORDER BY at, id`, lotID)
	if err != nil {
		return nil, pg.Err(err, "events")
	}
	evs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
		var e Event
		err := r.Scan(&e.ID, &e.LotID, &e.Kind, &e.At, &e.AssetID, &e.AssetKind, &e.AssetName, &e.AssetCity, &e.Location, &e.Note,
			&e.RecordedBy, &e.RecorderOrg, &e.RecordedAt, &e.HandoverTempC, &e.MeasuredBy, &e.EPCISEventID)
		e.BizStep, e.Disposition = Why(e.Kind, e.AssetKind)
		return e, err
	})
	return evs, pg.Err(err, "events")
}

// Events returns a lot's events in time order.
func (s *Store) Events(ctx context.Context, lotID int64) ([]Event, error) {
	return events(ctx, s.db, lotID)
}

// AddEvent records an event if it fits the lot's journey, and updates the lot's legs. A load must also leave
// the goods in the asset a common band (MixedLoad) with each other and with assetBand, the asset's own band.
// Concurrent events of one lot are serialised by a row lock, so two loads cannot both succeed, and loads into
// one asset by an advisory lock, so two lots that do not go together cannot both be loaded at once.
// Errors: NotFound for an unknown lot, Conflict (with the reason) when the journey would be impossible or the
// load mixed.
func (s *Store) AddEvent(ctx context.Context, e Event, assetBand Band) (Event, Custody, error) {
	var c Custody
	err := pg.WithTx(ctx, s.db, func(tx pgx.Tx) error {
		self := Occupant{LotID: e.LotID, Mine: true}
		if err := tx.QueryRow(ctx, `SELECT code, product, band_min_c, band_max_c FROM lots WHERE id = $1 FOR UPDATE`, e.LotID).
			Scan(&self.Code, &self.Product, &self.Band.MinC, &self.Band.MaxC); err != nil {
			return pg.Err(err, "lot")
		}
		evs, err := events(ctx, tx, e.LotID)
		if err != nil {
			return err
		}
		var maxID int64
		for _, x := range evs {
			maxID = max(maxID, x.ID)
		}
		e.ID = maxID + 1 // provisional, orders it after every event at the same time
		if c, err = DeriveCustody(append(evs, e)); err != nil {
			return err
		}
		if e.Kind == Load {
			if err := checkLoad(ctx, tx, e, c, self, assetBand); err != nil {
				return err
			}
		}
		var asset, kind *string
		if e.AssetID != "" {
			asset = &e.AssetID
		}
		if e.AssetKind != "" {
			kind = (*string)(&e.AssetKind)
		}
		var epcisID *string
		if e.EPCISEventID != "" {
			epcisID = &e.EPCISEventID
		}
		if err := tx.QueryRow(ctx, `INSERT INTO lot_events (lot_id, kind, at, asset_id, asset_kind, asset_name, asset_city, location, note,
			recorded_by, recorder, handover_temp_c, measured_by, epcis_event_id) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)
			RETURNING id, recorded_at`,
			e.LotID, e.Kind, e.At, asset, kind, e.AssetName, e.AssetCity, e.Location, e.Note, e.RecordedBy, e.RecorderOrg,
			e.HandoverTempC, e.MeasuredBy, epcisID).Scan(&e.ID, &e.RecordedAt); err != nil {
			return pg.Err(err, "event")
		}
		for i := range c.Legs {
			if c.Legs[i].LoadID == maxID+1 {
				c.Legs[i].LoadID = e.ID
			}
			if c.Legs[i].EndID == maxID+1 {
				c.Legs[i].EndID = e.ID
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM lot_legs WHERE lot_id = $1`, e.LotID); err != nil {
			return pg.Err(err, "legs")
		}
		for i, l := range c.Legs {
			var to *time.Time
			if !l.Open {
				to = &l.To
			}
			if _, err := tx.Exec(ctx, `INSERT INTO lot_legs (lot_id, seq, asset_id, from_at, to_at) VALUES ($1,$2,$3,$4,$5)`,
				e.LotID, i, l.AssetID, l.From, to); err != nil {
				return pg.Err(err, "leg")
			}
		}
		var delivered *time.Time
		if c.State == Delivered {
			delivered = &c.ReceivedAt
		}
		_, err = tx.Exec(ctx, `UPDATE lots SET delivered_at = $2 WHERE id = $1`, e.LotID, delivered)
		return pg.Err(err, "lot")
	})
	e.BizStep, e.Disposition = Why(e.Kind, e.AssetKind)
	return e, c, err
}

// assetLoads is the first key of the advisory locks that serialise loads into one asset (the second is a hash
// of the asset's id).
const assetLoads int32 = 0x7472 // "tr"

// checkLoad refuses a load (e, the newest event, provisionally numbered) whose leg would share the asset with
// lots it cannot be kept with.
func checkLoad(ctx context.Context, tx pgx.Tx, e Event, c Custody, self Occupant, assetBand Band) error {
	i := slices.IndexFunc(c.Legs, func(l Leg) bool { return l.LoadID == e.ID })
	if i < 0 {
		return nil
	}
	leg := c.Legs[i]
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, assetLoads, leg.AssetID); err != nil {
		return pg.Err(err, "asset lock")
	}
	var until *time.Time
	if !leg.Open {
		until = &leg.To
	}
	rows, err := tx.Query(ctx, `SELECT l.id, l.code, l.product, l.band_min_c, l.band_max_c, l.org_id = $5, g.from_at, g.to_at
		FROM lot_legs g JOIN lots l ON l.id = g.lot_id
		WHERE g.asset_id = $1 AND g.lot_id <> $2 AND (g.to_at IS NULL OR g.to_at > $3) AND ($4::timestamptz IS NULL OR g.from_at < $4)
		ORDER BY g.from_at, l.id`, leg.AssetID, e.LotID, leg.From, until, e.RecordedBy)
	if err != nil {
		return pg.Err(err, "lots in asset")
	}
	others, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Occupant, error) {
		var o Occupant
		var to *time.Time
		err := r.Scan(&o.LotID, &o.Code, &o.Product, &o.Band.MinC, &o.Band.MaxC, &o.Mine, &o.From, &to)
		if to != nil {
			o.To = *to
		}
		return o, err
	})
	if err != nil {
		return pg.Err(err, "lots in asset")
	}
	if msg := MixedLoad(self, leg, assetBand, others); msg != "" {
		err := conflict(e, "%s", msg)
		if ce := errs.As(err); ce != nil {
			ce.Fields = []errs.FieldError{{Field: "asset_id", Message: "holds goods that need another temperature"}}
		}
		return err
	}
	return nil
}

// Carried is a lot in an asset at some time.
type Carried struct {
	LotID   int64  `json:"lot_id"`
	Code    string `json:"code"`
	Product string `json:"product"`
	Band    Band   `json:"band"`
}

// LotsIn returns the lots that were in the asset at t (from their legs: loaded at or before t, not unloaded by t).
func (s *Store) LotsIn(ctx context.Context, assetID string, t time.Time) ([]Carried, error) {
	rows, err := s.db.Query(ctx, `SELECT l.id, l.code, l.product, l.band_min_c, l.band_max_c
		FROM lot_legs g JOIN lots l ON l.id = g.lot_id
		WHERE g.asset_id = $1 AND g.from_at <= $2 AND (g.to_at IS NULL OR g.to_at > $2) ORDER BY l.id`, assetID, t)
	if err != nil {
		return nil, pg.Err(err, "lots in asset")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Carried, error) {
		var x Carried
		err := r.Scan(&x.LotID, &x.Code, &x.Product, &x.Band.MinC, &x.Band.MaxC)
		return x, err
	})
	return out, pg.Err(err, "lots in asset")
}

// theirs selects the lots of organisation $1: its own as a base, those of its orders as a buyer (the rule of
// canSee, which Lots also applies).
const theirs = `(l.org_id = $1 OR l.buyer_org_id = $1)`

// AssetsCarrying returns the assets that carried (or carry) lots of the organisation, by id.
func (s *Store) AssetsCarrying(ctx context.Context, orgID int64) ([]string, error) {
	rows, err := s.db.Query(ctx, `SELECT DISTINCT g.asset_id FROM lot_legs g JOIN lots l ON l.id = g.lot_id WHERE `+theirs+` ORDER BY 1`, orgID)
	if err != nil {
		return nil, pg.Err(err, "assets of lots")
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return ids, pg.Err(err, "assets of lots")
}

// LegsIn returns the legs that lots of the organisation spent in the asset, by start: from the load to the
// unload or the receipt, open (zero To) while a lot is still in it.
func (s *Store) LegsIn(ctx context.Context, orgID int64, assetID string) ([]Leg, error) {
	rows, err := s.db.Query(ctx, `SELECT g.from_at, g.to_at FROM lot_legs g JOIN lots l ON l.id = g.lot_id
		WHERE g.asset_id = $2 AND `+theirs+` ORDER BY g.from_at, g.lot_id`, orgID, assetID)
	if err != nil {
		return nil, pg.Err(err, "legs in asset")
	}
	legs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Leg, error) {
		l := Leg{AssetID: assetID}
		var to *time.Time
		err := r.Scan(&l.From, &to)
		if to != nil {
			l.To = *to
		} else {
			l.Open = true
		}
		return l, err
	})
	return legs, pg.Err(err, "legs in asset")
}

// ComplianceStats counts delivered lots and how they fared, for the plan's KPI.
type ComplianceStats struct {
	Delivered int `json:"delivered_lots"`
	Assessed  int `json:"assessed_lots"`
	Compliant int `json:"compliant_lots"`
	// DeliveredKg and CompliantKg weigh the same by quantity.
	DeliveredKg int64 `json:"delivered_kg"`
	CompliantKg int64 `json:"compliant_kg"`
}

// ComplianceStats counts delivered lots, those assessed, and those whose cold chain was kept.
func (s *Store) ComplianceStats(ctx context.Context) (ComplianceStats, error) {
	var st ComplianceStats
	err := s.db.QueryRow(ctx, `SELECT count(*), count(assessed_at), count(*) FILTER (WHERE compliant),
		coalesce(sum(quantity_kg), 0), coalesce(sum(quantity_kg) FILTER (WHERE compliant), 0)
		FROM lots WHERE delivered_at IS NOT NULL`).Scan(&st.Delivered, &st.Assessed, &st.Compliant, &st.DeliveredKg, &st.CompliantKg)
	return st, pg.Err(err, "compliance stats")
}

// SetVerdict records the verdict of a lot's latest assessment.
func (s *Store) SetVerdict(ctx context.Context, lotID int64, v Verdict) error {
	_, err := s.db.Exec(ctx, `UPDATE lots SET verdict = $2, compliant = $3, assessed_at = now() WHERE id = $1`, lotID, string(v.Code), v.Compliant)
	return pg.Err(err, "lot")
}

// Unassessed returns delivered lots that have no verdict yet, oldest first.
func (s *Store) Unassessed(ctx context.Context, limit int) ([]int64, error) {
	rows, err := s.db.Query(ctx, `SELECT id FROM lots WHERE delivered_at IS NOT NULL AND assessed_at IS NULL ORDER BY delivered_at LIMIT $1`, limit)
	if err != nil {
		return nil, pg.Err(err, "lots")
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	return ids, pg.Err(err, "lots")
}

// SetOrder links a lot to an order and its buyer.
func (s *Store) SetOrder(ctx context.Context, lotID, orderID, buyerOrgID int64) error {
	tag, err := s.db.Exec(ctx, `UPDATE lots SET order_id = $2, buyer_org_id = $3 WHERE id = $1`, lotID, orderID, buyerOrgID)
	if err == nil && tag.RowsAffected() == 0 {
		return errs.E(errs.NotFound, "lot not found")
	}
	return pg.Err(err, "lot")
}
