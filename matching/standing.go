package matching

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
)

// chinaTime is the zone of standing demands' weekdays and dates: the buyers are in Guangzhou (UTC+8, no DST).
var chinaTime = time.FixedZone("CST", 8*3600)

const dateLayout = "2006-01-02"

// StandingDemand is a buyer's recurring need: at every round whose delivery window holds one of its weekdays
// within its dates, and that takes its product and destination, it becomes a demand in that round, until paused.
type StandingDemand struct {
	ID                     int64      `json:"id"`
	OrgID                  int64      `json:"org_id"`
	OrgName                string     `json:"org_name"`
	Product                string     `json:"product"`
	MinGrade               int        `json:"min_grade"`
	QuantityKg             int64      `json:"quantity_kg"`
	MaxPricePerKg          Fen        `json:"max_price_per_kg"`
	Destination            string     `json:"destination"`
	Weekdays               []int      `json:"weekdays"`    // ISO: 1 Monday … 7 Sunday, China time; empty: any day
	ValidFrom              *string    `json:"valid_from"`  // YYYY-MM-DD, China time; nil: from now on
	ValidUntil             *string    `json:"valid_until"` // YYYY-MM-DD, inclusive; nil: until paused
	RequiredCertifications []string   `json:"required_certifications"`
	RequireInspection      bool       `json:"require_inspection"` // its demands take only offers of a lot whose latest 农残检测 passed
	Note                   string     `json:"note"`
	Paused                 bool       `json:"paused"`
	PausedAt               *time.Time `json:"paused_at,omitempty"`
	Version                int        `json:"version"`
	CreatedAt              time.Time  `json:"created_at"`
	UpdatedAt              time.Time  `json:"updated_at"`
}

// NewStandingDemand is what a buyer posts; StandingDemandUpdate changes it (nil fields are kept; an empty
// string clears a date).
type NewStandingDemand struct {
	Product                string   `json:"product"`
	MinGrade               int      `json:"min_grade"`
	QuantityKg             int64    `json:"quantity_kg"`
	MaxPricePerKg          *Fen     `json:"max_price_per_kg"`
	Destination            string   `json:"destination"`
	Weekdays               []int    `json:"weekdays"`
	ValidFrom              *string  `json:"valid_from"`
	ValidUntil             *string  `json:"valid_until"`
	RequiredCertifications []string `json:"required_certifications"`
	RequireInspection      bool     `json:"require_inspection"`
	Note                   string   `json:"note"`
}

// StandingDemandUpdate changes a standing demand. Demands it already made stay as they are.
type StandingDemandUpdate struct {
	MinGrade               *int      `json:"min_grade"`
	QuantityKg             *int64    `json:"quantity_kg"`
	MaxPricePerKg          *Fen      `json:"max_price_per_kg"`
	Destination            *string   `json:"destination"`
	Weekdays               *[]int    `json:"weekdays"`
	ValidFrom              *string   `json:"valid_from"`
	ValidUntil             *string   `json:"valid_until"`
	RequiredCertifications *[]string `json:"required_certifications"`
	RequireInspection      *bool     `json:"require_inspection"`
	Note                   *string   `json:"note"`
}

func parseDate(fe *errs.FieldErrors, field string, s *string) *time.Time {
	if s == nil {
		return nil
	}
	t, err := time.ParseInLocation(dateLayout, *s, chinaTime)
	if err != nil {
		fe.Add(field, "must be a date, YYYY-MM-DD")
		return nil
	}
	validTime(fe, field, t)
	return &t
}

func (sd *StandingDemand) validate() error {
	// The terms a demand has are checked as a demand's, under the same field names.
	d := Demand{Product: sd.Product, MinGrade: sd.MinGrade, QuantityKg: sd.QuantityKg, MaxPricePerKg: sd.MaxPricePerKg,
		Destination: sd.Destination, DeliverBy: earliest, RequiredCertifications: sd.RequiredCertifications, Note: sd.Note}
	var fe errs.FieldErrors
	if err := d.validate(); err != nil {
		fe = append(fe, errs.As(err).Fields...)
	}
	seen := map[int]bool{}
	for i, w := range sd.Weekdays {
		switch {
		case w < 1 || w > 7:
			fe.Add("weekdays["+itoa(i)+"]", "must be 1 (Monday) to 7 (Sunday)")
		case seen[w]:
			fe.Add("weekdays["+itoa(i)+"]", "%d is listed twice", w)
		}
		seen[w] = true
	}
	from, until := parseDate(&fe, "valid_from", sd.ValidFrom), parseDate(&fe, "valid_until", sd.ValidUntil)
	if from != nil && until != nil && until.Before(*from) {
		fe.Add("valid_until", "must not be before valid_from")
	}
	return fe.Err()
}

