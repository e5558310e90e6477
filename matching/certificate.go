package matching

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
	"github.com/suilong/suilong/matching/solve"
)

// Day is a calendar day in China (solve.Date): certificates are valid from and until whole days.
type Day = solve.Date

// ExpiringSoonDays is how near its end a certificate shows as expiring soon.
const ExpiringSoonDays = 30

// Certificate is a 菜篮子 base certificate (粤港澳大湾区“菜篮子”生产基地): the base it was issued to, its number,
// the products it covers and the days it is valid, both ends included. Coordinators record it; in a run, a
// demand requiring cailanzi-base meets only offers of a base whose certificate covers the product on the
// demand's delivery day (docs/matching.md).
type Certificate struct {
	ID         int64    `json:"id"`
	OrgID      int64    `json:"org_id"`
	OrgName    string   `json:"org_name"`
	Number     string   `json:"number"`
	Products   []string `json:"products"`
	ValidFrom  *Day     `json:"valid_from"`
	ValidUntil Day      `json:"valid_until"`
	Issuer     string   `json:"issuer"`
	Note       string   `json:"note"`
	// DaysLeft counts the days from today (China) to ValidUntil: 0 on its last day, negative once expired.
	DaysLeft    int       `json:"days_left"`
	ExpiresSoon bool      `json:"expires_soon"` // valid still, for at most ExpiringSoonDays more days
	Expired     bool      `json:"expired"`
	Recorder    string    `json:"recorder"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// NewCertificate is what a coordinator records for a base.
type NewCertificate struct {
	Number     string   `json:"number"`
	Products   []string `json:"products"`
	ValidFrom  *Day     `json:"valid_from"`
	ValidUntil *Day     `json:"valid_until"`
	Issuer     string   `json:"issuer"`
	Note       string   `json:"note"`
}

// CertificateUpdate changes a certificate; nil fields are kept. A renewal is a new valid_until (or a new
// certificate). valid_from is cleared with clear_valid_from, as a null cannot be told from an absent field.
type CertificateUpdate struct {
	Number         *string   `json:"number"`
	Products       *[]string `json:"products"`
	ValidFrom      *Day      `json:"valid_from"`
	ClearValidFrom bool      `json:"clear_valid_from"`
	ValidUntil     *Day      `json:"valid_until"`
	Issuer         *string   `json:"issuer"`
	Note           *string   `json:"note"`
}

// CertificateFilter selects certificates. ExpiringWithin (days, ≥ 0) keeps those still valid today that end
// within that many days.
type CertificateFilter struct {
	OrgID          *int64
	Product        string
	ExpiringWithin *int
	Page
}

// PageKey is the certificate's place in Certificates' order: soonest to end first.
func (c Certificate) PageKey() []any { return []any{c.ValidUntil.String(), c.ID} }

func (c *Certificate) validate() error {
	var fe errs.FieldErrors
	if c.Number == "" || utf8.RuneCountInString(c.Number) > 64 || strings.ContainsFunc(c.Number, isCtl) {
		fe.Add("number", "is required: the certificate's number, at most 64 characters")
	}
	switch {
	case len(c.Products) == 0:
		fe.Add("products", "must list the products the certificate covers, e.g. [\"choy-sum\"]")
	case len(c.Products) > 50:
		fe.Add("products", "at most 50 products")
	}
	seen := map[string]bool{}
	for i, p := range c.Products {
		switch {
		case !slug.MatchString(p):
			fe.Add("products["+itoa(i)+"]", slugRule)
		case seen[p]:
			fe.Add("products["+itoa(i)+"]", "%q is listed twice", p)
		}
		seen[p] = true
	}
	okDay := func(field string, d Day) bool {
		if d < solve.DayOf(2000, 1, 1) || d > solve.DayOf(2199, 12, 31) {
			fe.Add(field, "must be a day between 2000-01-01 and 2199-12-31")
			return false
		}
		return true
	}
	if c.ValidUntil == 0 {
		fe.Add("valid_until", "is required (the last day the certificate is valid, e.g. 2027-06-30)")
	} else if okDay("valid_until", c.ValidUntil) && c.ValidFrom != nil && okDay("valid_from", *c.ValidFrom) && *c.ValidFrom > c.ValidUntil {
		fe.Add("valid_until", "must not be before valid_from (%s)", *c.ValidFrom)
	}
	if utf8.RuneCountInString(c.Issuer) > 200 {
		fe.Add("issuer", "at most 200 characters")
	}
	if utf8.RuneCountInString(c.Note) > 1000 {
		fe.Add("note", "at most 1000 characters")
	}
	return fe.Err()
}

func isCtl(r rune) bool { return r < 0x20 || r == 0x7f }

// today is the China calendar day of now.
func (s *Store) today() Day { return solve.DateOf(s.Now()) }

func (s *Store) withDays(c Certificate) Certificate {
	c.DaysLeft = int(c.ValidUntil - s.today())
	c.Expired = c.DaysLeft < 0
	c.ExpiresSoon = !c.Expired && c.DaysLeft <= ExpiringSoonDays
	if c.Products == nil {
		c.Products = []string{}
	}
	return c
}

const certCols = `c.id, c.org_id, coalesce(g.name, ''), c.number, c.products, c.valid_from::text, c.valid_until::text, c.issuer, c.note,
	c.recorder, c.created_at, c.updated_at`

const certJoins = ` LEFT JOIN orgs g ON g.id = c.org_id`

func (s *Store) scanCertificate(r pgx.Row, extra ...any) (Certificate, error) {
	var c Certificate
	var from *string
	var until string
	err := r.Scan(append([]any{&c.ID, &c.OrgID, &c.OrgName, &c.Number, &c.Products, &from, &until, &c.Issuer, &c.Note,
		&c.Recorder, &c.CreatedAt, &c.UpdatedAt}, extra...)...)
	if err != nil {
		return c, err
	}
	if c.ValidUntil, err = solve.ParseDate(until); err != nil {
		return c, err
	}
	if from != nil {
		d, err := solve.ParseDate(*from)
		if err != nil {
			return c, err
		}
		c.ValidFrom = &d
	}
	return s.withDays(c), nil
}

// orgRef is an organisation reference, NULL for the system (the demo), which has none.
func orgRef(org int64) any {
	if org == 0 {
		return nil
	}
	return org
}

func dayArg(d *Day) any {
	if d == nil {
		return nil
	}
	return d.String()
}

// mayReadCertificates: staff and buyers read every base's certificates (they are the scheme's public facts, what
// a buyer relies on when it requires cailanzi-base); a base reads its own.
func mayReadCertificates(p auth.Principal, org int64) bool {
	return p.Staff() || p.Role == auth.RoleBuyer || (p.Role == auth.RoleBase && p.OrgID == org)
}

// baseOrg checks that org is a base. Errors: NotFound.
func (s *Store) baseOrg(ctx context.Context, db pg.DB, org int64) error {
	var role string
	err := db.QueryRow(ctx, `SELECT role FROM orgs WHERE id = $1`, org).Scan(&role)
	if err != nil || role != string(auth.RoleBase) {
		if errs.Is(pg.Err(err, ""), errs.NotFound) || err == nil {
			return errs.E(errs.NotFound, "base %d not found", org)
		}
		return pg.Err(err, "base")
	}
	return nil
}

// productsExist adds a field error for each product of list that is not a known product.
func productsExist(ctx context.Context, db pg.DB, fe *errs.FieldErrors, field string, list []string) error {
	if len(list) == 0 {
		return nil
	}
	rows, err := db.Query(ctx, `SELECT name FROM products WHERE name = ANY($1)`, list)
	if err != nil {
		return pg.Err(err, "products")
	}
	known, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return pg.Err(err, "products")
	}
	have := map[string]bool{}
	for _, k := range known {
		have[k] = true
	}
	for i, p := range list {
		if slug.MatchString(p) && !have[p] {
			fe.Add(field+"["+itoa(i)+"]", "unknown product %q (see GET /api/v1/products)", p)
		}
	}
	return nil
}

// CreateCertificate records a base's certificate. Only coordinators and admins certify: a base cannot certify
// itself. Errors: Forbidden, NotFound (no such base), Unprocessable, Conflict (the base has that number already).
func (s *Store) CreateCertificate(ctx context.Context, p auth.Principal, org int64, n NewCertificate) (Certificate, error) {
	if !p.Staff() {
		return Certificate{}, forbidden("only coordinators record 菜篮子 base certificates")
	}
	if err := s.baseOrg(ctx, s.db, org); err != nil {
		return Certificate{}, err
	}
	c := Certificate{OrgID: org, Number: strings.TrimSpace(n.Number), Products: n.Products, ValidFrom: n.ValidFrom,
		Issuer: strings.TrimSpace(n.Issuer), Note: strings.TrimSpace(n.Note)}
	if n.ValidUntil != nil {
		c.ValidUntil = *n.ValidUntil
	}
	if err := s.checkCertificate(ctx, &c); err != nil {
		return Certificate{}, err
	}
	var id int64
	err := s.db.QueryRow(ctx, `INSERT INTO base_certifications (org_id, number, products, valid_from, valid_until, issuer, note, recorded_by, recorder)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
		org, c.Number, c.Products, dayArg(c.ValidFrom), c.ValidUntil.String(), c.Issuer, c.Note, orgRef(p.OrgID), p.Actor()).Scan(&id)
	if err != nil {
		return Certificate{}, duplicateNumber(err)
	}
	return s.getCertificate(ctx, org, id)
}

