package solve

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
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
}

// Instance is everything one matching run works on.
type Instance struct {
	Products []Product `json:"products"`
	Lanes    []Lane    `json:"lanes"`
	Offers   []Offer   `json:"offers"`
	Demands  []Demand  `json:"demands"`
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
// that failed to parse is not reported a second time as, say, zero.
type validator struct {
	fe   errs.FieldErrors
	skip map[string]bool
}

func newValidator(skip map[string]bool) *validator { return &validator{skip: skip} }

func (v *validator) add(field, format string, args ...any) {
	if v.skip[field] {
		return
	}
	if i := strings.IndexByte(field, ']'); i >= 0 && v.skip[field[:i+1]] {
		return // the whole record was reported (not an object)
	}
	v.fe.Add(field, format, args...)
}

func (v *validator) err() error {
	sortFieldErrors(v.fe)
	return v.fe.Err()
}

func (v *validator) instance(in *Instance) {
	for name, n := range map[string]int{"products": len(in.Products), "lanes": len(in.Lanes), "offers": len(in.Offers), "demands": len(in.Demands)} {
		if n > MaxRecords {
			v.add(name, "has %d records; at most %d are allowed in one instance", n, MaxRecords)
		}
	}
	products := map[string]int{}
	for i := range in.Products {
		p := &in.Products[i]
		at := fmt.Sprintf("products[%d]", i)
		if v.name(at+".name", p.Name, "") && !v.skip[at+".name"] {
			if first, dup := products[p.Name]; dup {
				v.add(at+".name", "duplicate product %q (also products[%d])", p.Name, first)
			} else {
				products[p.Name] = i
			}
		}
		if p.ShelfLifeHours <= 0 || p.ShelfLifeHours > MaxHours {
			v.add(at+".shelf_life_hours", "must be between 1 and %d hours, got %d%s", MaxHours, p.ShelfLifeHours, whose("product", p.Name))
		}
	}
	type od struct{ o, d string }
	lanes := map[od]int{}
	for i := range in.Lanes {
		l := &in.Lanes[i]
		at := fmt.Sprintf("lanes[%d]", i)
		okO := v.name(at+".origin", l.Origin, "")
		okD := v.name(at+".destination", l.Destination, "")
		if okO && okD {
			k := od{l.Origin, l.Destination}
			if first, dup := lanes[k]; dup {
				v.add(at+".destination", "duplicate lane %s → %s (also lanes[%d])", l.Origin, l.Destination, first)
			} else {
				lanes[k] = i
			}
		}
		v.money(at+".cost_per_kg", l.CostPerKg, "")
		if l.TransitHours < 0 || l.TransitHours > MaxHours {
			v.add(at+".transit_hours", "must be between 0 and %d hours, got %d (lane %s → %s)", MaxHours, l.TransitHours, l.Origin, l.Destination)
		}
	}
	var total int64
	ids := map[string]int{}
	for i := range in.Offers {
		o := &in.Offers[i]
		at := fmt.Sprintf("offers[%d]", i)
		who := whose("offer", o.ID)
		v.id(at, o.ID, ids, "offers")
		v.name(at+".base", o.Base, who)
		v.product(at+".product", o.Product, products, who)
		v.grade(at+".grade", o.Grade, who)
		total += v.kg(at+".quantity_kg", o.QuantityKg, who)
		v.money(at+".min_price_per_kg", o.MinPricePerKg, who)
		v.name(at+".origin", o.Origin, who)
		okH := v.time(at+".harvested_at", o.HarvestedAt, who)
		okA := v.time(at+".available_from", o.AvailableFrom, who)
		if okH && okA && o.AvailableFrom.Before(o.HarvestedAt) {
			v.add(at+".available_from", "is before harvested_at (%s < %s)%s", utc(o.AvailableFrom), utc(o.HarvestedAt), who)
		}
		v.certs(at+".certifications", o.Certifications, who)
		v.money(at+".priority_bonus_per_kg", o.PriorityBonusPerKg, who)
	}
	if total > MaxTotalKg {
		v.add("offers", "total quantity %d kg exceeds %d kg", total, MaxTotalKg)
	}
	total = 0
	ids = map[string]int{}
	for i := range in.Demands {
		d := &in.Demands[i]
		at := fmt.Sprintf("demands[%d]", i)
		who := whose("demand", d.ID)
		v.id(at, d.ID, ids, "demands")
		v.name(at+".buyer", d.Buyer, who)
		v.product(at+".product", d.Product, products, who)
		v.grade(at+".min_grade", d.MinGrade, who)
		total += v.kg(at+".quantity_kg", d.QuantityKg, who)
		v.money(at+".max_price_per_kg", d.MaxPricePerKg, who)
		v.name(at+".destination", d.Destination, who)
		v.time(at+".deliver_by", d.DeliverBy, who)
		v.certs(at+".required_certifications", d.RequiredCertifications, who)
	}
	if total > MaxTotalKg {
		v.add("demands", "total quantity %d kg exceeds %d kg", total, MaxTotalKg)
	}
}

// whose names the record in a message, so that an error is readable without counting array positions.
func whose(kind, id string) string {
	if id == "" {
		return ""
	}
	return fmt.Sprintf(" (%s %s)", kind, id)
}

func (v *validator) name(field, s, who string) bool {
	switch {
	case s == "":
		v.add(field, "is required%s", who)
	case len(s) > MaxNameLen:
		v.add(field, "is longer than %d bytes%s", MaxNameLen, who)
	case !utf8.ValidString(s) || strings.ContainsFunc(s, isControl):
		v.add(field, "must be valid text without control characters%s", who)
	default:
		return true
	}
	return false
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func (v *validator) id(at, id string, seen map[string]int, list string) {
	if v.name(at+".id", id, "") && !v.skip[at+".id"] {
		if first, dup := seen[id]; dup {
			v.add(at+".id", "duplicate id %q (also %s[%d])", id, list, first)
		} else {
			seen[id] = indexOf(at)
		}
	}
}

// indexOf reads the position back out of a path such as "offers[12]".
func indexOf(at string) int {
	i := strings.IndexByte(at, '[')
	n, _ := strconv.Atoi(strings.TrimSuffix(at[i+1:], "]"))
	return n
}

func (v *validator) product(field, name string, products map[string]int, who string) {
	if !v.name(field, name, who) || v.skip[field] {
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

func (v *validator) grade(field string, g int, who string) {
	if g < 1 || g > MaxGrade {
		v.add(field, "must be a grade between 1 (best) and %d, got %d%s", MaxGrade, g, who)
	}
}

// kg returns q when it is valid, else 0, so that totals are only summed over valid quantities.
func (v *validator) kg(field string, q int64, who string) int64 {
	if q <= 0 || q > MaxQuantityKg {
		v.add(field, "must be between 1 and %d kg, got %d%s", MaxQuantityKg, q, who)
		return 0
	}
	return q
}

func (v *validator) money(field string, f Fen, who string) {
	if f < 0 || f > MaxMoney {
		v.add(field, "must be between 0.00 and %s CNY per kg, got %s%s", MaxMoney, f, who)
	}
}

func (v *validator) time(field string, t time.Time, who string) bool {
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

func (v *validator) certs(field string, cs []string, who string) {
	if len(cs) > MaxCertsPerRow {
		v.add(field, "lists %d certifications; at most %d are allowed%s", len(cs), MaxCertsPerRow, who)
		return
	}
	for i, c := range cs {
		v.name(fmt.Sprintf("%s[%d]", field, i), c, who)
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

var sectionRank = map[string]int{"products": 1, "lanes": 2, "offers": 3, "demands": 4}

// fieldRank is each field's place in its record, per list.
var fieldRank = func() map[string]map[string]int {
	lists := map[string][]string{
		"products": {"name", "shelf_life_hours"},
		"lanes":    {"origin", "destination", "cost_per_kg", "transit_hours"},
		"offers": {"id", "base", "product", "grade", "quantity_kg", "min_price_per_kg", "origin", "harvested_at",
			"available_from", "certifications", "priority_bonus_per_kg"},
		"demands": {"id", "buyer", "product", "min_grade", "quantity_kg", "max_price_per_kg", "destination",
			"deliver_by", "required_certifications"},
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