// fits reports whether the standing demand becomes a demand in round r (r takes its product and destination,
// and some day of r's delivery window, China time, is one of its weekdays within its dates), and by when that
// demand is due: the end of the last such day, so that a buyer who takes deliveries on Saturdays, or only until
// its valid_until, is not given one on the Sunday after.
func (sd StandingDemand) fits(r Round) (deliverBy time.Time, ok bool) {
	if sd.Paused || (len(r.Products) > 0 && !slices.Contains(r.Products, sd.Product)) ||
		(len(r.Destinations) > 0 && !slices.Contains(r.Destinations, sd.Destination)) {
		return time.Time{}, false
	}
	y, m, d := r.DeliverFrom.In(chinaTime).Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, chinaTime)
	// A window longer than a year has every weekday and date it can; looking at 400 days is enough.
	for i := 0; i < 400 && !day.After(r.DeliverBy); i, day = i+1, day.AddDate(0, 0, 1) {
		date := day.Format(dateLayout)
		if sd.ValidFrom != nil && date < *sd.ValidFrom || sd.ValidUntil != nil && date > *sd.ValidUntil {
			continue
		}
		wd := int(day.Weekday())
		if wd == 0 {
			wd = 7
		}
		if len(sd.Weekdays) == 0 || slices.Contains(sd.Weekdays, wd) {
			// The last such day wins: the demand is due by its end (a second before midnight, so that the
			// certificate rule's delivery day is that day), or by the round's deliver_by if that comes first.
			deliverBy, ok = day.AddDate(0, 0, 1).Add(-time.Second), true
			if deliverBy.After(r.DeliverBy) {
				deliverBy = r.DeliverBy
			}
		}
	}
	return deliverBy, ok
}

const standingCols = `s.id, s.org_id, coalesce(g.name, ''), s.product, s.min_grade, s.quantity_kg, s.max_price_fen, s.destination,
	s.weekdays, s.valid_from, s.valid_until, s.required_certifications, s.require_inspection, s.note, s.paused, s.paused_at, s.version, s.created_at, s.updated_at`

const standingJoins = ` LEFT JOIN orgs g ON g.id = s.org_id`

func scanStanding(r pgx.Row, extra ...any) (StandingDemand, error) {
	var sd StandingDemand
	var wd []int16
	var from, until *time.Time
	err := r.Scan(append([]any{&sd.ID, &sd.OrgID, &sd.OrgName, &sd.Product, &sd.MinGrade, &sd.QuantityKg, &sd.MaxPricePerKg,
		&sd.Destination, &wd, &from, &until, &sd.RequiredCertifications, &sd.RequireInspection, &sd.Note, &sd.Paused, &sd.PausedAt, &sd.Version,
		&sd.CreatedAt, &sd.UpdatedAt}, extra...)...)
	sd.Weekdays = make([]int, len(wd))
	for i, w := range wd {
		sd.Weekdays[i] = int(w)
	}
	sd.ValidFrom, sd.ValidUntil = dateString(from), dateString(until)
	if sd.RequiredCertifications == nil {
		sd.RequiredCertifications = []string{}
	}
	return sd, err
}

// dateString formats a date column (read as midnight UTC) as YYYY-MM-DD.
func dateString(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.UTC().Format(dateLayout)
	return &s
}

func getStanding(ctx context.Context, db pg.DB, id int64, lock bool) (StandingDemand, error) {
	q := `SELECT ` + standingCols + ` FROM standing_demands s` + standingJoins + ` WHERE s.id = $1`
	if lock {
		q += ` FOR UPDATE OF s`
	}
	sd, err := scanStanding(db.QueryRow(ctx, q, id))
	if errs.Is(pg.Err(err, ""), errs.NotFound) {
		return sd, notFound("standing demand", id)
	}
	return sd, pg.Err(err, "standing demand")
}

