// Package trace is traceability: a produce base's harvest lots, the custody events that move a lot through
// trucks and cold stores to the buyer (the EPCIS 2.0 model: what, when, where, why), the custody legs derived
// from them, the lot's cold-chain compliance computed from the readings of every leg (time in band,
// excursions, mean kinetic temperature, a plain verdict), and the EPCIS 2.0 JSON-LD document of it all.
//
// Data from other areas (product bands, assets, readings, orders) comes through the small interfaces declared
// in service.go, answered by the adapters in cmd/suilong/adapters.go.
package trace

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/suilong/suilong/internal/errs"
)

// Certification is a quality label a base holds for a lot.
type Certification string

// The certifications a lot may carry.
const (
	CertGreenFood Certification = "green-food"              // 绿色食品
	CertOrganic   Certification = "organic"                 // 有机产品
	CertGI        Certification = "geographical-indication" // 地理标志
	CertCailanzi  Certification = "cailanzi-base"           // 粤港澳大湾区“菜篮子”生产基地
)

// Certifications lists every certification in display order.
var Certifications = []Certification{CertGreenFood, CertOrganic, CertGI, CertCailanzi}

var certNames = map[Certification][2]string{
	CertGreenFood: {"绿色食品", "Green Food"},
	CertOrganic:   {"有机产品", "Organic"},
	CertGI:        {"地理标志产品", "Geographical Indication"},
	CertCailanzi:  {"大湾区“菜篮子”基地", "Greater Bay Area “Vegetable Basket” base"},
}

// Valid reports whether c is one of Certifications.
func (c Certification) Valid() bool { _, ok := certNames[c]; return ok }

// NameZH is the certification's Chinese name.
func (c Certification) NameZH() string { return certNames[c][0] }

// NameEN is the certification's English name.
func (c Certification) NameEN() string { return certNames[c][1] }

// Lot is one harvest lot of a produce base: what was picked, where and when, and what it is certified as. Its
// Code is public (printed on the package as a QR code); its ID is internal.
type Lot struct {
	ID             int64           `json:"id"`
	Code           string          `json:"code"`
	OrgID          int64           `json:"org_id"`
	OrgName        string          `json:"org_name"`
	Product        string          `json:"product"`    // matching's products.name, e.g. "choy-sum"
	ProductZH      string          `json:"product_zh"` // the product's Chinese name when the lot was registered
	Variety        string          `json:"variety"`
	Grade          int             `json:"grade"` // 1 best
	QuantityKg     int64           `json:"quantity_kg"`
	BaseName       string          `json:"base_name"`
	County         string          `json:"county"`
	HarvestedAt    time.Time       `json:"harvested_at"`
	Certifications []Certification `json:"certifications"`
	// CertificateNo is the number of the lot's 承诺达标合格证 (the producer's pledge that the produce meets the
	// standards), when it has one.
	CertificateNo string `json:"certificate_no"`
	// Certificate holds the other details of the 承诺达标合格证: what is pledged, on what basis, by whom, when.
	Certificate Certificate `json:"certificate"`
	// ShelfLifeHours is the product's shelf life when the lot was registered (0: none known); the lot's records
	// are kept for at least that plus six months (Retention).
	ShelfLifeHours int `json:"shelf_life_hours,omitempty"`
	// GTIN is the product's GS1 trade item number, when the base has one; the lot's URI is then a GS1 Digital
	// Link (/01/{gtin}/10/{code}).
	GTIN string `json:"gtin,omitempty"`
	// OrderID is the matching order this lot delivers; its buyer may follow the lot.
	OrderID    *int64 `json:"order_id,omitempty"`
	BuyerOrgID *int64 `json:"buyer_org_id,omitempty"`
	// Band is the product's temperature band when the lot was registered: the lot's compliance is judged
	// against it for the whole journey, whatever the product profile says later.
	Band Band `json:"band"`
	// Revision changes whenever something the lot's report shows changes (its events, its details, late
	// readings in its legs): a report kept in memory is good while the revision stays.
	Revision  int64     `json:"-"`
	CreatedAt time.Time `json:"created_at"`
}