func (s *Store) checkCertificate(ctx context.Context, c *Certificate) error {
	var fe errs.FieldErrors
	if err := c.validate(); err != nil {
		fe = append(fe, errs.As(err).Fields...)
	}
	if err := productsExist(ctx, s.db, &fe, "products", c.Products); err != nil {
		return err
	}
	return fe.Err()
}

func duplicateNumber(err error) error {
	if errs.Is(pg.Err(err, ""), errs.Conflict) {
		return &errs.Error{Code: errs.Conflict, Message: "the base already has a certificate of this number",
			Fields: []errs.FieldError{{Field: "number", Message: "already recorded for this base"}}}
	}
	return pg.Err(err, "certificate")
}

func (s *Store) getCertificate(ctx context.Context, org, id int64) (Certificate, error) {
	c, err := s.scanCertificate(s.db.QueryRow(ctx, `SELECT `+certCols+` FROM base_certifications c`+certJoins+
		` WHERE c.id = $1 AND c.org_id = $2`, id, org))
	if errs.Is(pg.Err(err, ""), errs.NotFound) {
		return c, notFound("certificate", id)
	}
	return c, pg.Err(err, "certificate")
}

// Certificate returns one of a base's certificates. Errors: NotFound (also for a base the caller may not read).
func (s *Store) Certificate(ctx context.Context, p auth.Principal, org, id int64) (Certificate, error) {
	if !mayReadCertificates(p, org) {
		return Certificate{}, notFound("certificate", id)
	}
	return s.getCertificate(ctx, org, id)
}

