package matching

import (
	"cmp"
	"context"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/pg"
)

// ReportLine is one organisation's figures in a round (or the round's totals). Kilograms:
//   - offered / demanded: the quantities of its open offers and demands in the round, and what withdrawn ones
//     had sold (a withdrawn record's unsold rest was never on offer at the close);
//   - matched: what the round's runs proposed, a follow-up counting again what it proposed anew;
//   - proposed, ordered, declined, lapsed, withdrawn: those allocations by their state now;
//   - delivered: ordered kilograms whose order was received;
//   - unsold (bases) / unmet (buyers): offered or demanded less what is ordered or still proposed.
type ReportLine struct {
	OrgID       int64  `json:"org_id,omitempty"`
	OrgName     string `json:"org_name,omitempty"`
	OfferedKg   int64  `json:"offered_kg"`
	DemandedKg  int64  `json:"demanded_kg"`
	MatchedKg   int64  `json:"matched_kg"`
	ProposedKg  int64  `json:"proposed_kg"`
	OrderedKg   int64  `json:"ordered_kg"`
	DeliveredKg int64  `json:"delivered_kg"`
	DeclinedKg  int64  `json:"declined_kg"`
	LapsedKg    int64  `json:"lapsed_kg"`
	WithdrawnKg int64  `json:"withdrawn_kg"`
	UnsoldKg    int64  `json:"unsold_kg"`
	UnmetKg     int64  `json:"unmet_kg"`
	OrderedCNY  Fen    `json:"ordered_amount"` // price × kg of the ordered allocations
	// Surplus is the total surplus (max price − min price − lane cost + bonus, × kg) of the ordered allocations,
	// and SurplusMatched of every allocation the runs proposed. Staff only: it discloses the other side's price.
	Surplus        *Fen `json:"surplus,omitempty"`
	SurplusMatched *Fen `json:"surplus_matched,omitempty"`
}

// ReasonCount is how many records (and kg) of one side the round's latest run left unmatched for one first
// reason.
type ReasonCount struct {
	Side    string `json:"side"`
	Code    string `json:"code"`
	Records int    `json:"records"`
	Kg      int64  `json:"kg"`
}

// RoundReport is a round's figures. Staff see the round: totals, every base and buyer, every unmatched record.
// A base or buyer sees its own line only, and the totals and reasons of its own records: other organisations'
// volumes are theirs.
type RoundReport struct {
	Round     Round         `json:"round"`
	Scope     string        `json:"scope"` // round, or own (a base's or buyer's own records)
	Runs      int           `json:"runs"`
	Totals    ReportLine    `json:"totals"`
	Bases     []ReportLine  `json:"bases"`
	Buyers    []ReportLine  `json:"buyers"`
	Unmatched []ReasonCount `json:"unmatched_by_reason"`
}

type reportAlloc struct {
	offer, demand, base, buyer, kg int64
	status                         AllocStatus
	surplus, price                 Fen
	delivered                      bool
}

