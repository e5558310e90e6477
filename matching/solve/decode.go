package solve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/suilong/suilong/internal/errs"
)

// DecodeInstance reads an instance in the batch JSON format of DESIGN.md and validates it. Decoding is
// strict: unknown fields, wrong types, money with more than two decimals, fractional kg or hours and
// malformed times are all errors. Every problem is reported at once, in one *errs.Error whose Fields name
// the record and field ("offers[3].quantity_kg"): errs.Invalid when the text is not JSON at all,
// errs.Unprocessable otherwise.
func DecodeInstance(r io.Reader) (*Instance, error) {
	text, err := readAll(r)
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "read instance")
	}
	// The usual file takes the fast path; one it does not take, or that turns out invalid, is read again
	// by the general decoder, which words every error.
	if in, ok := fastDecode(text); ok && in.Validate() == nil {
		return in, nil
	}
	return decodeGeneral([]byte(text))
}

// readAll reads r into one string, sized up front when r is a file.
func readAll(r io.Reader) (string, error) {
	var b strings.Builder
	if f, ok := r.(interface{ Stat() (fs.FileInfo, error) }); ok {
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			b.Grow(int(st.Size()) + 1) // +1: io.Copy's last read, at end of file, needs room to see it
		}
	}
	// Large reads (a file's WriteTo would copy it 32 KB at a time); the reader is wrapped so that io.Copy
	// uses the buffer rather than a WriteTo of r's own.
	if _, err := io.CopyBuffer(&b, struct{ io.Reader }{r}, make([]byte, 1<<20)); err != nil {
		return "", err
	}
	return b.String(), nil
}

// decodeGeneral is the decoder for any input: it reads the text with encoding/json and reports every
// problem it finds, each once.
func decodeGeneral(data []byte) (*Instance, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, syntaxError(data, err)
	}
	if top == nil {
		return nil, errs.E(errs.Invalid, "instance must be a JSON object with products, lanes, offers and demands")
	}
	d := &decoder{bad: map[string]bool{}}
	for _, k := range sortedKeys(top) {
		switch k {
		case "products", "lanes", "offers", "demands", "base_certificates":
		default:
			d.fail(k, "unknown field (an instance has products, lanes, offers and demands, and may have base_certificates)")
		}
	}
	in := &Instance{}
	for i, m := range d.list(top, "products") {
		r := d.record("products", i, m, productSpec)
		in.Products = append(in.Products, Product{
			Name:           r.str("name"),
			ShelfLifeHours: r.hours("shelf_life_hours"),
		})
	}
	for i, m := range d.list(top, "lanes") {
		r := d.record("lanes", i, m, laneSpec)
		in.Lanes = append(in.Lanes, Lane{
			Origin:       r.str("origin"),
			Destination:  r.str("destination"),
			CostPerKg:    r.fen("cost_per_kg"),
			TransitHours: r.hours("transit_hours"),
		})
	}
	for i, m := range d.list(top, "offers") {
		r := d.record("offers", i, m, offerSpec)
		in.Offers = append(in.Offers, Offer{
			ID:                 r.str("id"),
			Base:               r.str("base"),
			Product:            r.str("product"),
			Grade:              int(r.integer("grade", "a grade such as 1")),
			QuantityKg:         r.integer("quantity_kg", "a whole number of kg"),
			MinPricePerKg:      r.fen("min_price_per_kg"),
			Origin:             r.str("origin"),
			HarvestedAt:        r.time("harvested_at"),
			AvailableFrom:      r.time("available_from"),
			Certifications:     r.strs("certifications"),
			PriorityBonusPerKg: r.fen("priority_bonus_per_kg"),
			Lot:                r.str("lot"),
			Inspection:         r.str("inspection"),
		})
	}
	for i, m := range d.list(top, "demands") {
		r := d.record("demands", i, m, demandSpec)
		in.Demands = append(in.Demands, Demand{
			ID:                     r.str("id"),
			Buyer:                  r.str("buyer"),
			Product:                r.str("product"),
			MinGrade:               int(r.integer("min_grade", "a grade such as 2")),
			QuantityKg:             r.integer("quantity_kg", "a whole number of kg"),
			MaxPricePerKg:          r.fen("max_price_per_kg"),
			Destination:            r.str("destination"),
			DeliverBy:              r.time("deliver_by"),
			RequiredCertifications: r.strs("required_certifications"),
			RequireInspection:      r.boolean("require_inspection"),
		})
	}
	d.certificates(top, in)
	// The semantic checks skip what failed to decode, so that each bad field is reported once.
	v := newValidator(d.bad)
	v.instance(in)
	v.fe = append(d.fe, v.fe...)
	if err := v.err(); err != nil {
		return nil, err
	}
	return in, nil
}

