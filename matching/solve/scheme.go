package solve

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The 菜篮子 scheme's own rules, on top of DESIGN.md's pair rules. Both are optional parts of an instance, so
// that an instance without them decodes and solves as it always did:
//
//   - base certificates: when an instance lists base_certificates (even an empty list), a demand requiring the
//     certification CailanziBase is met only by an offer whose base holds a certificate covering the product
//     on the demand's delivery day (the China calendar day of its deliver_by); an offer's own claim of
//     cailanzi-base no longer counts. Without the list, cailanzi-base is an ordinary certification.
//   - inspections: an offer may name the lot it sells (lot) and the result of that lot's latest 农残检测
//     (inspection: pass or fail); a demand with require_inspection is met only by an offer whose lot passed.

// CailanziBase is the certification a demand requires to buy only from certified 菜篮子 bases.
const CailanziBase = "cailanzi-base"

// The results of a lot's inspection.
const (
	InspectionPass = "pass"
	InspectionFail = "fail"
)

// BaseCertificate is a 菜篮子 base certificate: the base it was issued to, the products it covers and the days
// it is valid, both ends included (ValidFrom 0: valid from issue, as far as the run is concerned).
type BaseCertificate struct {
	Base       string   `json:"base"`
	Number     string   `json:"number"`
	Products   []string `json:"products"`
	ValidFrom  Date     `json:"valid_from,omitzero"`
	ValidUntil Date     `json:"valid_until"`
}

// Date is a calendar day in China (UTC+8, no daylight saving time) as days since 1970-01-01; 0 is none. In
// JSON it is "2006-01-02".
type Date int32

// DateOf is the China calendar day of t.
func DateOf(t time.Time) Date {
	s := t.Unix() + beijingOffset
	d := s / 86400
	if s%86400 < 0 {
		d--
	}
	return Date(d)
}

// DayOf is the date of a calendar day given as year, month and day.
func DayOf(year int, month time.Month, day int) Date {
	return Date(time.Date(year, month, day, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// ParseDate reads 2006-01-02.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return 0, fmt.Errorf("must be a date such as 2026-12-31, not %q", s)
	}
	return Date(t.Unix() / 86400), nil
}

// Time is the day's midnight, UTC.
func (d Date) Time() time.Time { return time.Unix(int64(d)*86400, 0).UTC() }

func (d Date) String() string { return d.Time().Format(time.DateOnly) }

func (d Date) MarshalJSON() ([]byte, error) {
	return strconv.AppendQuote(nil, d.String()), nil
}

func (d *Date) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("must be a date string such as 2026-12-31")
	}
	v, err := ParseDate(s)
	*d = v
	return err
}

// Dates must lie in the years Validate allows for times.
var minDate, maxDate = DateOf(minTime), DateOf(maxTime) - 1

func (v *validator) date(field path, d Date, who label) bool {
	if d < minDate || d > maxDate {
		v.add(field, "must be a date between 2000-01-01 and 2199-12-31, got %s%s", d, who)
		return false
	}
	return true
}

func (v *validator) certificates(in *Instance) {
	if len(in.BaseCertificates) > MaxRecords {
		v.add(recordPath("base_certificates", -1), "has %d records; at most %d are allowed in one instance", len(in.BaseCertificates), MaxRecords)
	}
	for i := range in.BaseCertificates {
		c := &in.BaseCertificates[i]
		r := recordPath("base_certificates", i)
		who := label{"certificate", c.Number}
		v.name(r.dot("base"), c.Base, who)
		v.name(r.dot("number"), c.Number, label{})
		switch {
		case len(c.Products) == 0:
			v.add(r.dot("products"), "must list the products the certificate covers%s", who)
		case len(c.Products) > MaxCertsPerRow:
			v.add(r.dot("products"), "lists %d products; at most %d are allowed%s", len(c.Products), MaxCertsPerRow, who)
		default:
			for k, p := range c.Products {
				v.name(r.dot("products").index(k), p, who)
			}
		}
		okF := c.ValidFrom == 0 || v.date(r.dot("valid_from"), c.ValidFrom, who)
		if c.ValidUntil == 0 {
			v.add(r.dot("valid_until"), "is required (a date such as 2026-12-31)%s", who)
		} else if v.date(r.dot("valid_until"), c.ValidUntil, who) && okF && c.ValidFrom > c.ValidUntil {
			v.add(r.dot("valid_until"), "is before valid_from (%s < %s)%s", c.ValidUntil, c.ValidFrom, who)
		}
	}
}

