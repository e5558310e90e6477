package solve

import (
	"runtime"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// fastDecode reads the usual instance in one pass over the text: well-formed JSON in the shape DESIGN.md
// writes, strings without escapes, times in UTC ("2026-11-20T06:00:00Z") or any RFC 3339 offset. It
// accepts a strict subset of what the general decoder (decodeGeneral) accepts and builds the same Instance
// from it; anything else, even a harmless escape in a string, makes it give up (ok false), and the general
// decoder, which is the one that words the errors, reads the text again. Strings are substrings of text,
// so the instance shares text's memory instead of copying every id and name.
//
// FuzzDecodeInstance checks the subset: whenever fastDecode accepts a text, the general decoder reads the
// same instance from it.
func fastDecode(text string) (in *Instance, ok bool) {
	if strings.IndexByte(text, '\\') >= 0 {
		return nil, false // a backslash is only valid in a string, as an escape, which this path does not read
	}
	if len(text) >= splitFrom && runtime.GOMAXPROCS(0) > 1 {
		if in, ok := fastDecodeSplit(text, len(text)/2); ok {
			return in, true
		}
	}
	p := newFastParser(text, 0, -1)
	in = &Instance{}
	if !p.byte('{') || !p.members(in, true) {
		return nil, false
	}
	return in, true
}

// splitFrom is the size from which a text is read in two halves at once.
const splitFrom = 1 << 20

// fastDecodeSplit reads text as two halves on two goroutines: the first from the start to the end of the
// first record that ends at or after near (the middle), the second from there to the end, each into its own Instance, which are then
// joined. The cut is found without parsing: with no backslash in the text every quote opens or closes a
// string, so the quotes before a position say whether it is inside one, and outside strings "}" "," "{"
// only occurs between two records of one list (records hold no objects). The second half is told which
// list it starts in by the first record's fields; the first half says which list it stopped in, and a
// disagreement (a text the one-pass read would refuse) gives up. ok false: read it in one pass. The text
// must have no backslash.
func fastDecodeSplit(text string, near int) (*Instance, bool) {
	cut := recordBoundary(text, near)
	if cut < 0 {
		return nil, false
	}
	list, ok := listOfRecord(text[cut:])
	if !ok {
		return nil, false
	}
	var a, b *Instance
	var pa, pb *fastParser
	var okA, okB bool
	var wg sync.WaitGroup
	wg.Go(func() {
		pb = newFastParser(text, cut, -1)
		b = &Instance{}
		okB = pb.continueList(b, list) && pb.members(b, false)
	})
	pa = newFastParser(text, 0, cut)
	a = &Instance{}
	okA = pa.byte('{') && !pa.members(a, true) && pa.stopped == list
	wg.Wait()
	if !okA || !okB || pa.seen&pb.seen&^list != 0 {
		return nil, false
	}
	a.Products = append(a.Products, b.Products...)
	a.Lanes = append(a.Lanes, b.Lanes...)
	a.Offers = append(a.Offers, b.Offers...)
	a.Demands = append(a.Demands, b.Demands...)
	if b.BaseCertificates != nil {
		a.BaseCertificates = append(nonNil(a.BaseCertificates), b.BaseCertificates...)
	}
	return a, true
}

// recordBoundary returns the position just after the "}" of a record that is followed by another record of
// the same list, at or after from; -1 if there is none.
func recordBoundary(text string, from int) int {
	in := strings.Count(text[:from], `"`)%2 == 1
	for i := from; i < len(text); i++ {
		switch c := text[i]; {
		case c == '"':
			in = !in
		case in || c != '}':
		default:
			k := skipSpace(text, i+1)
			if k < len(text) && text[k] == ',' {
				if k = skipSpace(text, k+1); k < len(text) && text[k] == '{' {
					return i + 1
				}
			}
		}
	}
	return -1
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// listOfRecord tells from the fields of the record after the comma at the start of rest which list it
// belongs to: a field only one kind of record has, written as a key (followed by a colon).
func listOfRecord(rest string) (uint8, bool) {
	// The record ends at its first "}" outside strings; a "}" inside one only cuts the search short. With no
	// quote inside a string, a quoted name followed by a colon is a key. A wrong answer is caught anyway: the
	// first half says which list it stopped in.
	end := strings.IndexByte(rest, '}')
	if end < 0 {
		return 0, false
	}
	rec := rest[:end]
	for _, k := range []struct {
		key  string
		list uint8
	}{{`"buyer"`, listDemands}, {`"valid_until"`, listCertificates}, {`"base"`, listOffers}, {`"cost_per_kg"`, listLanes}, {`"shelf_life_hours"`, listProducts}} {
		for at := 0; ; {
			i := strings.Index(rec[at:], k.key)
			if i < 0 {
				break
			}
			at += i + len(k.key)
			if j := skipSpace(rec, at); j < len(rec) && rec[j] == ':' {
				return k.list, true
			}
		}
	}
	return 0, false
}

// The top-level lists, as bits.
const (
	listProducts uint8 = 1 << iota
	listLanes
	listOffers
	listDemands
	listCertificates
)

// members reads the members of the top-level object up to its "}" and the end of the text. With a stop
// position, it returns false when a list reaches it, with stopped naming that list.
func (p *fastParser) members(in *Instance, first bool) bool {
	for ; ; first = false {
		if p.byte('}') {
			break
		}
		if !first && !p.byte(',') {
			return false
		}
		key, ok := p.str()
		if !ok || !p.byte(':') {
			return false
		}
		var bit uint8
		switch key {
		case "products":
			bit = listProducts
		case "lanes":
			bit = listLanes
		case "offers":
			bit = listOffers
		case "demands":
			bit = listDemands
		case "base_certificates":
			bit = listCertificates
		default:
			return false
		}
		if p.seen&bit != 0 {
			return false // a repeated key: the general decoder decides what that means
		}
		p.seen |= bit
		if p.null() {
			continue
		}
		if !p.byte('[') {
			return false
		}
		if bit == listCertificates {
			in.BaseCertificates = nonNil(in.BaseCertificates) // present, even empty, is not absent
		}
		if !p.list(in, bit, true) {
			return false
		}
	}
	p.ws()
	return p.i == len(p.s)
}

// continueList reads the rest of a list whose records before p's start were read by someone else.
func (p *fastParser) continueList(in *Instance, bit uint8) bool {
	p.seen |= bit
	if bit == listCertificates {
		in.BaseCertificates = nonNil(in.BaseCertificates)
	}
	return p.list(in, bit, false)
}

func (p *fastParser) list(in *Instance, bit uint8, first bool) bool {
	switch bit {
	case listProducts:
		return p.products(in, first)
	case listLanes:
		return p.lanes(in, first)
	case listOffers:
		return p.offers(in, first)
	case listCertificates:
		return p.certificates(in, first)
	}
	return p.demands(in, first)
}

type fastParser struct {
	s string
	i int
	// certs is one backing array for every record's certifications, handed out in capped slices.
	certs []string
	// stop, when not −1, is where this parser hands over: at the end of the record ending there it stops,
	// and stopped is the list it was in.
	stop    int
	stopped uint8
	seen    uint8 // the top-level lists met
	// left is about how many records are left to read (a count of "{"), to size the lists up front.
	left int
}

func newFastParser(text string, from, stop int) *fastParser {
	end := len(text)
	if stop >= 0 {
		end = stop
	}
	return &fastParser{s: text, i: from, stop: stop, left: strings.Count(text[from:end], "{")}
}

// grow makes room in a list for the records likely left, so that reading it does not copy it as it grows.
func grow[T any](list []T, p *fastParser) []T {
	if cap(list) == 0 && p.left > 0 {
		return make([]T, 0, p.left)
	}
	return list
}

func (p *fastParser) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// byte skips white space and then c, reporting whether c was there.
func (p *fastParser) byte(c byte) bool {
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *fastParser) null() bool {
	p.ws()
	if len(p.s)-p.i >= 4 && p.s[p.i:p.i+4] == "null" {
		p.i += 4
		return true
	}
	return false
}

// str reads a string without escapes or control characters, in valid UTF-8.
func (p *fastParser) str() (string, bool) {
	if !p.byte('"') {
		return "", false
	}
	start := p.i
	ascii := true
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			v := p.s[start:p.i]
			p.i++
			if !ascii && !utf8.ValidString(v) {
				return "", false
			}
			return v, true
		case c == '\\' || c < 0x20:
			return "", false
		case c >= 0x80:
			ascii = false
		}
		p.i++
	}
	return "", false
}