func syntaxError(data []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		line, col := lineCol(data, se.Offset)
		return errs.Wrap(errs.Invalid, err, "instance is not valid JSON at line %d, column %d: %s", line, col, se.Error())
	case errors.As(err, &te):
		return errs.E(errs.Invalid, "instance must be a JSON object with products, lanes, offers and demands, not %s", te.Value)
	}
	return errs.Wrap(errs.Invalid, err, "instance is not valid JSON: %v", err)
}

func lineCol(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

type decoder struct {
	fe  errs.FieldErrors
	bad map[string]bool
}

func (d *decoder) fail(field, format string, args ...any) {
	d.bad[field] = true
	d.fe.Add(field, format, args...)
}

// list returns the objects of one top-level array; a missing or null list is empty.
func (d *decoder) list(top map[string]json.RawMessage, name string) []map[string]json.RawMessage {
	raw, ok := top[name]
	if !ok || isNull(raw) {
		return nil
	}
	// One pass when every item is an object (the usual case); item by item otherwise, to say which is not.
	var objects []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &objects); err == nil {
		if len(objects) > MaxRecords {
			d.fail(name, "has %d records; at most %d are allowed in one instance", len(objects), MaxRecords)
			return nil
		}
		for i, m := range objects {
			if m == nil { // a null item
				d.fail(fmt.Sprintf("%s[%d]", name, i), "must be an object")
			}
		}
		return objects
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		d.fail(name, "must be an array of objects")
		return nil
	}
	if len(items) > MaxRecords {
		d.fail(name, "has %d records; at most %d are allowed in one instance", len(items), MaxRecords)
		return nil
	}
	out := make([]map[string]json.RawMessage, len(items))
	for i, it := range items {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(it, &m); err != nil || m == nil {
			d.fail(fmt.Sprintf("%s[%d]", name, i), "must be an object")
			m = nil // an empty record in its place keeps the positions of the records after it
		}
		out[i] = m
	}
	return out
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// recordSpec lists a record's fields as DESIGN.md writes them; a leading "?" marks an optional one.
type recordSpec struct {
	required []string
	known    map[string]bool
	names    string // for the unknown-field message
}

func spec(fields ...string) *recordSpec {
	sp := &recordSpec{known: map[string]bool{}}
	var names []string
	for _, f := range fields {
		name, optional := strings.CutPrefix(f, "?")
		sp.known[name] = true
		names = append(names, name)
		if !optional {
			sp.required = append(sp.required, name)
		}
	}
	sp.names = strings.Join(names, ", ")
	return sp
}

var (
	productSpec = spec("name", "shelf_life_hours")
	laneSpec    = spec("origin", "destination", "cost_per_kg", "transit_hours")
	offerSpec   = spec("id", "base", "product", "grade", "quantity_kg", "min_price_per_kg", "origin", "harvested_at",
		"available_from", "?certifications", "?priority_bonus_per_kg", "?lot", "?inspection")
	demandSpec = spec("id", "buyer", "product", "min_grade", "quantity_kg", "max_price_per_kg", "destination",
		"deliver_by", "?required_certifications", "?require_inspection")
	certificateSpec = spec("base", "number", "products", "?valid_from", "valid_until")
)

// record reads one object's fields, reporting missing required and unknown ones.
type record struct {
	d    *decoder
	at   string
	m    map[string]json.RawMessage
	what string // " (offer o1)", for messages
}

func (d *decoder) record(list string, i int, m map[string]json.RawMessage, sp *recordSpec) *record {
	at := list + "[" + strconv.Itoa(i) + "]"
	if m == nil {
		return &record{d: d, at: at} // not an object: reported once as a whole
	}
	r := &record{d: d, at: at, m: m, what: recordLabel(at, m)}
	for _, name := range sp.required {
		if raw, ok := m[name]; !ok || isNull(raw) {
			d.fail(at+"."+name, "is required%s", r.what)
		}
	}
	if len(m) > len(sp.known) || !allKnown(m, sp) {
		for _, k := range sortedKeys(m) {
			if !sp.known[k] {
				d.fail(at+"."+k, "unknown field%s (known: %s)", r.what, sp.names)
			}
		}
	}
	return r
}

func allKnown(m map[string]json.RawMessage, sp *recordSpec) bool {
	for k := range m {
		if !sp.known[k] {
			return false
		}
	}
	return true
}

// recordLabel names an offer or demand by its id when it has a readable one.
func recordLabel(at string, m map[string]json.RawMessage) string {
	kind := ""
	switch {
	case strings.HasPrefix(at, "offers["):
		kind = "offer"
	case strings.HasPrefix(at, "demands["):
		kind = "demand"
	default:
		return ""
	}
	id, ok := plainString(m["id"])
	if !ok && json.Unmarshal(m["id"], &id) != nil {
		return ""
	}
	return whose(kind, id)
}

// raw returns the field's text, or nil when it is absent or null (reported already if it was required).
func (r *record) raw(name string) []byte {
	raw, ok := r.m[name]
	if !ok || isNull(raw) {
		return nil
	}
	return bytes.TrimSpace(raw)
}

func (r *record) str(name string) string {
	raw := r.raw(name)
	if raw == nil {
		return ""
	}
	if s, ok := plainString(raw); ok {
		return s
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		r.d.fail(r.at+"."+name, "must be a string, not %s%s", shorten(raw), r.what)
	}
	return s
}

// plainString reads a JSON string without escapes directly, which is what nearly every id and name is;
// anything else goes through encoding/json.
func plainString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	body := raw[1 : len(raw)-1]
	for _, c := range body {
		if c == '\\' || c == '"' || c < 0x20 || c >= 0x80 {
			return "", false
		}
	}
	return string(body), true
}