// offerScheme checks an offer's lot and inspection.
func (v *validator) offerScheme(r path, o *Offer, who label) {
	if o.Lot != "" {
		v.name(r.dot("lot"), o.Lot, who)
	}
	switch o.Inspection {
	case "":
	case InspectionPass, InspectionFail:
		if o.Lot == "" {
			v.add(r.dot("inspection"), "is the result of the offer's lot: name the lot too%s", who)
		}
	default:
		v.add(r.dot("inspection"), "must be pass or fail, got %q%s", o.Inspection, who)
	}
}

// The inspection state of an offer's lot, prepared.
const (
	inspNone int8 = iota // no lot, or no inspection of it
	inspPass
	inspFail
)

func inspOf(o *Offer) int8 {
	switch o.Inspection {
	case InspectionPass:
		return inspPass
	case InspectionFail:
		return inspFail
	}
	return inspNone
}

// certSpan is one certificate's days of validity.
type certSpan struct {
	from, until Date
	c           *BaseCertificate
}

func (s certSpan) valid(day Date) bool { return s.from <= day && day <= s.until }

// certCover is what a base's certificates say about one product: all of them (to tell "none at all" from "not
// this product") and those covering the product.
type certCover struct {
	all, cover []certSpan
}

var noCertificate = &certCover{}

// check is the certificate rule a pair fails for a delivery day: none held, none covering the product, or the
// covering ones not valid that day (expired if one of them ended before it, else not yet valid).
func (c *certCover) check(day Date) ruleSet {
	switch {
	case len(c.all) == 0:
		return ruleNoCertificate
	case len(c.cover) == 0:
		return ruleCertificateProduct
	}
	expired := false
	for _, s := range c.cover {
		if s.valid(day) {
			return 0
		}
		expired = expired || s.until < day
	}
	if expired {
		return ruleCertificateExpired
	}
	return ruleCertificateNotYetValid
}

// nearest is the covering certificate nearest to day on the side rule says (the last to end before it, or the
// first to start after it), with the days between.
func (c *certCover) nearest(day Date, rule ruleSet) (certSpan, int64) {
	var best certSpan
	miss := int64(-1)
	for _, s := range c.cover {
		var m int64
		switch {
		case rule == ruleCertificateExpired && s.until < day:
			m = int64(day - s.until)
		case rule == ruleCertificateNotYetValid && s.from > day:
			m = int64(s.from - day)
		default:
			continue
		}
		if miss < 0 || m < miss {
			best, miss = s, m
		}
	}
	return best, max(miss, 0)
}

// covers prepares every base's certificates for the products of the instance, shared by the offers of one
// base and product.
type covers struct {
	byBase map[string][]certSpan
	cache  map[[2]string]*certCover
}

func newCovers(certs []BaseCertificate) *covers {
	cs := &covers{byBase: map[string][]certSpan{}, cache: map[[2]string]*certCover{}}
	for i := range certs {
		c := &certs[i]
		cs.byBase[c.Base] = append(cs.byBase[c.Base], certSpan{from: c.ValidFrom, until: c.ValidUntil, c: c})
	}
	// In a fixed order, so that the certificate a reason names does not depend on the input's order.
	for _, spans := range cs.byBase {
		slices.SortFunc(spans, func(a, b certSpan) int {
			return cmp.Or(strings.Compare(a.c.Number, b.c.Number), cmp.Compare(a.until, b.until), cmp.Compare(a.from, b.from))
		})
	}
	return cs
}

func (cs *covers) of(base, product string) *certCover {
	all := cs.byBase[base]
	if len(all) == 0 {
		return noCertificate
	}
	k := [2]string{base, product}
	if c, ok := cs.cache[k]; ok {
		return c
	}
	c := &certCover{all: all}
	for _, s := range all {
		if slices.Contains(s.c.Products, product) {
			c.cover = append(c.cover, s)
		}
	}
	cs.cache[k] = c
	return c
}

// schemeFails is the scheme's rules for offer o and a demand (or a class of demands) with these needs.
func (o *pOffer) schemeFails(needCert bool, day Date, inspect bool) ruleSet {
	var f ruleSet
	if needCert {
		f |= o.cover.check(day)
	}
	if inspect {
		switch o.insp {
		case inspNone:
			f |= ruleInspectionMissing
		case inspFail:
			f |= ruleInspectionFailed
		}
	}
	return f
}

