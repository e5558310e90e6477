package solve

import (
	"runtime"
	"strings"
	"sync"
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
