package solve

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/suilong/suilong/internal/errs"
)

// Product is a kind of produce with its shelf life, counted from harvest.
type Product struct {
	Name           string `json:"name"`
	ShelfLifeHours int    `json:"shelf_life_hours"`
}

// Lane is a transport link from an origin county to a destination market. Hours are whole hours: the JSON
// form refuses fractions rather than round them.
type Lane struct {
	Origin       string `json:"origin"`
	Destination  string `json:"destination"`
	CostPerKg    Fen    `json:"cost_per_kg"`
	TransitHours int    `json:"transit_hours"`
}

// Offer is a base's lot for sale. Grade 1 is the best.
type Offer struct {
	ID                 string    `json:"id"`
	Base               string    `json:"base"`
	Product            string    `json:"product"`
	Grade              int       `json:"grade"`
	QuantityKg         int64     `json:"quantity_kg"`
	MinPricePerKg      Fen       `json:"min_price_per_kg"`
	Origin             string    `json:"origin"`
	HarvestedAt        time.Time `json:"harvested_at"`
	AvailableFrom      time.Time `json:"available_from"`
	Certifications     []string  `json:"certifications,omitempty"`
	PriorityBonusPerKg Fen       `json:"priority_bonus_per_kg,omitempty"`
	// Lot is the trace lot the offer sells and Inspection the result of its latest 农残检测 (see scheme.go).
	Lot        string `json:"lot,omitempty"`
	Inspection string `json:"inspection,omitempty"`
}

// Demand is a buyer's need. MinGrade is the worst grade the buyer accepts (an offer of grade ≤ MinGrade fits).
type Demand struct {
	ID                     string    `json:"id"`
	Buyer                  string    `json:"buyer"`
	Product                string    `json:"product"`
	MinGrade               int       `json:"min_grade"`
	QuantityKg             int64     `json:"quantity_kg"`
	MaxPricePerKg          Fen       `json:"max_price_per_kg"`
	Destination            string    `json:"destination"`
	DeliverBy              time.Time `json:"deliver_by"`
	RequiredCertifications []string  `json:"required_certifications,omitempty"`
	// RequireInspection: only offers whose lot passed its latest inspection (see scheme.go).
	RequireInspection bool `json:"require_inspection,omitempty"`
}

// Instance is everything one matching run works on.
type Instance struct {
	Products []Product `json:"products"`
	Lanes    []Lane    `json:"lanes"`
	Offers   []Offer   `json:"offers"`
	Demands  []Demand  `json:"demands"`
	// BaseCertificates, when present (even empty), decide a demand's cailanzi-base requirement (see scheme.go).
	BaseCertificates []BaseCertificate `json:"base_certificates,omitzero"`
}

// Limits that keep a run exact in int64 and its memory bounded. The objective is at most
// MaxTotalKg × 2·MaxMoney = 2·10^18 fen, below int64's 9.2·10^18.
const (
	MaxQuantityKg  int64 = 1_000_000_000  // one offer or demand: a million tonnes
	MaxTotalKg     int64 = 10_000_000_000 // all offers, and all demands, of one instance
	MaxHours             = 10 * 366 * 24  // shelf life and transit: ten years
	MaxGrade             = 1000
	MaxRecords           = 1_000_000 // per list
	MaxNameLen           = 200       // ids, names, places, certifications (bytes)
	MaxCertsPerRow       = 100
)