// CreateStandingDemand posts a standing demand of the caller's buying organisation. Errors: Forbidden for
// anyone but a buyer, Unprocessable naming the fields.
func (s *Store) CreateStandingDemand(ctx context.Context, p auth.Principal, n NewStandingDemand) (StandingDemand, error) {
	if p.Role != auth.RoleBuyer {
		return StandingDemand{}, forbidden("only a buyer posts standing demands")
	}
	sd := StandingDemand{OrgID: p.OrgID, Product: n.Product, MinGrade: n.MinGrade, QuantityKg: n.QuantityKg, Destination: n.Destination,
		Weekdays: append([]int{}, n.Weekdays...), ValidFrom: n.ValidFrom, ValidUntil: n.ValidUntil,
		RequiredCertifications: append([]string{}, n.RequiredCertifications...), RequireInspection: n.RequireInspection,
		Note: strings.TrimSpace(n.Note)}
	slices.Sort(sd.Weekdays)
	var fe errs.FieldErrors
	if n.MaxPricePerKg == nil {
		fe.Add("max_price_per_kg", "is required (CNY per kg, e.g. 5.00)")
	} else {
		sd.MaxPricePerKg = *n.MaxPricePerKg
	}
	if err := sd.validate(); err != nil {
		fe = append(fe, errs.As(err).Fields...)
	}
	if err := s.productExists(ctx, s.db, &fe, sd.Product); err != nil {
		return StandingDemand{}, err
	}
	if err := fe.Err(); err != nil {
		return StandingDemand{}, err
	}
	var id int64
	err := s.db.QueryRow(ctx, `INSERT INTO standing_demands (org_id, product, min_grade, quantity_kg, max_price_fen, destination, weekdays,
		valid_from, valid_until, required_certifications, require_inspection, note) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		RETURNING id`,
		sd.OrgID, sd.Product, sd.MinGrade, sd.QuantityKg, int64(sd.MaxPricePerKg), sd.Destination, sd.Weekdays, sd.ValidFrom, sd.ValidUntil,
		sd.RequiredCertifications, sd.RequireInspection, sd.Note).Scan(&id)
	if err != nil {
		return StandingDemand{}, pg.Err(err, "standing demand")
	}
	s.m.posted.WithLabelValues("standing_demand").Inc()
	return getStanding(ctx, s.db, id, false)
}

// StandingDemands lists standing demands, newest first: a buyer's own, all for staff. Errors: Forbidden.
func (s *Store) StandingDemands(ctx context.Context, p auth.Principal, page Page) ([]StandingDemand, int, error) {
	if !p.Staff() && p.Role != auth.RoleBuyer {
		return nil, 0, forbidden("only buyers and coordinators list standing demands")
	}
	var where []string
	var args []any
	if !p.Staff() {
		args, where = append(args, p.OrgID), append(where, "s.org_id = $1")
	}
	q := pg.Query{Cols: standingCols, From: "standing_demands s", Joins: standingJoins, Where: where, Args: args, Key: "s.id", Desc: true}
	var after int64
	return pg.List(ctx, s.db, q, page, "standing demands", func(r pgx.Row, total *int) (StandingDemand, error) { return scanStanding(r, total) }, &after)
}

// PageKey is the standing demand's place in StandingDemands' order, newest first.
func (sd StandingDemand) PageKey() []any { return []any{sd.ID} }

// StandingRound is what one round made of a standing demand: the demand in it, its allocations and orders.
type StandingRound struct {
	RoundID     int64        `json:"round_id"`
	RoundName   string       `json:"round_name"`
	ClosesAt    time.Time    `json:"closes_at"`
	RoundStatus RoundStatus  `json:"round_status"`
	Demand      Demand       `json:"demand"`
	Allocations []Allocation `json:"allocations"`
	Orders      []Order      `json:"orders"`
}

// StandingDemandDoc is a standing demand with what its latest rounds (up to 20, newest first) made of it.
type StandingDemandDoc struct {
	StandingDemand
	Rounds []StandingRound `json:"rounds"`
}

