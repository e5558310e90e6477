package trace

import (
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/suilong/suilong/internal/errs"
)

// Basis is what a 承诺达标合格证 (the producer's pledge that the produce meets the standards) rests on: the four
// grounds the national form lets the producer tick.
type Basis string

// The bases of a pledge.
const (
	BasisSelfTest         Basis = "self_test"         // 自我检测合格
	BasisInspectionReport Basis = "inspection_report" // 委托检测合格 (a laboratory's report)
	BasisInternalControl  Basis = "internal_control"  // 内部质量控制合格
	BasisSelfPledge       Basis = "self_pledge"       // 自我承诺合格
)

var basisNames = map[Basis][2]string{
	BasisSelfTest:         {"自我检测合格", "Self-tested"},
	BasisInspectionReport: {"委托检测合格", "Inspection report of a laboratory"},
	BasisInternalControl:  {"内部质量控制合格", "Internal quality control"},
	BasisSelfPledge:       {"自我承诺合格", "Producer's own pledge"},
}

// Valid reports whether b is one of the bases.
func (b Basis) Valid() bool { _, ok := basisNames[b]; return ok }

// NameZH is the basis as the certificate prints it.
func (b Basis) NameZH() string { return basisNames[b][0] }

// NameEN is the basis in English.
func (b Basis) NameEN() string { return basisNames[b][1] }

// Certificate is the 承诺达标合格证 of a lot beyond its number: the commitment, its basis, who issued it and when.
type Certificate struct {
	Commitment string    `json:"commitment,omitempty"`
	Basis      Basis     `json:"basis,omitempty"`
	Issuer     string    `json:"issuer,omitempty"`
	Date       *DateOnly `json:"date,omitempty"`
}

// IsZero reports whether no detail is given.
func (c Certificate) IsZero() bool {
	return c.Commitment == "" && c.Basis == "" && c.Issuer == "" && c.Date == nil
}

// DateOnly is a calendar day (YYYY-MM-DD) in China Standard Time.
type DateOnly struct{ time.Time }

// MarshalJSON writes the day as "2006-01-02".
func (d DateOnly) MarshalJSON() ([]byte, error) { return json.Marshal(d.In(CST).Format(time.DateOnly)) }

// UnmarshalJSON reads "2006-01-02".
func (d *DateOnly) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errs.E(errs.Invalid, "must be a date such as 2026-11-20")
	}
	t, err := time.ParseInLocation(time.DateOnly, s, CST)
	if err != nil {
		return errs.E(errs.Invalid, "must be a date such as 2026-11-20, not %q", s)
	}
	d.Time = t
	return nil
}

// String is the day as YYYY-MM-DD.
func (d DateOnly) String() string { return d.In(CST).Format(time.DateOnly) }

func (n *NewLot) validateCertificate(fe *errs.FieldErrors, now time.Time) {
	n.CertificateCommitment = strings.TrimSpace(n.CertificateCommitment)
	n.CertificateIssuer = strings.TrimSpace(n.CertificateIssuer)
	c := n.Certificate()
	if c.IsZero() {
		return
	}
	ctl := func(v string) bool {
		return strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 && r != '\n' || r == 0x7f })
	}
	switch {
	case utf8.RuneCountInString(c.Commitment) > 500:
		fe.Add("certificate_commitment", "must be at most 500 characters")
	case ctl(c.Commitment):
		fe.Add("certificate_commitment", "must not contain control characters")
	}
	switch {
	case c.Basis == "":
		fe.Add("certificate_basis", "is required with the certificate's details: self_test, inspection_report, internal_control or self_pledge")
	case !c.Basis.Valid():
		fe.Add("certificate_basis", "must be one of self_test, inspection_report, internal_control, self_pledge")
	}
	switch l := utf8.RuneCountInString(c.Issuer); {
	case l == 0:
		fe.Add("certificate_issuer", "is required with the certificate's details (who signed it)")
	case l > 200:
		fe.Add("certificate_issuer", "must be at most 200 characters")
	case ctl(c.Issuer) || strings.Contains(c.Issuer, "\n"):
		fe.Add("certificate_issuer", "must not contain control characters")
	}
	switch {
	case c.Date == nil:
		fe.Add("certificate_date", "is required with the certificate's details (the day it was issued, e.g. 2026-11-20)")
	case c.Date.After(now.Add(HarvestSkew)):
		fe.Add("certificate_date", "is in the future")
	case c.Date.Before(now.Add(-MaxLotAge - 24*time.Hour)):
		fe.Add("certificate_date", "is more than a year ago")
	}
	if n.CertificateNo == "" {
		fe.Add("certificate_no", "is required with the certificate's details")
	}
}

// Certificate is the request's certificate details.
func (n NewLot) Certificate() Certificate {
	return Certificate{Commitment: n.CertificateCommitment, Basis: n.CertificateBasis, Issuer: n.CertificateIssuer, Date: n.CertificateDate}
}