// schemeMiss is how far a pair is from passing the scheme's rule r: days for a certificate's validity, else 0.
func schemeMiss(o *pOffer, d *pDemand, r ruleSet) int64 {
	if r == ruleCertificateExpired || r == ruleCertificateNotYetValid {
		_, m := o.cover.nearest(d.day, r)
		return m
	}
	return 0
}

// prepScheme sets the scheme's parts of a prepared demand; with certificates, cailanzi-base is left out of
// the certifications required (req) and judged by them instead.
func prepScheme(d *Demand, pd *pDemand, certified bool) {
	pd.inspect = d.RequireInspection
	if certified && slices.Contains(d.RequiredCertifications, CailanziBase) {
		pd.needCert = true
		pd.day = DateOf(d.DeliverBy)
	}
}

// appendScheme words one of the scheme's rules for this pair, in Chinese (zh) or English.
func (e example) appendScheme(b []byte, code string, zh bool) []byte {
	o, d := e.o, e.d
	day := DateOf(d.DeliverBy)
	switch code {
	case ReasonNoCertificate:
		if zh {
			return fmt.Appendf(b, "需求 %s 要求菜篮子基地，供应 %s 的基地 %s 没有菜篮子基地证书", d.ID, o.ID, o.Base)
		}
		return fmt.Appendf(b, "demand %s requires a cailanzi base, base %s of offer %s holds no cailanzi base certificate", d.ID, o.Base, o.ID)
	case ReasonCertificateProduct:
		if zh {
			return fmt.Appendf(b, "基地 %s 的菜篮子基地证书不含 %s（供应 %s，需求 %s）", o.Base, o.Product, o.ID, d.ID)
		}
		return fmt.Appendf(b, "the cailanzi base certificates of base %s do not cover %s (offer %s, demand %s)", o.Base, o.Product, o.ID, d.ID)
	case ReasonCertificateExpired:
		s, _ := e.cover.nearest(day, ruleCertificateExpired)
		if zh {
			return fmt.Appendf(b, "基地 %s 的菜篮子基地证书 %s 有效期至 %s，早于需求 %s 的交货日 %s（供应 %s）", o.Base, s.c.Number, s.until, d.ID, day, o.ID)
		}
		return fmt.Appendf(b, "cailanzi base certificate %s of base %s was valid until %s, before demand %s's delivery day %s (offer %s)", s.c.Number, o.Base, s.until, d.ID, day, o.ID)
	case ReasonCertificateNotYet:
		s, _ := e.cover.nearest(day, ruleCertificateNotYetValid)
		if zh {
			return fmt.Appendf(b, "基地 %s 的菜篮子基地证书 %s 自 %s 起生效，晚于需求 %s 的交货日 %s（供应 %s）", o.Base, s.c.Number, s.from, d.ID, day, o.ID)
		}
		return fmt.Appendf(b, "cailanzi base certificate %s of base %s is valid from %s, after demand %s's delivery day %s (offer %s)", s.c.Number, o.Base, s.from, d.ID, day, o.ID)
	case ReasonInspectionMissing:
		switch {
		case o.Lot == "" && zh:
			return fmt.Appendf(b, "需求 %s 要求农残检测合格，供应 %s 未注明批次", d.ID, o.ID)
		case o.Lot == "":
			return fmt.Appendf(b, "demand %s requires a passed residue inspection, offer %s names no lot", d.ID, o.ID)
		case zh:
			return fmt.Appendf(b, "需求 %s 要求农残检测合格，供应 %s 的批次 %s 没有检测记录", d.ID, o.ID, o.Lot)
		}
		return fmt.Appendf(b, "demand %s requires a passed residue inspection, lot %s of offer %s has none", d.ID, o.Lot, o.ID)
	case ReasonInspectionFailed:
		if zh {
			return fmt.Appendf(b, "供应 %s 的批次 %s 最近一次农残检测不合格，需求 %s 要求合格", o.ID, o.Lot, d.ID)
		}
		return fmt.Appendf(b, "the latest residue inspection of lot %s (offer %s) failed, demand %s requires a pass", o.Lot, o.ID, d.ID)
	}
	return append(b, code...)
}