// Times must lie in [minTime, maxTime): far enough from the ends of int64 nanoseconds that the solver can
// compare them as integers.
var (
	minTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Validate checks every record and the references between them, and reports all problems at once: an
// *errs.Error with code errs.Unprocessable whose Fields are JSON paths such as "offers[3].quantity_kg".
func (in *Instance) Validate() error {
	v := newValidator(nil)
	v.instance(in)
	return v.err()
}

// validator collects field errors; skip holds the fields the decoder already reported, so that a value
// that failed to parse is not reported a second time as, say, zero. Field paths and record labels are
// values that become text only when an error is added: a valid instance of 100,000 records is checked
// without formatting a single path.
type validator struct {
	fe   errs.FieldErrors
	skip map[string]bool
}

func newValidator(skip map[string]bool) *validator { return &validator{skip: skip} }

// path is a field's JSON path, such as offers[3].quantity_kg or offers[3].certifications[1].
type path struct {
	list  string // products, lanes, offers, demands
	i     int    // the record's position; -1 for the whole list
	field string // "" for the record itself
	sub   int    // position in a list field; -1 for the whole field
}

func recordPath(list string, i int) path { return path{list: list, i: i, sub: -1} }

func (p path) dot(field string) path { p.field = field; return p }

func (p path) index(k int) path { p.sub = k; return p }

func (p path) String() string {
	if p.i < 0 {
		return p.list
	}
	s := p.list + "[" + strconv.Itoa(p.i) + "]"
	if p.field != "" {
		s += "." + p.field
	}
	if p.sub >= 0 {
		s += "[" + strconv.Itoa(p.sub) + "]"
	}
	return s
}

// label names a record in a message, " (offer o1)", so that an error is readable without counting array
// positions; empty without an id.
type label struct{ kind, id string }

func (l label) String() string { return whose(l.kind, l.id) }

func (v *validator) skipped(f path) bool {
	if v.skip == nil {
		return false
	}
	if v.skip[f.String()] {
		return true
	}
	return v.skip[recordPath(f.list, f.i).String()] // the whole record was reported (not an object)
}

func (v *validator) add(f path, format string, args ...any) {
	if v.skipped(f) {
		return
	}
	v.fe.Add(f.String(), format, args...)
}

func (v *validator) err() error {
	sortFieldErrors(v.fe)
	return v.fe.Err()
}

func (v *validator) instance(in *Instance) {
	for _, l := range []struct {
		name string
		n    int
	}{{"products", len(in.Products)}, {"lanes", len(in.Lanes)}, {"offers", len(in.Offers)}, {"demands", len(in.Demands)}} {
		if l.n > MaxRecords {
			v.add(recordPath(l.name, -1), "has %d records; at most %d are allowed in one instance", l.n, MaxRecords)
		}
	}
	products := make(map[string]int, len(in.Products))
	for i := range in.Products {
		p := &in.Products[i]
		r := recordPath("products", i)
		if v.name(r.dot("name"), p.Name, label{}) && !v.skipped(r.dot("name")) {
			if first, dup := products[p.Name]; dup {
				v.add(r.dot("name"), "duplicate product %q (also products[%d])", p.Name, first)
			} else {
				products[p.Name] = i
			}
		}
		if p.ShelfLifeHours <= 0 || p.ShelfLifeHours > MaxHours {
			v.add(r.dot("shelf_life_hours"), "must be between 1 and %d hours, got %d%s", MaxHours, p.ShelfLifeHours, label{"product", p.Name})
		}
	}
	type od struct{ o, d string }
	lanes := make(map[od]int, len(in.Lanes))
	for i := range in.Lanes {
		l := &in.Lanes[i]
		r := recordPath("lanes", i)
		okO := v.name(r.dot("origin"), l.Origin, label{})
		okD := v.name(r.dot("destination"), l.Destination, label{})
		if okO && okD {
			k := od{l.Origin, l.Destination}
			if first, dup := lanes[k]; dup {
				v.add(r.dot("destination"), "duplicate lane %s → %s (also lanes[%d])", l.Origin, l.Destination, first)
			} else {
				lanes[k] = i
			}
		}
		v.money(r.dot("cost_per_kg"), l.CostPerKg, label{})
		if l.TransitHours < 0 || l.TransitHours > MaxHours {
			v.add(r.dot("transit_hours"), "must be between 0 and %d hours, got %d (lane %s → %s)", MaxHours, l.TransitHours, l.Origin, l.Destination)
		}
	}
	// The offers and the demands are independent: a large instance checks them at once, each side into its
	// own list, joined in the order one pass would have found them.
	if len(in.Offers)+len(in.Demands) >= parallelValidateFrom {
		d := &validator{skip: v.skip}
		var wg sync.WaitGroup
		wg.Go(func() { d.demands(in, products) })
		v.offers(in, products)
		wg.Wait()
		v.fe = append(v.fe, d.fe...)
		v.certificates(in)
		return
	}
	v.offers(in, products)
	v.demands(in, products)
	v.certificates(in)
}

// parallelValidateFrom is the number of records from which the two sides are checked at once; a variable
// so that a test can compare with one pass.
var parallelValidateFrom = 4096

func (v *validator) offers(in *Instance, products map[string]int) {
	var total int64
	ids := make(map[string]int, len(in.Offers))
	for i := range in.Offers {
		o := &in.Offers[i]
		r := recordPath("offers", i)
		who := label{"offer", o.ID}
		v.id(r, o.ID, ids)
		v.name(r.dot("base"), o.Base, who)
		v.product(r.dot("product"), o.Product, products, who)
		v.grade(r.dot("grade"), o.Grade, who)
		total += v.kg(r.dot("quantity_kg"), o.QuantityKg, who)
		v.money(r.dot("min_price_per_kg"), o.MinPricePerKg, who)
		v.name(r.dot("origin"), o.Origin, who)
		okH := v.time(r.dot("harvested_at"), o.HarvestedAt, who)
		okA := v.time(r.dot("available_from"), o.AvailableFrom, who)
		if okH && okA && o.AvailableFrom.Before(o.HarvestedAt) {
			v.add(r.dot("available_from"), "is before harvested_at (%s < %s)%s", utc(o.AvailableFrom), utc(o.HarvestedAt), who)
		}
		v.certs(r.dot("certifications"), o.Certifications, who)
		v.money(r.dot("priority_bonus_per_kg"), o.PriorityBonusPerKg, who)
		v.offerScheme(r, o, who)
	}
	if total > MaxTotalKg {
		v.add(recordPath("offers", -1), "total quantity %d kg exceeds %d kg", total, MaxTotalKg)
	}
}

func (v *validator) demands(in *Instance, products map[string]int) {
	var total int64
	ids := make(map[string]int, len(in.Demands))
	for i := range in.Demands {
		d := &in.Demands[i]
		r := recordPath("demands", i)
		who := label{"demand", d.ID}
		v.id(r, d.ID, ids)
		v.name(r.dot("buyer"), d.Buyer, who)
		v.product(r.dot("product"), d.Product, products, who)
		v.grade(r.dot("min_grade"), d.MinGrade, who)
		total += v.kg(r.dot("quantity_kg"), d.QuantityKg, who)
		v.money(r.dot("max_price_per_kg"), d.MaxPricePerKg, who)
		v.name(r.dot("destination"), d.Destination, who)
		v.time(r.dot("deliver_by"), d.DeliverBy, who)
		v.certs(r.dot("required_certifications"), d.RequiredCertifications, who)
	}
	if total > MaxTotalKg {
		v.add(recordPath("demands", -1), "total quantity %d kg exceeds %d kg", total, MaxTotalKg)
	}
}

// whose names the record in a message, so that an error is readable without counting array positions.
func whose(kind, id string) string {
	if id == "" {
		return ""
	}
	return fmt.Sprintf(" (%s %s)", kind, id)
}

func (v *validator) name(field path, s string, who label) bool {
	switch {
	case s == "":
		v.add(field, "is required%s", who)
	case len(s) > MaxNameLen:
		v.add(field, "is longer than %d bytes%s", MaxNameLen, who)
	case !plainText(s):
		v.add(field, "must be valid text without control characters%s", who)
	default:
		return true
	}
	return false
}

// plainText reports whether s is valid UTF-8 without control characters; ASCII, the usual case, is one pass.
func plainText(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			return utf8.ValidString(s) && !strings.ContainsFunc(s, isControl)
		}
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func (v *validator) id(r path, id string, seen map[string]int) {
	if v.name(r.dot("id"), id, label{}) && !v.skipped(r.dot("id")) {
		if first, dup := seen[id]; dup {
			v.add(r.dot("id"), "duplicate id %q (also %s[%d])", id, r.list, first)
		} else {
			seen[id] = r.i
		}
	}
}

func (v *validator) product(field path, name string, products map[string]int, who label) {
	if !v.name(field, name, who) || v.skipped(field) {
		return
	}
	if _, ok := products[name]; !ok {
		known := make([]string, 0, len(products))
		for p := range products {
			known = append(known, p)
		}
		sort.Strings(known)
		if len(known) > 5 {
			known = append(known[:5], "…")
		}
		if len(known) == 0 {
			v.add(field, "unknown product %q: the instance lists no products%s", name, who)
			return
		}
		v.add(field, "unknown product %q (known: %s)%s", name, strings.Join(known, ", "), who)
	}
}

func (v *validator) grade(field path, g int, who label) {
	if g < 1 || g > MaxGrade {
		v.add(field, "must be a grade between 1 (best) and %d, got %d%s", MaxGrade, g, who)
	}
}

// kg returns q when it is valid, else 0, so that totals are only summed over valid quantities. Zero is
// valid (an offer sold out, a demand already met): such a record is listed unmatched as no_quantity.
func (v *validator) kg(field path, q int64, who label) int64 {
	if q < 0 || q > MaxQuantityKg {
		v.add(field, "must be between 0 and %d kg, got %d%s", MaxQuantityKg, q, who)
		return 0
	}
	return q
}

func (v *validator) money(field path, f Fen, who label) {
	if f < 0 || f > MaxMoney {
		v.add(field, "must be between 0.00 and %s CNY per kg, got %s%s", MaxMoney, f, who)
	}
}

func (v *validator) time(field path, t time.Time, who label) bool {
	switch {
	case t.IsZero():
		v.add(field, "is required (RFC 3339, e.g. 2026-11-20T06:00:00Z)%s", who)
	case t.Before(minTime) || !t.Before(maxTime):
		v.add(field, "must be between 2000 and 2199, got %s%s", utc(t), who)
	default:
		return true
	}
	return false
}

func (v *validator) certs(field path, cs []string, who label) {
	if len(cs) > MaxCertsPerRow {
		v.add(field, "lists %d certifications; at most %d are allowed%s", len(cs), MaxCertsPerRow, who)
		return
	}
	for i, c := range cs {
		v.name(field.index(i), c, who)
	}
}

func utc(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// sortFieldErrors orders errors as a reader meets them: by list (products, lanes, offers, demands), by
// position in the list, then by the field's place in the record as DESIGN.md writes it.
func sortFieldErrors(fe errs.FieldErrors) {
	sort.SliceStable(fe, func(a, b int) bool {
		ka, kb := pathKey(fe[a].Field), pathKey(fe[b].Field)
		for i := range ka {
			if ka[i] != kb[i] {
				return ka[i] < kb[i]
			}
		}
		return false
	})
}

var sectionRank = map[string]int{"products": 1, "lanes": 2, "offers": 3, "demands": 4, "base_certificates": 5}

// fieldRank is each field's place in its record, per list.
var fieldRank = func() map[string]map[string]int {
	lists := map[string][]string{
		"products": {"name", "shelf_life_hours"},
		"lanes":    {"origin", "destination", "cost_per_kg", "transit_hours"},
		"offers": {"id", "base", "product", "grade", "quantity_kg", "min_price_per_kg", "origin", "harvested_at",
			"available_from", "certifications", "priority_bonus_per_kg", "lot", "inspection"},
		"demands": {"id", "buyer", "product", "min_grade", "quantity_kg", "max_price_per_kg", "destination",
			"deliver_by", "required_certifications", "require_inspection"},
		"base_certificates": {"base", "number", "products", "valid_from", "valid_until"},
	}
	out := map[string]map[string]int{}
	for list, fields := range lists {
		out[list] = map[string]int{}
		for i, f := range fields {
			out[list][f] = i + 1
		}
	}
	return out
}()

// pathKey turns "offers[12].quantity_kg" into (list, position, field) ranks. A whole list's error (a
// total) sorts after its records; an unknown field after the known ones.
func pathKey(field string) [3]int {
	name, rest, hasIndex := strings.Cut(field, "[")
	if !hasIndex {
		name, _, _ = strings.Cut(name, ".")
		return [3]int{sectionRank[name], math.MaxInt, 0}
	}
	end := strings.IndexByte(rest, ']')
	if end < 0 {
		return [3]int{sectionRank[name], math.MaxInt, 0}
	}
	n, _ := strconv.Atoi(rest[:end])
	f := strings.TrimPrefix(rest[end+1:], ".")
	if i := strings.IndexAny(f, ".["); i >= 0 {
		f = f[:i]
	}
	r, ok := fieldRank[name][f]
	if !ok && f != "" {
		r = math.MaxInt
	}
	return [3]int{sectionRank[name], n, r}
}