// StandingDemand returns a standing demand its buyer or staff may see, with the demands it made. Errors:
// NotFound (also for another organisation's).
func (s *Store) StandingDemand(ctx context.Context, p auth.Principal, id int64) (StandingDemandDoc, error) {
	sd, err := getStanding(ctx, s.db, id, false)
	if err != nil {
		return StandingDemandDoc{}, err
	}
	if !owns(p, sd.OrgID) {
		return StandingDemandDoc{}, notFound("standing demand", id)
	}
	doc := StandingDemandDoc{StandingDemand: sd, Rounds: []StandingRound{}}
	var ids []int64
	demands, err := collect(ctx, s.db, "demands", func(r pgx.Row) (Demand, error) {
		var sr StandingRound
		d, err := scanDemand(r, &sr.RoundName, &sr.ClosesAt, &sr.RoundStatus)
		sr.RoundID, sr.Demand, sr.Allocations, sr.Orders = *d.RoundID, d, []Allocation{}, []Order{}
		doc.Rounds = append(doc.Rounds, sr)
		ids = append(ids, d.ID)
		return d, err
	}, `SELECT `+demandCols+`, rd.name, rd.closes_at, rd.status`+demandFrom+` JOIN rounds rd ON rd.id = d.round_id
		WHERE d.standing_demand_id = $1 ORDER BY d.id DESC LIMIT 20`, id)
	if err != nil || len(demands) == 0 {
		return doc, err
	}
	at := map[int64]int{}
	for i, d := range ids {
		at[d] = i
	}
	if _, err := collect(ctx, s.db, "allocations", func(r pgx.Row) (Allocation, error) {
		a, err := scanAlloc(r)
		a.redact(p)
		doc.Rounds[at[a.DemandID]].Allocations = append(doc.Rounds[at[a.DemandID]].Allocations, a)
		return a, err
	}, `SELECT `+allocCols+allocFrom+` WHERE a.demand_id = ANY($1) ORDER BY a.id`, ids); err != nil {
		return doc, err
	}
	_, err = collect(ctx, s.db, "orders", func(r pgx.Row) (Order, error) {
		o, err := scanOrder(r)
		doc.Rounds[at[o.DemandID]].Orders = append(doc.Rounds[at[o.DemandID]].Orders, o)
		return o, err
	}, `SELECT `+orderCols+orderFrom+` WHERE r.demand_id = ANY($1) ORDER BY r.id`, ids)
	return doc, err
}

// UpdateStandingDemand changes a standing demand for the rounds still to come. Errors: NotFound, Forbidden
// (only its buyer changes it), Unprocessable.
func (s *Store) UpdateStandingDemand(ctx context.Context, p auth.Principal, id int64, u StandingDemandUpdate) (StandingDemandDoc, error) {
	err := s.changeStanding(ctx, p, id, func(sd *StandingDemand) error {
		if u.MinGrade != nil {
			sd.MinGrade = *u.MinGrade
		}
		if u.QuantityKg != nil {
			sd.QuantityKg = *u.QuantityKg
		}
		if u.MaxPricePerKg != nil {
			sd.MaxPricePerKg = *u.MaxPricePerKg
		}
		if u.Destination != nil {
			sd.Destination = *u.Destination
		}
		if u.Weekdays != nil {
			sd.Weekdays = append([]int{}, *u.Weekdays...)
			slices.Sort(sd.Weekdays)
		}
		clear := func(v *string) *string {
			if v != nil && *v == "" {
				return nil
			}
			return v
		}
		if u.ValidFrom != nil {
			sd.ValidFrom = clear(u.ValidFrom)
		}
		if u.ValidUntil != nil {
			sd.ValidUntil = clear(u.ValidUntil)
		}
		if u.RequiredCertifications != nil {
			sd.RequiredCertifications = append([]string{}, *u.RequiredCertifications...)
		}
		if u.RequireInspection != nil {
			sd.RequireInspection = *u.RequireInspection
		}
		if u.Note != nil {
			sd.Note = strings.TrimSpace(*u.Note)
		}
		return sd.validate()
	})
	if err != nil {
		return StandingDemandDoc{}, err
	}
	return s.StandingDemand(ctx, p, id)
}

// PauseStandingDemand stops (paused true) or resumes a standing demand making demands in the rounds that
// close from now on; pausing twice is harmless. Errors: NotFound, Forbidden.
func (s *Store) PauseStandingDemand(ctx context.Context, p auth.Principal, id int64, paused bool) (StandingDemandDoc, error) {
	err := s.changeStanding(ctx, p, id, func(sd *StandingDemand) error {
		if sd.Paused != paused {
			now := s.Now()
			sd.Paused, sd.PausedAt = paused, &now
			if !paused {
				sd.PausedAt = nil
			}
		}
		return nil
	})
	if err != nil {
		return StandingDemandDoc{}, err
	}
	return s.StandingDemand(ctx, p, id)
}