// UpdateCertificate changes a certificate (coordinators only). Errors: Forbidden, NotFound, Unprocessable,
// Conflict.
func (s *Store) UpdateCertificate(ctx context.Context, p auth.Principal, org, id int64, u CertificateUpdate) (Certificate, error) {
	if !p.Staff() {
		return Certificate{}, forbidden("only coordinators change 菜篮子 base certificates")
	}
	c, err := s.getCertificate(ctx, org, id)
	if err != nil {
		return Certificate{}, err
	}
	if u.Number != nil {
		c.Number = strings.TrimSpace(*u.Number)
	}
	if u.Products != nil {
		c.Products = *u.Products
	}
	if u.ValidFrom != nil {
		c.ValidFrom = u.ValidFrom
	}
	if u.ClearValidFrom {
		c.ValidFrom = nil
	}
	if u.ValidUntil != nil {
		c.ValidUntil = *u.ValidUntil
	}
	if u.Issuer != nil {
		c.Issuer = strings.TrimSpace(*u.Issuer)
	}
	if u.Note != nil {
		c.Note = strings.TrimSpace(*u.Note)
	}
	if err := s.checkCertificate(ctx, &c); err != nil {
		return Certificate{}, err
	}
	_, err = s.db.Exec(ctx, `UPDATE base_certifications SET number = $3, products = $4, valid_from = $5, valid_until = $6, issuer = $7,
		note = $8, recorded_by = $9, recorder = $10, updated_at = now() WHERE id = $1 AND org_id = $2`,
		id, org, c.Number, c.Products, dayArg(c.ValidFrom), c.ValidUntil.String(), c.Issuer, c.Note, orgRef(p.OrgID), p.Actor())
	if err != nil {
		return Certificate{}, duplicateNumber(err)
	}
	return s.getCertificate(ctx, org, id)
}