// RoundReport computes a round's report for p. Errors: Forbidden (gateways, carriers), NotFound.
func (s *Store) RoundReport(ctx context.Context, p auth.Principal, id int64) (RoundReport, error) {
	r, err := s.Round(ctx, p, id)
	if err != nil {
		return RoundReport{}, err
	}
	rep := RoundReport{Round: r, Scope: "round", Runs: len(r.RunIDs), Bases: []ReportLine{}, Buyers: []ReportLine{},
		Unmatched: []ReasonCount{}}
	if !p.Staff() {
		rep.Scope = "own"
	}
	mine := func(org int64) bool { return p.Staff() || org == p.OrgID }
	bases, buyers := map[int64]*ReportLine{}, map[int64]*ReportLine{}
	line := func(m map[int64]*ReportLine, org int64, name string) *ReportLine {
		if m[org] == nil {
			m[org] = &ReportLine{OrgID: org, OrgName: name}
		}
		return m[org]
	}
	type rec struct {
		org      int64
		name     string
		status   Status
		kg, sold int64
	}
	records := func(table string) ([]rec, error) {
		// table is offers or demands, never user input.
		return collect(ctx, s.db, table, func(row pgx.Row) (rec, error) {
			var x rec
			return x, row.Scan(&x.org, &x.name, &x.status, &x.kg, &x.sold)
		}, `SELECT t.org_id, coalesce(g.name, ''), t.status, t.quantity_kg,
			coalesce((SELECT sum(quantity_kg) FROM allocations a WHERE a.`+table[:len(table)-1]+`_id = t.id AND a.status = 'ordered'), 0)::bigint
			FROM `+table+` t LEFT JOIN orgs g ON g.id = t.org_id WHERE t.round_id = $1`, id)
	}
	offers, err := records("offers")
	if err != nil {
		return rep, err
	}
	demands, err := records("demands")
	if err != nil {
		return rep, err
	}
	offered := func(x rec) int64 {
		if x.status == StatusOpen {
			return x.kg
		}
		return x.sold
	}
	for _, x := range offers {
		if mine(x.org) {
			line(bases, x.org, x.name).OfferedKg += offered(x)
		}
	}
	for _, x := range demands {
		if mine(x.org) {
			line(buyers, x.org, x.name).DemandedKg += offered(x)
		}
	}
	allocs, err := collect(ctx, s.db, "allocations", func(row pgx.Row) (reportAlloc, error) {
		var a reportAlloc
		return a, row.Scan(&a.offer, &a.demand, &a.base, &a.buyer, &a.kg, &a.status, &a.surplus, &a.price, &a.delivered)
	}, `SELECT a.offer_id, a.demand_id, a.base_org_id, a.buyer_org_id, a.quantity_kg, a.status, a.surplus_per_kg_fen, a.price_per_kg_fen,
		coalesce(r.status = 'delivered', false)
		FROM allocations a JOIN matching_runs m ON m.id = a.run_id LEFT JOIN orders r ON r.allocation_id = a.id
		WHERE m.round_id = $1`, id)
	if err != nil {
		return rep, err
	}
	names, err := s.orgNames(ctx, allocs)
	if err != nil {
		return rep, err
	}
	for _, a := range allocs {
		var ls []*ReportLine
		if mine(a.base) {
			ls = append(ls, line(bases, a.base, names[a.base]))
		}
		if mine(a.buyer) {
			ls = append(ls, line(buyers, a.buyer, names[a.buyer]))
		}
		for _, l := range ls {
			l.add(a)
		}
	}
	for _, m := range []map[int64]*ReportLine{bases, buyers} {
		for _, l := range m {
			l.UnsoldKg = max(0, l.OfferedKg-l.OrderedKg-l.ProposedKg)
			l.UnmetKg = max(0, l.DemandedKg-l.OrderedKg-l.ProposedKg)
		}
	}
	rep.Bases, rep.Buyers = sorted(bases, func(l *ReportLine) { l.UnmetKg, l.DemandedKg = 0, 0 }),
		sorted(buyers, func(l *ReportLine) { l.UnsoldKg, l.OfferedKg = 0, 0 })
	// The totals count each allocation once (it is on a base's line and a buyer's line).
	for _, x := range offers {
		if mine(x.org) {
			rep.Totals.OfferedKg += offered(x)
		}
	}
	for _, x := range demands {
		if mine(x.org) {
			rep.Totals.DemandedKg += offered(x)
		}
	}
	for _, a := range allocs {
		if mine(a.base) || mine(a.buyer) {
			rep.Totals.add(a)
		}
	}
	rep.Totals.UnsoldKg = max(0, rep.Totals.OfferedKg-rep.Totals.OrderedKg-rep.Totals.ProposedKg)
	rep.Totals.UnmetKg = max(0, rep.Totals.DemandedKg-rep.Totals.OrderedKg-rep.Totals.ProposedKg)
	if rep.Unmatched, err = s.roundReasons(ctx, r, mine); err != nil {
		return rep, err
	}
	if !p.Staff() {
		rep.Totals.Surplus, rep.Totals.SurplusMatched = nil, nil
		for _, ls := range [][]ReportLine{rep.Bases, rep.Buyers} {
			for i := range ls {
				ls[i].Surplus, ls[i].SurplusMatched = nil, nil
			}
		}
	}
	return rep, nil
}