// NewLot is what a base gives to register a lot.
type NewLot struct {
	Product        string          `json:"product"`
	Variety        string          `json:"variety"`
	Grade          int             `json:"grade"`
	QuantityKg     int64           `json:"quantity_kg"`
	BaseName       string          `json:"base_name"`
	County         string          `json:"county"`
	HarvestedAt    time.Time       `json:"harvested_at"`
	Certifications []Certification `json:"certifications"`
	CertificateNo  string          `json:"certificate_no"`
	// The 承诺达标合格证 details, all optional; given one, basis, issuer and date are required.
	CertificateCommitment string    `json:"certificate_commitment"`
	CertificateBasis      Basis     `json:"certificate_basis"`
	CertificateIssuer     string    `json:"certificate_issuer"`
	CertificateDate       *DateOnly `json:"certificate_date"`
	GTIN                  string    `json:"gtin"`
	OrderID               *int64    `json:"order_id"`
}

// Limits of a lot's fields.
const (
	MaxGrade      = 5
	MaxQuantityKg = 10_000_000
	// HarvestSkew is how far in the future a harvest time may lie (clocks differ).
	HarvestSkew = 10 * time.Minute
	// MaxLotAge is how long ago a harvest may be registered.
	MaxLotAge = 366 * 24 * time.Hour
)

var certNoRE = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z-]{0,63}$`)

// Validate checks the fields and normalises them (trimmed text, sorted certifications, a 14-digit GTIN).
// Errors: Unprocessable naming every field at fault.
func (n *NewLot) Validate(now time.Time) error {
	var fe errs.FieldErrors
	n.Product = strings.TrimSpace(n.Product)
	n.Variety = strings.TrimSpace(n.Variety)
	n.BaseName = strings.TrimSpace(n.BaseName)
	n.County = strings.TrimSpace(n.County)
	n.CertificateNo = strings.TrimSpace(n.CertificateNo)
	n.GTIN = strings.TrimSpace(n.GTIN)
	if n.Product == "" {
		fe.Add("product", "is required (a product name, e.g. choy-sum)")
	} else if len(n.Product) > 100 {
		fe.Add("product", "must be at most 100 characters")
	}
	text := func(field, v string, min, max int) {
		switch l := utf8.RuneCountInString(v); {
		case l < min:
			fe.Add(field, "is required")
		case l > max:
			fe.Add(field, "must be at most %d characters", max)
		case strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }):
			fe.Add(field, "must not contain control characters")
		}
	}
	text("variety", n.Variety, 0, 100)
	text("base_name", n.BaseName, 1, 200)
	text("county", n.County, 1, 100)
	if n.Grade == 0 {
		n.Grade = 1
	}
	if n.Grade < 1 || n.Grade > MaxGrade {
		fe.Add("grade", "must be between 1 (best) and %d", MaxGrade)
	}
	if n.QuantityKg <= 0 || n.QuantityKg > MaxQuantityKg {
		fe.Add("quantity_kg", "must be between 1 and %d", MaxQuantityKg)
	}
	switch {
	case n.HarvestedAt.IsZero():
		fe.Add("harvested_at", "is required (RFC 3339, e.g. 2026-11-20T06:00:00+08:00)")
	case n.HarvestedAt.After(now.Add(HarvestSkew)):
		fe.Add("harvested_at", "is in the future")
	case n.HarvestedAt.Before(now.Add(-MaxLotAge)):
		fe.Add("harvested_at", "is more than a year ago")
	}
	seen := map[Certification]bool{}
	for i, c := range n.Certifications {
		switch {
		case !c.Valid():
			fe.Add("certifications["+strconv.Itoa(i)+"]", "must be one of green-food, organic, geographical-indication, cailanzi-base")
		case seen[c]:
			fe.Add("certifications["+strconv.Itoa(i)+"]", "is listed twice")
		}
		seen[c] = true
	}
	n.Certifications = slices.DeleteFunc(slices.Clone(n.Certifications), func(c Certification) bool { return !c.Valid() })
	slices.SortFunc(n.Certifications, func(a, b Certification) int {
		return slices.Index(Certifications, a) - slices.Index(Certifications, b)
	})
	n.Certifications = slices.Compact(n.Certifications)
	if n.Certifications == nil {
		n.Certifications = []Certification{}
	}
	if n.CertificateNo != "" && !certNoRE.MatchString(n.CertificateNo) {
		fe.Add("certificate_no", "must be letters, digits and '-', at most 64")
	}
	n.validateCertificate(&fe, now)
	if n.GTIN != "" {
		g, err := NormalizeGTIN(n.GTIN)
		if err != nil {
			fe.Add("gtin", "%s", err.Error())
		}
		n.GTIN = g
	}
	if n.OrderID != nil && *n.OrderID <= 0 {
		fe.Add("order_id", "must be a positive order id")
	}
	return fe.Err()
}