func (r *record) strs(name string) []string {
	raw := r.raw(name)
	if raw == nil {
		return nil
	}
	var s []string
	if err := json.Unmarshal(raw, &s); err != nil {
		r.d.fail(r.at+"."+name, "must be an array of strings, not %s%s", shorten(raw), r.what)
		return nil
	}
	return s
}

// integer reads a JSON number with no fraction and no exponent.
func (r *record) integer(name, example string) int64 {
	raw := r.raw(name)
	if raw == nil {
		return 0
	}
	s := string(raw)
	digits := strings.TrimPrefix(s, "-")
	if digits == "" || !allDigits(digits) {
		r.d.fail(r.at+"."+name, "must be %s, not %s%s", example, shorten(raw), r.what)
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		r.d.fail(r.at+"."+name, "is out of range: %s%s", shorten(raw), r.what)
		return 0
	}
	return n
}

// hours reads whole hours. Fractions are refused rather than rounded: the solver works in whole hours.
func (r *record) hours(name string) int {
	raw := r.raw(name)
	if raw == nil {
		return 0
	}
	s := string(raw)
	if _, err := strconv.ParseFloat(s, 64); err == nil && !allDigits(strings.TrimPrefix(s, "-")) && s[0] != '"' {
		r.d.fail(r.at+"."+name, "must be a whole number of hours; fractions such as %s are not supported%s", s, r.what)
		return 0
	}
	n := r.integer(name, "a whole number of hours")
	if n > MaxHours || n < -MaxHours {
		r.d.fail(r.at+"."+name, "must be at most %d hours, got %d%s", MaxHours, n, r.what)
		return 0
	}
	return int(n)
}

func (r *record) fen(name string) Fen {
	raw := r.raw(name)
	if raw == nil {
		return 0
	}
	f, err := ParseFen(string(raw))
	if err != nil {
		r.d.fail(r.at+"."+name, "%v%s", err, r.what)
		return 0
	}
	return f
}

func (r *record) time(name string) time.Time {
	raw := r.raw(name)
	if raw == nil {
		return time.Time{}
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		r.d.fail(r.at+"."+name, "must be an RFC 3339 time string such as 2026-11-20T06:00:00Z, not %s%s", shorten(raw), r.what)
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		r.d.fail(r.at+"."+name, "must be an RFC 3339 time such as 2026-11-20T06:00:00Z or 2026-11-20T14:00:00+08:00, not %q%s", s, r.what)
		return time.Time{}
	}
	return t
}

func shorten(raw []byte) string {
	if len(raw) > 40 {
		return string(raw[:37]) + "..."
	}
	return string(raw)
}

// certificates reads the optional base_certificates list: present (even empty) is not the same as absent,
// for it decides how cailanzi-base is judged.
func (d *decoder) certificates(top map[string]json.RawMessage, in *Instance) {
	raw, ok := top["base_certificates"]
	if !ok || isNull(raw) {
		return
	}
	list := d.list(top, "base_certificates")
	if d.bad["base_certificates"] {
		return
	}
	in.BaseCertificates = make([]BaseCertificate, 0, len(list))
	for i, m := range list {
		r := d.record("base_certificates", i, m, certificateSpec)
		in.BaseCertificates = append(in.BaseCertificates, BaseCertificate{
			Base:       r.str("base"),
			Number:     r.str("number"),
			Products:   r.strs("products"),
			ValidFrom:  r.date("valid_from"),
			ValidUntil: r.date("valid_until"),
		})
	}
}

func (r *record) boolean(name string) bool {
	raw := r.raw(name)
	if raw == nil {
		return false
	}
	switch string(raw) {
	case "true":
		return true
	case "false":
		return false
	}
	r.d.fail(r.at+"."+name, "must be true or false, not %s%s", shorten(raw), r.what)
	return false
}

func (r *record) date(name string) Date {
	raw := r.raw(name)
	if raw == nil {
		return 0
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		r.d.fail(r.at+"."+name, "must be a date string such as 2026-12-31, not %s%s", shorten(raw), r.what)
		return 0
	}
	v, err := ParseDate(s)
	if err != nil {
		r.d.fail(r.at+"."+name, "%v%s", err, r.what)
		return 0
	}
	return v
}
