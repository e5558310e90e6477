package solve

import (
	"encoding/json"
	"io"
	"time"
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
// deterministic; Stats are not part of it.
func EncodeResult(w io.Writer, r *Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r.wire())
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
