package solve

import (
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
	p := &fastParser{s: text}
	in = &Instance{}
	if !p.byte('{') {
		return nil, false
	}
	var seen uint8
	for first := true; ; first = false {
		if p.byte('}') {
			break
		}
		if !first && !p.byte(',') {
			return nil, false
		}
		key, ok := p.str()
		if !ok || !p.byte(':') {
			return nil, false
		}
		var bit uint8
		var list func() bool
		switch key {
		case "products":
			bit, list = 1, func() bool { return p.products(in) }
		case "lanes":
			bit, list = 2, func() bool { return p.lanes(in) }
		case "offers":
			bit, list = 4, func() bool { return p.offers(in) }
		case "demands":
			bit, list = 8, func() bool { return p.demands(in) }
		default:
			return nil, false
		}
		if seen&bit != 0 {
			return nil, false // a repeated key: the general decoder decides what that means
		}
		seen |= bit
		if p.null() {
			continue
		}
		if !list() {
			return nil, false
		}
	}
	p.ws()
	if p.i != len(p.s) {
		return nil, false
	}
	return in, true
}

type fastParser struct {
	s string
	i int
	// certs is one backing array for every record's certifications, handed out in capped slices.
	certs []string
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
func (p *fastParser) records(want uint16, start func(), field func(key string) (uint16, bool)) bool {
	if !p.byte('[') {
		return false
	}
	for first := true; ; first = false {
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
	}
}

func (p *fastParser) products(in *Instance) bool {
	var r *Product
	return p.records(3, func() {
		in.Products = append(in.Products, Product{})
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

func (p *fastParser) lanes(in *Instance) bool {
	var r *Lane
	return p.records(15, func() {
		in.Lanes = append(in.Lanes, Lane{})
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

func (p *fastParser) offers(in *Instance) bool {
	var r *Offer
	return p.records(0x1ff, func() {
		in.Offers = append(in.Offers, Offer{})
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
		}
		return 0, false
	})
}

func (p *fastParser) demands(in *Instance) bool {
	var r *Demand
	return p.records(0xff, func() {
		in.Demands = append(in.Demands, Demand{})
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
		}
		return 0, false
	})
}
