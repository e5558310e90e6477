package trace

import (
	"crypto/rand"
	"errors"
	"net/url"
	"strconv"
	"strings"
)

// A lot code is printed on the package and is the only key to the public page, so it must not be guessable
// from another lot's code: 12 characters drawn from crypto/rand over Crockford's base32 alphabet (no I, L, O,
// U, which people misread) carry 60 random bits. Upper case and digits also keep the QR code in its compact
// alphanumeric mode.
const (
	codeAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	// CodeLength is the length of generated codes.
	CodeLength = 12
)

// NewCode returns a fresh random lot code.
func NewCode() string {
	var b [CodeLength]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("trace: crypto/rand failed: " + err.Error()) // cannot happen on Linux (getrandom)
	}
	for i := range b {
		b[i] = codeAlphabet[b[i]&31]
	}
	return string(b[:])
}

// NormalizeCode returns the code as stored (upper case) and whether it can be a lot code at all: 8 to 32
// letters and digits. Lookups of anything else are answered "not found" without touching the database.
func NormalizeCode(s string) (string, bool) {
	if len(s) < 8 || len(s) > 32 {
		return "", false
	}
	s = strings.ToUpper(s)
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
			return "", false
		}
	}
	return s, true
}

// NormalizeGTIN checks a GTIN-8, -12, -13 or -14 (digits, GS1 check digit) and returns it as 14 digits, the
// form GS1 Digital Link uses.
func NormalizeGTIN(s string) (string, error) {
	switch len(s) {
	case 8, 12, 13, 14:
	default:
		return "", errors.New("must be a GTIN of 8, 12, 13 or 14 digits")
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return "", errors.New("must be digits only")
		}
	}
	s = strings.Repeat("0", 14-len(s)) + s
	sum := 0
	for i := 0; i < 13; i++ {
		d := int(s[i] - '0')
		if i%2 == 0 {
			d *= 3 // weights 3,1,3,… from the left of a 14-digit GTIN
		}
		sum += d
	}
	if check := (10 - sum%10) % 10; int(s[13]-'0') != check {
		return "", errors.New("has a wrong check digit")
	}
	return s, nil
}

// URIs builds the public addresses of lots on the platform's public base URL (SUILONG_PUBLIC_BASE_URL).
//
// A lot's page is {base}/t/{code}. A lot with a GTIN is identified by the GS1 Digital Link URI
// {base}/01/{gtin}/10/{code}, which the platform redirects to the page; the QR code carries whichever of the
// two identifies the lot, so that GS1 Digital Link scanners and ordinary phone cameras both work.
type URIs struct {
	Base string // e.g. https://suilong.example.cn, no trailing slash
}

// NewURIs returns URIs on base.
func NewURIs(base string) URIs { return URIs{Base: strings.TrimRight(base, "/")} }

// Page is the lot's public page.
func (u URIs) Page(code string) string { return u.Base + "/t/" + url.PathEscape(code) }

// Lot is the lot's identifier: the GS1 Digital Link URI when it has a GTIN, else its page.
func (u URIs) Lot(l *Lot) string {
	if l.GTIN != "" {
		return u.Base + "/01/" + l.GTIN + "/10/" + url.PathEscape(l.Code)
	}
	return u.Page(l.Code)
}

// QR is the lot's QR image.
func (u URIs) QR(code, ext string) string { return u.Page(code) + "/qr." + ext }

// Org identifies an organisation in EPCIS documents (no GLN is known for Longyan's bases).
func (u URIs) Org(id int64) string { return u.Base + "/id/org/" + strconv.FormatInt(id, 10) }

// Asset identifies a truck or cold store (EPCIS readPoint / bizLocation, sensor deviceID).
func (u URIs) Asset(id string) string { return u.Base + "/id/asset/" + url.PathEscape(id) }

// Place identifies a place named in free text (a market), for EPCIS bizLocation.
func (u URIs) Place(code string, eventID int64) string {
	return u.Base + "/id/lot/" + url.PathEscape(code) + "/place/" + strconv.FormatInt(eventID, 10)
}

// Vocab is the namespace of Suilong's EPCIS extension fields.
func (u URIs) Vocab() string { return u.Base + "/ns/epcis#" }