// number reads a JSON number's text.
func (p *fastParser) number() (string, bool) {
	p.ws()
	start := p.i
	if p.i < len(p.s) && p.s[p.i] == '-' {
		p.i++
	}
	switch {
	case p.i < len(p.s) && p.s[p.i] == '0':
		p.i++
	case p.i < len(p.s) && p.s[p.i] >= '1' && p.s[p.i] <= '9':
		p.digits()
	default:
		return "", false
	}
	if p.i < len(p.s) && p.s[p.i] == '.' {
		p.i++
		if p.digits() == 0 {
			return "", false
		}
	}
	if p.i < len(p.s) && (p.s[p.i] == 'e' || p.s[p.i] == 'E') {
		return "", false // the general decoder explains why exponents are refused
	}
	return p.s[start:p.i], true
}

func (p *fastParser) digits() int {
	start := p.i
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	return p.i - start
}

// integer reads a whole number small enough to be exact in int64.
func (p *fastParser) integer() (int64, bool) {
	t, ok := p.number()
	if !ok || len(t) > 18 {
		return 0, false
	}
	var n int64
	neg := t[0] == '-'
	if neg {
		t = t[1:]
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c < '0' || c > '9' {
			return 0, false // a fraction
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

func (p *fastParser) fen() (Fen, bool) {
	t, ok := p.number()
	if !ok {
		return 0, false
	}
	f, err := ParseFen(t)
	return f, err == nil
}

func (p *fastParser) time() (time.Time, bool) {
	s, ok := p.str()
	if !ok {
		return time.Time{}, false
	}
	if t, ok := utcTime(s); ok {
		return t, true
	}
	t, err := time.Parse(time.RFC3339, s)
	return t, err == nil
}

// utcTime reads the most common form, 2026-11-20T06:00:00Z, without time.Parse's generality; any other form
// (fractions, offsets, an impossible date) is left to time.Parse.
func utcTime(s string) (time.Time, bool) {
	if len(s) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z' {
		return time.Time{}, false
	}
	num := func(a, b int) int {
		n := 0
		for i := a; i < b; i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return -1
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	y, mo, d, h, mi, sec := num(0, 4), num(5, 7), num(8, 10), num(11, 13), num(14, 16), num(17, 19)
	if y < 0 || mo < 1 || mo > 12 || d < 1 || d > 28 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59 {
		return time.Time{}, false // days 29–31 go to time.Parse, which knows the length of each month
	}
	return time.Date(y, time.Month(mo), d, h, mi, sec, 0, time.UTC), true
}

func (p *fastParser) strs() ([]string, bool) {
	if !p.byte('[') {
		return nil, false
	}
	start := len(p.certs)
	for first := true; ; first = false {
		if p.byte(']') {
			break
		}
		if !first && !p.byte(',') {
			return nil, false
		}
		v, ok := p.str()
		if !ok {
			return nil, false
		}
		p.certs = append(p.certs, v)
	}
	if len(p.certs) == start {
		return []string{}, true // as encoding/json reads [], an empty list rather than none
	}
	return p.certs[start:len(p.certs):len(p.certs)], true
}

// records reads an array of objects, calling field for each member of each; it gives up unless every object
// has all the required fields (bits of want; a field's bit is returned by field) exactly once.
func (p *fastParser) records(list uint8, first bool, want uint16, start func(), field func(key string) (uint16, bool)) bool {
	for ; ; first = false {
		if p.byte(']') {
			return true
		}
		if !first && !p.byte(',') {
			return false
		}
		if !p.byte('{') {
			return false
		}
		start()
		var seen uint16
		for firstField := true; ; firstField = false {
			if p.byte('}') {
				break
			}
			if !firstField && !p.byte(',') {
				return false
			}
			key, ok := p.str()
			if !ok || !p.byte(':') {
				return false
			}
			bit, ok := field(key)
			if !ok || seen&bit != 0 {
				return false
			}
			seen |= bit
		}
		if seen&want != want {
			return false
		}
		p.left--
		if p.i == p.stop {
			p.stopped = list // handed over: the other half reads on from here
			return false
		}
	}
}

func (p *fastParser) products(in *Instance, first bool) bool {
	var r *Product
	return p.records(listProducts, first, 3, func() {
		in.Products = append(grow(in.Products, p), Product{})
		r = &in.Products[len(in.Products)-1]
	}, func(key string) (uint16, bool) {
		var ok bool
		switch key {
		case "name":
			r.Name, ok = p.str()
			return 1, ok
		case "shelf_life_hours":
			var n int64
			n, ok = p.integer()
			r.ShelfLifeHours = int(n)
			return 2, ok
		}
		return 0, false
	})
}

func (p *fastParser) lanes(in *Instance, first bool) bool {
	var r *Lane
	return p.records(listLanes, first, 15, func() {
		in.Lanes = append(grow(in.Lanes, p), Lane{})
		r = &in.Lanes[len(in.Lanes)-1]
	}, func(key string) (uint16, bool) {
		var ok bool
		switch key {
		case "origin":
			r.Origin, ok = p.str()
			return 1, ok
		case "destination":
			r.Destination, ok = p.str()
			return 2, ok
		case "cost_per_kg":
			r.CostPerKg, ok = p.fen()
			return 4, ok
		case "transit_hours":
			var n int64
			n, ok = p.integer()
			r.TransitHours = int(n)
			return 8, ok
		}
		return 0, false
	})
}

func (p *fastParser) offers(in *Instance, first bool) bool {
	var r *Offer
	return p.records(listOffers, first, 0x1ff, func() {
		in.Offers = append(grow(in.Offers, p), Offer{})
		r = &in.Offers[len(in.Offers)-1]
	}, func(key string) (uint16, bool) {
		var ok bool
		switch key {
		case "id":
			r.ID, ok = p.str()
			return 1 << 0, ok
		case "base":
			r.Base, ok = p.str()
			return 1 << 1, ok
		case "product":
			r.Product, ok = p.str()
			return 1 << 2, ok
		case "grade":
			var n int64
			n, ok = p.integer()
			r.Grade = int(n)
			return 1 << 3, ok
		case "quantity_kg":
			r.QuantityKg, ok = p.integer()
			return 1 << 4, ok
		case "min_price_per_kg":
			r.MinPricePerKg, ok = p.fen()
			return 1 << 5, ok
		case "origin":
			r.Origin, ok = p.str()
			return 1 << 6, ok
		case "harvested_at":
			r.HarvestedAt, ok = p.time()
			return 1 << 7, ok
		case "available_from":
			r.AvailableFrom, ok = p.time()
			return 1 << 8, ok
		case "certifications":
			if p.null() {
				return 1 << 9, true
			}
			r.Certifications, ok = p.strs()
			return 1 << 9, ok
		case "priority_bonus_per_kg":
			if p.null() {
				return 1 << 10, true
			}
			r.PriorityBonusPerKg, ok = p.fen()
			return 1 << 10, ok
		case "lot":
			if p.null() {
				return 1 << 11, true
			}
			r.Lot, ok = p.str()
			return 1 << 11, ok
		case "inspection":
			if p.null() {
				return 1 << 12, true
			}
			r.Inspection, ok = p.str()
			return 1 << 12, ok
		}
		return 0, false
	})
}

func (p *fastParser) demands(in *Instance, first bool) bool {
	var r *Demand
	return p.records(listDemands, first, 0xff, func() {
		in.Demands = append(grow(in.Demands, p), Demand{})
		r = &in.Demands[len(in.Demands)-1]
	}, func(key string) (uint16, bool) {
		var ok bool
		switch key {
		case "id":
			r.ID, ok = p.str()
			return 1 << 0, ok
		case "buyer":
			r.Buyer, ok = p.str()
			return 1 << 1, ok
		case "product":
			r.Product, ok = p.str()
			return 1 << 2, ok
		case "min_grade":
			var n int64
			n, ok = p.integer()
			r.MinGrade = int(n)
			return 1 << 3, ok
		case "quantity_kg":
			r.QuantityKg, ok = p.integer()
			return 1 << 4, ok
		case "max_price_per_kg":
			r.MaxPricePerKg, ok = p.fen()
			return 1 << 5, ok
		case "destination":
			r.Destination, ok = p.str()
			return 1 << 6, ok
		case "deliver_by":
			r.DeliverBy, ok = p.time()
			return 1 << 7, ok
		case "required_certifications":
			if p.null() {
				return 1 << 8, true
			}
			r.RequiredCertifications, ok = p.strs()
			return 1 << 8, ok
		case "require_inspection":
			if p.null() {
				return 1 << 9, true
			}
			r.RequireInspection, ok = p.boolean()
			return 1 << 9, ok
		}
		return 0, false
	})
}

func (p *fastParser) certificates(in *Instance, first bool) bool {
	var r *BaseCertificate
	return p.records(listCertificates, first, 0x17, func() {
		in.BaseCertificates = append(in.BaseCertificates, BaseCertificate{})
		r = &in.BaseCertificates[len(in.BaseCertificates)-1]
	}, func(key string) (uint16, bool) {
		var ok bool
		switch key {
		case "base":
			r.Base, ok = p.str()
			return 1 << 0, ok
		case "number":
			r.Number, ok = p.str()
			return 1 << 1, ok
		case "products":
			r.Products, ok = p.strs()
			return 1 << 2, ok
		case "valid_from":
			if p.null() {
				return 1 << 3, true
			}
			r.ValidFrom, ok = p.date()
			return 1 << 3, ok
		case "valid_until":
			r.ValidUntil, ok = p.date()
			return 1 << 4, ok
		}
		return 0, false
	})
}

func (p *fastParser) boolean() (bool, bool) {
	p.ws()
	switch {
	case strings.HasPrefix(p.s[p.i:], "true"):
		p.i += 4
		return true, true
	case strings.HasPrefix(p.s[p.i:], "false"):
		p.i += 5
		return false, true
	}
	return false, false
}

func (p *fastParser) date() (Date, bool) {
	s, ok := p.str()
	if !ok {
		return 0, false
	}
	d, err := ParseDate(s)
	return d, err == nil
}

// nonNil is list, or an empty list where it is nil.
func nonNil(list []BaseCertificate) []BaseCertificate {
	if list == nil {
		return []BaseCertificate{}
	}
	return list
}