// ownStanding reads and locks a standing demand its caller's organisation may change: another buyer gets
// NotFound (it must not learn the id exists), staff who may read it Forbidden (only its buyer speaks for it).
func ownStanding(ctx context.Context, tx pgx.Tx, p auth.Principal, id int64, verb string) (StandingDemand, error) {
	sd, err := getStanding(ctx, tx, id, true)
	if err != nil {
		return sd, err
	}
	if !owns(p, sd.OrgID) {
		return sd, notFound("standing demand", id)
	}
	if p.OrgID != sd.OrgID {
		return sd, forbidden("only the standing demand's buyer %s it", verb)
	}
	return sd, nil
}

func (s *Store) changeStanding(ctx context.Context, p auth.Principal, id int64, change func(sd *StandingDemand) error) error {
	return pg.WithTx(ctx, s.db, func(tx pgx.Tx) error {
		sd, err := ownStanding(ctx, tx, p, id, "changes")
		if err != nil {
			return err
		}
		if err := change(&sd); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE standing_demands SET min_grade = $2, quantity_kg = $3, max_price_fen = $4, destination = $5,
			weekdays = $6, valid_from = $7, valid_until = $8, required_certifications = $9, note = $10, paused = $11, paused_at = $12,
			require_inspection = $13, version = version + 1, updated_at = now() WHERE id = $1`, id, sd.MinGrade, sd.QuantityKg,
			int64(sd.MaxPricePerKg), sd.Destination, sd.Weekdays, sd.ValidFrom, sd.ValidUntil, sd.RequiredCertifications, sd.Note, sd.Paused,
			sd.PausedAt, sd.RequireInspection)
		return pg.Err(err, "standing demand")
	})
}

// DeleteStandingDemand removes a standing demand; the demands it made stay in their rounds (no longer linked
// to it). Errors: NotFound, Forbidden.
func (s *Store) DeleteStandingDemand(ctx context.Context, p auth.Principal, id int64) error {
	return pg.WithTx(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := ownStanding(ctx, tx, p, id, "deletes"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM standing_demands WHERE id = $1`, id)
		return pg.Err(err, "standing demand")
	})
}

// makeStandingDemands turns the standing demands that fit round r into demands in it, inside the close's
// transaction; the unique index on (standing_demand_id, round_id) makes a second pass write nothing. Only
// standing demands of organisations that are still buyers count. It returns how many it made.
func (s *Store) makeStandingDemands(ctx context.Context, tx pgx.Tx, r Round) (int, error) {
	cands, err := collect(ctx, tx, "standing demands", func(row pgx.Row) (StandingDemand, error) { return scanStanding(row) },
		`SELECT `+standingCols+` FROM standing_demands s`+standingJoins+` WHERE NOT s.paused AND g.role = 'buyer'
		AND (cardinality($1::text[]) = 0 OR s.product = ANY($1)) AND (cardinality($2::text[]) = 0 OR s.destination = ANY($2))
		ORDER BY s.id`, r.Products, r.Destinations)
	if err != nil {
		return 0, err
	}
	made := 0
	for _, sd := range cands {
		due, ok := sd.fits(r)
		if !ok {
			continue
		}
		tag, err := tx.Exec(ctx, `INSERT INTO demands (org_id, product, min_grade, quantity_kg, max_price_fen, destination, deliver_by,
			required_certifications, require_inspection, note, round_id, standing_demand_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
			ON CONFLICT (standing_demand_id, round_id) WHERE standing_demand_id IS NOT NULL DO NOTHING`,
			sd.OrgID, sd.Product, sd.MinGrade, sd.QuantityKg, int64(sd.MaxPricePerKg), sd.Destination, due,
			sd.RequiredCertifications, sd.RequireInspection, sd.Note, r.ID, sd.ID)
		if err != nil {
			return made, pg.Err(err, "demand")
		}
		made += int(tag.RowsAffected())
	}
	s.m.standingMade.Add(float64(made))
	return made, nil
}