func (l *ReportLine) add(a reportAlloc) {
	if l.Surplus == nil {
		l.Surplus, l.SurplusMatched = new(Fen), new(Fen)
	}
	l.MatchedKg += a.kg
	*l.SurplusMatched += a.surplus * Fen(a.kg)
	switch a.status {
	case AllocProposed:
		l.ProposedKg += a.kg
	case AllocOrdered:
		l.OrderedKg += a.kg
		l.OrderedCNY += a.price * Fen(a.kg)
		*l.Surplus += a.surplus * Fen(a.kg)
		if a.delivered {
			l.DeliveredKg += a.kg
		}
	case AllocDeclined:
		l.DeclinedKg += a.kg
	case AllocLapsed:
		l.LapsedKg += a.kg
	case AllocWithdrawn:
		l.WithdrawnKg += a.kg
	}
}

// sorted returns the lines by organisation name, then id, after blanking the other side's columns with strip.
func sorted(m map[int64]*ReportLine, strip func(*ReportLine)) []ReportLine {
	out := make([]ReportLine, 0, len(m))
	for _, l := range m {
		strip(l)
		if l.Surplus == nil {
			l.Surplus, l.SurplusMatched = new(Fen), new(Fen)
		}
		out = append(out, *l)
	}
	slices.SortFunc(out, func(a, b ReportLine) int {
		return cmp.Or(cmp.Compare(a.OrgName, b.OrgName), cmp.Compare(a.OrgID, b.OrgID))
	})
	return out
}

// orgNames names the organisations of the allocations.
func (s *Store) orgNames(ctx context.Context, allocs []reportAlloc) (map[int64]string, error) {
	ids := []int64{}
	for _, a := range allocs {
		ids = append(ids, a.base, a.buyer)
	}
	names := map[int64]string{}
	if len(ids) == 0 {
		return names, nil
	}
	_, err := collect(ctx, s.db, "orgs", func(r pgx.Row) (int64, error) {
		var id int64
		var name string
		err := r.Scan(&id, &name)
		names[id] = name
		return id, err
	}, `SELECT id, name FROM orgs WHERE id = ANY($1)`, ids)
	return names, err
}

// roundReasons counts what the round's latest run left unmatched, by side and first reason code.
func (s *Store) roundReasons(ctx context.Context, r Round, mine func(int64) bool) ([]ReasonCount, error) {
	out := []ReasonCount{}
	if len(r.RunIDs) == 0 {
		return out, nil
	}
	run, err := scanRun(s.db.QueryRow(ctx, `SELECT `+runCols+` FROM matching_runs WHERE id = $1`, r.RunIDs[len(r.RunIDs)-1]), true)
	if err != nil {
		return nil, pg.Err(err, "run")
	}
	at := map[[2]string]int{}
	for _, u := range run.Unmatched {
		if !mine(u.OrgID) || len(u.ReasonCodes) == 0 {
			continue
		}
		k := [2]string{u.Side, u.ReasonCodes[0]}
		i, ok := at[k]
		if !ok {
			i = len(out)
			at[k] = i
			out = append(out, ReasonCount{Side: u.Side, Code: u.ReasonCodes[0]})
		}
		out[i].Records++
		out[i].Kg += u.QuantityKg
	}
	slices.SortFunc(out, func(a, b ReasonCount) int { return cmp.Or(cmp.Compare(a.Side, b.Side), cmp.Compare(a.Code, b.Code)) })
	return out, nil
}
