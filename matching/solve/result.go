package solve

import (
	"bytes"
	"encoding/json"
	"io"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// Reason is one rule that kept an offer or demand (or a pair) from being matched. Code is stable for
// programs (see the Reason* constants); Message is a sentence for people, Chinese first with English beside.
type Reason struct {
	Code    string
	Message string
	// Partners is how many candidate partners this reason applies to (0 for a single pair's reason).
	Partners int
}

// Reason codes: one per feasibility rule, plus the cases without candidates and "capacity".
const (
	ReasonProduct       = "product"       // a pair of different products (Feasible only)
	ReasonNoDemand      = "no_demand"     // no demand for the offer's product in the run
	ReasonNoOffer       = "no_offer"      // no offer of the demand's product in the run
	ReasonNoLane        = "no_lane"       // no lane from the offer's origin to the demand's destination
	ReasonShelfLife     = "shelf_life"    // arrival − harvest would exceed the product's shelf life
	ReasonLate          = "late"          // arrival would be after deliver-by
	ReasonGrade         = "grade"         // the offer's grade is worse than the demand accepts
	ReasonCertification = "certification" // the offer lacks a certification the demand requires
	ReasonPriceGap      = "price_gap"     // surplus per kg ≤ 0
	ReasonCapacity      = "capacity"      // feasible partners exist, but the optimum gave their kg to better pairs
	ReasonNoQuantity    = "no_quantity"   // the record has 0 kg (sold out, already met): nothing to match

	// The scheme's rules (scheme.go).
	ReasonNoCertificate      = "no_cailanzi_certificate"   // the demand requires a cailanzi base; the offer's base holds no certificate
	ReasonCertificateNotYet  = "certificate_not_yet_valid" // the base's certificate for the product starts after the delivery day
	ReasonCertificateExpired = "certificate_expired"       // the base's certificate for the product ended before the delivery day
	ReasonCertificateProduct = "certificate_product"       // the base's certificates do not cover the product
	ReasonInspectionMissing  = "inspection_missing"        // the demand requires a passed inspection; the offer names no lot, or its lot has none
	ReasonInspectionFailed   = "inspection_failed"         // the latest inspection of the offer's lot failed
)

// Allocation is kilograms of one offer assigned to one demand.
type Allocation struct {
	OfferID      string `json:"offer_id"`
	DemandID     string `json:"demand_id"`
	QuantityKg   int64  `json:"quantity_kg"`
	SurplusPerKg Fen    `json:"surplus_per_kg"`
	// The pair's terms, so that an order can be priced without looking the records up again.
	Product       string    `json:"product"`
	MinPricePerKg Fen       `json:"min_price_per_kg"`
	MaxPricePerKg Fen       `json:"max_price_per_kg"`
	LaneCostPerKg Fen       `json:"lane_cost_per_kg"`
	BonusPerKg    Fen       `json:"priority_bonus_per_kg"`
	Arrival       time.Time `json:"arrival"`
}

// Sides of an Unmatched record.
const (
	SideOffer  = "offer"
	SideDemand = "demand"
)

// Unmatched is an offer or demand left wholly or partly unmatched, with the kg left and why.
type Unmatched struct {
	ID         string
	Side       string // SideOffer or SideDemand
	QuantityKg int64  // left unmatched
	Reasons    []Reason
}

// Summary is a run's totals, for people and for metrics.
type Summary struct {
	Offers           int   `json:"offers"`
	Demands          int   `json:"demands"`
	OfferedKg        int64 `json:"offered_kg"`
	DemandedKg       int64 `json:"demanded_kg"`
	MatchedKg        int64 `json:"matched_kg"`
	Allocations      int   `json:"allocations"`
	UnmatchedOffers  int   `json:"unmatched_offers"`
	UnmatchedDemands int   `json:"unmatched_demands"`
	// UnmatchedByReason counts unmatched offers and demands by their first (most common) reason.
	UnmatchedByReason map[string]int `json:"unmatched_by_reason"`
}

// Stats describe the work a solve did; they vary with the machine, so EncodeResult leaves them out.
type Stats struct {
	Products int           // subproblems solved
	Nodes    int           // flow network nodes, over all products
	Arcs     int           // flow network arcs, over all products
	Pivots   int           // network simplex pivots, over all products
	Elapsed  time.Duration // wall time of Solve or Greedy
}

// Result is the outcome of a run. Allocations are sorted by offer id then demand id; Unmatched lists offers
// by id, then demands by id.
type Result struct {
	Objective   Fen
	Allocations []Allocation
	Unmatched   []Unmatched
	Summary     Summary
	Stats       Stats
}

type unmatchedJSON struct {
	ID          string   `json:"id"`
	Side        string   `json:"side"`
	QuantityKg  int64    `json:"quantity_kg"`
	Reasons     []string `json:"reasons"`
	ReasonCodes []string `json:"reason_codes"`
}

// MarshalJSON writes u as in DESIGN.md's result: reasons as sentences, with a parallel reason_codes list.
func (u Unmatched) MarshalJSON() ([]byte, error) {
	j := unmatchedJSON{ID: u.ID, Side: u.Side, QuantityKg: u.QuantityKg, Reasons: []string{}, ReasonCodes: []string{}}
	for _, why := range u.Reasons {
		j.Reasons = append(j.Reasons, why.Message)
		j.ReasonCodes = append(j.ReasonCodes, why.Code)
	}
	return json.Marshal(j)
}

type resultJSON struct {
	Objective   Fen          `json:"objective"`
	Allocations []Allocation `json:"allocations"`
	Unmatched   []Unmatched  `json:"unmatched"`
	Summary     Summary      `json:"summary"`
}

// MarshalJSON writes r in the batch result format (see EncodeResult), so that json.Marshal of a Result,
// for instance in an API response, gives the same document as `suilong match`.
func (r *Result) MarshalJSON() ([]byte, error) { return json.Marshal(r.wire()) }

func (r *Result) wire() resultJSON {
	out := resultJSON{Objective: r.Objective, Allocations: r.Allocations, Unmatched: r.Unmatched, Summary: r.Summary}
	if out.Allocations == nil {
		out.Allocations = []Allocation{}
	}
	if out.Unmatched == nil {
		out.Unmatched = []Unmatched{}
	}
	if out.Summary.UnmatchedByReason == nil {
		out.Summary.UnmatchedByReason = map[string]int{}
	}
	return out
}

// EncodeResult writes r in the batch result format of DESIGN.md: objective, allocations and unmatched (with
// reasons as sentences and a parallel reason_codes list), plus a summary. The output is indented and
// deterministic; Stats are not part of it. It is the document encoding/json writes for r (indented by two
// spaces, HTML left unescaped: TestEncodeResultIsEncodingJSON), written directly: a pool of 50,000 offers
// writes 70 MB, which encoding/json's reflection and indentation pass took seconds over.
func EncodeResult(w io.Writer, r *Result) error {
	e := &resultWriter{w: w, buf: make([]byte, 0, 1<<16)}
	e.raw("{\n  \"objective\": ")
	e.fen(r.Objective)
	e.raw(",\n  \"allocations\": ")
	if len(r.Allocations) == 0 {
		e.raw("[]")
	} else {
		e.raw("[")
		e.items(len(r.Allocations), func(c *resultWriter, i int) { c.allocation(&r.Allocations[i]) })
		e.raw("\n  ]")
	}
	e.raw(",\n  \"unmatched\": ")
	if len(r.Unmatched) == 0 {
		e.raw("[]")
	} else {
		e.raw("[")
		e.items(len(r.Unmatched), func(c *resultWriter, i int) { c.unmatched(&r.Unmatched[i]) })
		e.raw("\n  ]")
	}
	s := &r.Summary
	e.raw(",\n  \"summary\": {\n    \"offers\": ")
	e.int(int64(s.Offers))
	e.raw(",\n    \"demands\": ")
	e.int(int64(s.Demands))
	e.raw(",\n    \"offered_kg\": ")
	e.int(s.OfferedKg)
	e.raw(",\n    \"demanded_kg\": ")
	e.int(s.DemandedKg)
	e.raw(",\n    \"matched_kg\": ")
	e.int(s.MatchedKg)
	e.raw(",\n    \"allocations\": ")
	e.int(int64(s.Allocations))
	e.raw(",\n    \"unmatched_offers\": ")
	e.int(int64(s.UnmatchedOffers))
	e.raw(",\n    \"unmatched_demands\": ")
	e.int(int64(s.UnmatchedDemands))
	e.raw(",\n    \"unmatched_by_reason\": ")
	if len(s.UnmatchedByReason) == 0 {
		e.raw("{}")
	} else {
		codes := make([]string, 0, len(s.UnmatchedByReason))
		for c := range s.UnmatchedByReason {
			codes = append(codes, c)
		}
		slices.Sort(codes)
		e.raw("{")
		for i, c := range codes {
			if i > 0 {
				e.raw(",")
			}
			e.raw("\n      ")
			e.str(c)
			e.raw(": ")
			e.int(int64(s.UnmatchedByReason[c]))
		}
		e.raw("\n    }")
	}
	e.raw("\n  }\n}\n")
	return e.flush()
}

// resultWriter appends JSON text to a buffer and hands it to w in blocks of about 64 KB.
type resultWriter struct {
	w       io.Writer
	buf     []byte
	err     error
	batches [2][]resultWriter // the chunks' writers, kept for the next list
}

func (e *resultWriter) raw(s string) { e.buf = append(e.buf, s...) }

// items writes the n records of a list, comma-separated. A long list is encoded in chunks on up to
// GOMAXPROCS goroutines, a few chunks at a time so that memory stays bounded, and written in order: the
// bytes are those of one goroutine writing them all.
func (e *resultWriter) items(n int, item func(c *resultWriter, i int)) {
	const perChunk = 256 // about 256 KB of unmatched records, 85 KB of allocations
	workers := runtime.GOMAXPROCS(0)
	if workers == 1 || n <= perChunk {
		for i := range n {
			if i > 0 {
				e.raw(",")
			}
			item(e, i)
			e.maybeFlush()
		}
		return
	}
	chunks := (n + perChunk - 1) / perChunk
	if e.batches[0] == nil {
		for b := range e.batches {
			e.batches[b] = make([]resultWriter, 2*workers)
			for q := range e.batches[b] {
				e.batches[b][q].buf = make([]byte, 0, 1<<18)
			}
		}
	}
	// Two sets of chunk buffers: one is written out while the next is encoded into the other.
	var writing sync.WaitGroup
	if e.w != nil {
		_ = e.flush()
	}
	for first, b := 0, 0; first < chunks; b = 1 - b {
		batch := e.batches[b]
		k := min(len(batch), chunks-first)
		forEach(k, func(q int) {
			c := resultWriter{buf: batch[q].buf[:0]} // a local writer: the batch's slots share cache lines
			for i := (first + q) * perChunk; i < min((first+q+1)*perChunk, n); i++ {
				if i > 0 {
					c.raw(",")
				}
				item(&c, i)
			}
			batch[q].buf = c.buf
		})
		first += k
		writing.Wait()
		if e.w == nil {
			for q := range k {
				e.buf = append(e.buf, batch[q].buf...)
			}
			continue
		}
		writing.Go(func() {
			for q := range k {
				if e.err == nil {
					_, e.err = e.w.Write(batch[q].buf)
				}
			}
		})
	}
	writing.Wait()
}

func (e *resultWriter) int(n int64) { e.buf = strconv.AppendInt(e.buf, n, 10) }

func (e *resultWriter) fen(f Fen) { e.buf = f.append(e.buf) }

func (e *resultWriter) str(s string) { e.buf = appendJSONString(e.buf, s, false) }

// htmlStr is str for the unmatched records, whose text encoding/json has always written with <, > and &
// escaped (Unmatched.MarshalJSON calls json.Marshal), unlike the rest of the document.
func (e *resultWriter) htmlStr(s string) { e.buf = appendJSONString(e.buf, s, true) }

func (e *resultWriter) field(name string) {
	e.buf = append(e.buf, ",\n      \""...)
	e.buf = append(e.buf, name...)
	e.buf = append(e.buf, "\": "...)
}

func (e *resultWriter) allocation(a *Allocation) {
	e.raw("\n    {\n      \"offer_id\": ")
	e.str(a.OfferID)
	e.field("demand_id")
	e.str(a.DemandID)
	e.field("quantity_kg")
	e.int(a.QuantityKg)
	e.field("surplus_per_kg")
	e.fen(a.SurplusPerKg)
	e.field("product")
	e.str(a.Product)
	e.field("min_price_per_kg")
	e.fen(a.MinPricePerKg)
	e.field("max_price_per_kg")
	e.fen(a.MaxPricePerKg)
	e.field("lane_cost_per_kg")
	e.fen(a.LaneCostPerKg)
	e.field("priority_bonus_per_kg")
	e.fen(a.BonusPerKg)
	e.field("arrival")
	e.time(a.Arrival)
	e.raw("\n    }")
}

func (e *resultWriter) unmatched(u *Unmatched) {
	e.raw("\n    {\n      \"id\": ")
	e.htmlStr(u.ID)
	e.field("side")
	e.htmlStr(u.Side)
	e.field("quantity_kg")
	e.int(u.QuantityKg)
	e.field("reasons")
	e.list(u.Reasons, func(r *Reason) string { return r.Message })
	e.field("reason_codes")
	e.list(u.Reasons, func(r *Reason) string { return r.Code })
	e.raw("\n    }")
}

func (e *resultWriter) list(rs []Reason, text func(*Reason) string) {
	if len(rs) == 0 {
		e.raw("[]")
		return
	}
	e.raw("[")
	for i := range rs {
		if i > 0 {
			e.raw(",")
		}
		e.raw("\n        ")
		e.htmlStr(text(&rs[i]))
	}
	e.raw("\n      ]")
}

// time writes t as encoding/json does (RFC 3339 with the fraction it has; Validate keeps years in 2000–2199,
// where the two agree).
func (e *resultWriter) time(t time.Time) {
	e.buf = append(e.buf, '"')
	e.buf = t.AppendFormat(e.buf, time.RFC3339Nano)
	e.buf = append(e.buf, '"')
}

func (e *resultWriter) maybeFlush() {
	if e.w != nil && len(e.buf) >= 1<<16 {
		_ = e.flush()
	}
}

func (e *resultWriter) flush() error {
	if e.err == nil && len(e.buf) > 0 {
		_, e.err = e.w.Write(e.buf)
	}
	e.buf = e.buf[:0]
	return e.err
}

// appendJSONString appends s quoted as encoding/json quotes it, with <, > and & escaped when html is set.
// Text that needs no escape (every id and nearly every sentence, Chinese included) is copied; anything else
// is left to encoding/json itself.
func appendJSONString(dst []byte, s string, html bool) []byte {
	ascii := true
	for i := 0; i < len(s); i++ {
		switch jsonByte[s[i]] {
		case 0:
		case byteEscaped:
			return appendQuoted(dst, s, html)
		case byteHTML:
			if html {
				return appendQuoted(dst, s, html)
			}
		case byteE2:
			if i+2 < len(s) && s[i+1] == 0x80 && s[i+2]&^1 == 0xa8 { // U+2028, U+2029
				return appendQuoted(dst, s, html)
			}
			ascii = false
		default:
			ascii = false
		}
	}
	if !ascii && !utf8.ValidString(s) {
		return appendQuoted(dst, s, html)
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// jsonByte classifies bytes for appendJSONString: 0 is copied as it is.
var jsonByte = func() (t [256]uint8) {
	for c := range 256 {
		switch {
		case c < 0x20 || c == '"' || c == '\\':
			t[c] = byteEscaped
		case c == '<' || c == '>' || c == '&':
			t[c] = byteHTML
		case c == 0xe2:
			t[c] = byteE2
		case c >= 0x80:
			t[c] = byteNonASCII
		}
	}
	return t
}()

const (
	byteEscaped uint8 = 1 + iota
	byteHTML
	byteE2
	byteNonASCII
)

func appendQuoted(dst []byte, s string, html bool) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(html)
	_ = enc.Encode(s) // a string always encodes
	return append(dst, bytes.TrimSuffix(b.Bytes(), []byte("\n"))...)
}

// EncodeInstance writes in as instance JSON that DecodeInstance reads back unchanged.
func EncodeInstance(w io.Writer, in *Instance) error {
	out := *in
	if out.Products == nil {
		out.Products = []Product{}
	}
	if out.Lanes == nil {
		out.Lanes = []Lane{}
	}
	if out.Offers == nil {
		out.Offers = []Offer{}
	}
	if out.Demands == nil {
		out.Demands = []Demand{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}