// DeleteCertificate removes a certificate recorded in error (coordinators only); an expired one is better kept,
// as the record of what runs relied on. Errors: Forbidden, NotFound.
func (s *Store) DeleteCertificate(ctx context.Context, p auth.Principal, org, id int64) error {
	if !p.Staff() {
		return forbidden("only coordinators delete 菜篮子 base certificates")
	}
	tag, err := s.db.Exec(ctx, `DELETE FROM base_certifications WHERE id = $1 AND org_id = $2`, id, org)
	if err != nil {
		return pg.Err(err, "certificate")
	}
	if tag.RowsAffected() == 0 {
		return notFound("certificate", id)
	}
	return nil
}

// Certificates lists certificates, soonest to end first: one base's (OrgID) or, for staff and buyers, every
// base's; a base lists only its own. Errors: NotFound (a base the caller may not read), Forbidden, Invalid.
func (s *Store) Certificates(ctx context.Context, p auth.Principal, f CertificateFilter) ([]Certificate, int, error) {
	switch {
	case f.OrgID != nil && !mayReadCertificates(p, *f.OrgID):
		return nil, 0, errs.E(errs.NotFound, "base %d not found", *f.OrgID)
	case f.OrgID == nil && p.Role == auth.RoleBase:
		f.OrgID = &p.OrgID
	case f.OrgID == nil && !p.Staff() && p.Role != auth.RoleBuyer:
		return nil, 0, forbidden("only coordinators, bases and buyers read 菜篮子 base certificates")
	}
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "$?", "$"+itoa(len(args))))
	}
	if f.OrgID != nil {
		add("c.org_id = $?", *f.OrgID)
	}
	if f.Product != "" {
		add("$? = ANY (c.products)", f.Product)
	}
	if f.ExpiringWithin != nil {
		today := s.today()
		add("c.valid_until >= $?::date", today.String())
		add("c.valid_until <= $?::date", (today + Day(*f.ExpiringWithin)).String())
	}
	q := pg.Query{Cols: certCols, From: "base_certifications c", Joins: certJoins, Where: where, Args: args, Key: "c.valid_until, c.id"}
	var afterDay string
	var afterID int64
	return pg.List(ctx, s.db, q, f.Page, "certificates", func(r pgx.Row, total *int) (Certificate, error) { return s.scanCertificate(r, total) }, &afterDay, &afterID)
}

// runCertificates are the certificates of the bases with open offers, for a run's instance (Base is the org id,
// as the run names bases).
func runCertificates(ctx context.Context, tx pgx.Tx) ([]solve.BaseCertificate, error) {
	rows, err := tx.Query(ctx, `SELECT org_id, number, products, valid_from::text, valid_until::text FROM base_certifications
		WHERE org_id IN (SELECT org_id FROM offers WHERE status = 'open') ORDER BY org_id, number`)
	if err != nil {
		return nil, pg.Err(err, "certificates")
	}
	defer rows.Close()
	out := []solve.BaseCertificate{} // listed, even empty: certificates, not offers' claims, decide cailanzi-base
	for rows.Next() {
		var org int64
		var c solve.BaseCertificate
		var from *string
		var until string
		if err := rows.Scan(&org, &c.Number, &c.Products, &from, &until); err != nil {
			return nil, pg.Err(err, "certificates")
		}
		c.Base = key(org)
		if c.ValidUntil, err = solve.ParseDate(until); err != nil {
			return nil, err
		}
		if from != nil {
			if c.ValidFrom, err = solve.ParseDate(*from); err != nil {
				return nil, err
			}
		}
		out = append(out, c)
	}
	return out, pg.Err(rows.Err(), "certificates")
}
