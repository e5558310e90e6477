package matching

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
	"github.com/suilong/suilong/matching/solve"
)

// PriceRule decides the price per kg an allocation proposes, from the pair's reservation prices and the lane's
// cost. The price is what the buyer pays delivered at its market.
type PriceRule string

// The price rules. With gap = max_price − min_price − lane cost:
//   - midpoint (the default) splits the gap evenly: min_price + cost + ⌊gap/2⌋ (the half fen, if any, to the
//     buyer);
//   - offer_price gives the buyer the whole gap: min_price + cost;
//   - demand_price gives the base the whole gap: max_price.
//
// When only the priority bonus makes a pair worth matching (gap < 0), every rule charges max_price, and the
// bonus makes up the base's shortfall.
const (
	PriceMidpoint PriceRule = "midpoint"
	PriceOffer    PriceRule = "offer_price"
	PriceDemand   PriceRule = "demand_price"
)

// Valid reports whether r is a known rule.
func (r PriceRule) Valid() bool { return r == PriceMidpoint || r == PriceOffer || r == PriceDemand }

// Price is the price per kg the rule gives a pair.
func (r PriceRule) Price(minPrice, maxPrice, laneCost Fen) Fen {
	gap := maxPrice - minPrice - laneCost
	if gap < 0 {
		return maxPrice
	}
	switch r {
	case PriceOffer:
		return minPrice + laneCost
	case PriceDemand:
		return maxPrice
	}
	return minPrice + laneCost + gap/2
}

// RunOptions are a run's parameters.
type RunOptions struct {
	PriceRule PriceRule `json:"price_rule"`
}

// Run is one matching run over the open pool: what it saw, what it allocated and why the rest is left.
type Run struct {
	ID            int64        `json:"id"`
	StartedBy     int64        `json:"started_by"`
	StartedByName string       `json:"started_by_name"`
	PriceRule     PriceRule    `json:"price_rule"`
	StartedAt     time.Time    `json:"started_at"`
	FinishedAt    time.Time    `json:"finished_at"`
	Offers        int          `json:"offers"`
	Demands       int          `json:"demands"`
	Objective     Fen          `json:"objective"`        // total surplus of the allocations, CNY
	Greedy        Fen          `json:"greedy_objective"` // what best-pair-first would have reached, for comparison
	MatchedKg     int64        `json:"matched_kg"`
	SolveMS       float64      `json:"solve_ms"`
	Summary       RunSummary   `json:"summary"`
	Unmatched     []Unmatched  `json:"unmatched,omitempty"`
	Allocations   []Allocation `json:"allocations,omitempty"`
	RoundID       *int64       `json:"round_id,omitempty"`  // the trading round whose pool it matched
	AnswerBy      *time.Time   `json:"answer_by,omitempty"` // when its allocations still proposed lapse
}

// RunSummary counts what a run left, by reason code.
type RunSummary struct {
	Allocations      int            `json:"allocations"`
	UnmatchedOffers  int            `json:"unmatched_offers"`
	UnmatchedDemands int            `json:"unmatched_demands"`
	ByReason         map[string]int `json:"unmatched_by_reason"` // first reason code → offers and demands
}

// Unmatched is an offer or demand a run left wholly or partly unmatched, and the rules that stopped it.
type Unmatched struct {
	Side        string   `json:"side"` // offer or demand
	ID          int64    `json:"id"`
	OrgID       int64    `json:"org_id"`
	QuantityKg  int64    `json:"quantity_kg"` // left unmatched
	Reasons     []string `json:"reasons"`
	ReasonCodes []string `json:"reason_codes"`
}

// pool is the open offers and demands a run reads, locked until it commits.
type pool struct {
	offers  map[string]Offer
	demands map[string]Demand
	lanes   map[[2]string]Lane
	in      solve.Instance
	// skipped are records left out because the pool reached the solver's limits (oldest records go first).
	skipped []Unmatched
}

// admit reports whether one more record of kg fits within the solver's limits on one side of the pool.
func admit(total *int64, count int, kg int64) bool {
	if count >= solve.MaxRecords || *total+kg > solve.MaxTotalKg {
		return false
	}
	*total += kg
	return true
}

func poolFull(side string, id, org, kg int64) Unmatched {
	return Unmatched{Side: side, ID: id, OrgID: org, QuantityKg: kg, ReasonCodes: []string{"pool_limit"},
		Reasons: []string{fmt.Sprintf("本次撮合池已满（上限 %d 条、%d 公斤），较早发布的记录优先 / the run's pool is full "+
			"(at most %d records and %d kg a side; older records go first); it stays open for the next run",
			solve.MaxRecords, solve.MaxTotalKg, solve.MaxRecords, solve.MaxTotalKg)}}
}

func deliveryPassed(d Demand) Unmatched {
	return Unmatched{Side: "demand", ID: d.ID, OrgID: d.OrgID, QuantityKg: d.AvailableKg, ReasonCodes: []string{ReasonDeliveryPassed},
		Reasons: []string{fmt.Sprintf("交货期限 %s 已过，本次补充撮合不再匹配 / its deliver-by (%s) had passed when this follow-up run started",
			d.DeliverBy.In(chinaTime).Format("2006-01-02 15:04"), d.DeliverBy.In(chinaTime).Format("2006-01-02 15:04 MST"))}}
}

func key(id int64) string { return strconv.FormatInt(id, 10) }

// readPool reads the pool inside the run's transaction. The offers and demands are locked (FOR UPDATE), so a
// base or buyer changing or withdrawing one during the run waits until the run has committed, and then its
// change withdraws the allocations the run just proposed for it: nothing is matched on terms that no longer hold.
func readPool(ctx context.Context, tx pgx.Tx, sc poolScope) (*pool, error) {
	pl := &pool{offers: map[string]Offer{}, demands: map[string]Demand{}, lanes: map[[2]string]Lane{}}
	products, err := collect(ctx, tx, "products", scanProduct, `SELECT `+productCols+` FROM products ORDER BY name`)
	if err != nil {
		return nil, err
	}
	for _, p := range products {
		pl.in.Products = append(pl.in.Products, solve.Product{Name: p.Name, ShelfLifeHours: p.ShelfLifeHours})
	}
	lanes, err := collect(ctx, tx, "lanes", func(r pgx.Row) (Lane, error) { return scanLane(r) }, `SELECT `+laneCols+` FROM lanes ORDER BY origin, destination`)
	if err != nil {
		return nil, err
	}
	for _, l := range lanes {
		pl.lanes[[2]string{l.Origin, l.Destination}] = l
		pl.in.Lanes = append(pl.in.Lanes, solveLane(l))
	}
	// Lock, then read afresh (see getOffer): offers first, then demands, the order everyone locks in.
	inPool, roundArg := sc.where()
	if _, err := tx.Exec(ctx, `SELECT 1 FROM offers o WHERE o.status = 'open' AND `+inPool("o")+` ORDER BY id FOR UPDATE`, roundArg...); err != nil {
		return nil, pg.Err(err, "offers")
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM demands d WHERE d.status = 'open' AND `+inPool("d")+` ORDER BY id FOR UPDATE`, roundArg...); err != nil {
		return nil, pg.Err(err, "demands")
	}
	offers, err := collect(ctx, tx, "offers", func(r pgx.Row) (Offer, error) { return scanOffer(r) },
		`SELECT `+offerCols+offerFrom+` WHERE o.status = 'open' AND `+inPool("o")+` ORDER BY o.id`, roundArg...)
	if err != nil {
		return nil, err
	}
	var total int64
	for _, o := range offers {
		if o.AvailableKg <= 0 {
			continue
		}
		if !admit(&total, len(pl.in.Offers), o.AvailableKg) {
			pl.skipped = append(pl.skipped, poolFull("offer", o.ID, o.OrgID, o.AvailableKg))
			continue
		}
		k := key(o.ID)
		pl.offers[k] = o
		pl.in.Offers = append(pl.in.Offers, solve.Offer{ID: k, Base: key(o.OrgID), Product: o.Product, Grade: o.Grade,
			QuantityKg: o.AvailableKg, MinPricePerKg: o.MinPricePerKg, Origin: o.Origin, HarvestedAt: o.HarvestedAt,
			AvailableFrom: o.AvailableFrom, Certifications: o.Certifications, PriorityBonusPerKg: o.PriorityBonusPerKg})
	}
	demands, err := collect(ctx, tx, "demands", func(r pgx.Row) (Demand, error) { return scanDemand(r) },
		`SELECT `+demandCols+demandFrom+` WHERE d.status = 'open' AND `+inPool("d")+` ORDER BY d.id`, roundArg...)
	if err != nil {
		return nil, err
	}
	total = 0
	for _, d := range demands {
		if d.AvailableKg <= 0 {
			continue
		}
		if sc.dueAfter != nil && !d.DeliverBy.After(*sc.dueAfter) {
			pl.skipped = append(pl.skipped, deliveryPassed(d))
			continue
		}
		if !admit(&total, len(pl.in.Demands), d.AvailableKg) {
			pl.skipped = append(pl.skipped, poolFull("demand", d.ID, d.OrgID, d.AvailableKg))
			continue
		}
		k := key(d.ID)
		pl.demands[k] = d
		pl.in.Demands = append(pl.in.Demands, solve.Demand{ID: k, Buyer: key(d.OrgID), Product: d.Product, MinGrade: d.MinGrade,
			QuantityKg: d.AvailableKg, MaxPricePerKg: d.MaxPricePerKg, Destination: d.Destination, DeliverBy: d.DeliverBy,
			RequiredCertifications: d.RequiredCertifications})
	}
	return pl, nil
}

// StartRun matches the open pool: every open offer's and demand's available kilograms, at the optimum of total
// surplus, and stores the run with its allocations (proposed to both sides) and the reasons for what is left.
// Offers and demands posted into a trading round are not in the open pool: their round's runs match them.
// Runs are serialised across processes by a PostgreSQL advisory lock: a second run waits for the first and then
// sees its allocations as held. Errors: Forbidden (staff only), Unprocessable (bad options).
func (s *Store) StartRun(ctx context.Context, p auth.Principal, opt RunOptions) (Run, error) {
	return s.startRun(ctx, p, opt, poolScope{})
}

// startRun is StartRun over the pool sc names, with sc's steps inside the run's transaction.
func (s *Store) startRun(ctx context.Context, p auth.Principal, opt RunOptions, sc poolScope) (Run, error) {
	if !p.Staff() {
		return Run{}, forbidden("only coordinators start matching runs")
	}
	if opt.PriceRule == "" {
		opt.PriceRule = PriceMidpoint
	}
	if !opt.PriceRule.Valid() {
		return Run{}, &errs.Error{Code: errs.Unprocessable, Message: "invalid run options",
			Fields: []errs.FieldError{{Field: "price_rule", Message: "must be midpoint, offer_price or demand_price"}}}
	}
	t0 := time.Now()
	var run Run
	err := pg.WithTx(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, runLock); err != nil {
			return pg.Err(err, "run lock")
		}
		run = Run{StartedBy: p.OrgID, StartedByName: p.Actor(), PriceRule: opt.PriceRule, StartedAt: s.Now(), RoundID: sc.round,
			AnswerBy: sc.answerBy}
		if sc.before != nil {
			if err := sc.before(ctx, tx); err != nil {
				return err
			}
		}
		if sc.rule != nil {
			if *sc.rule != "" {
				opt.PriceRule = *sc.rule
			}
			run.PriceRule = opt.PriceRule
		}
		pl, err := readPool(ctx, tx, sc)
		if err != nil {
			return err
		}
		if err := s.schemeRules(ctx, tx, pl); err != nil {
			return err
		}
		solveStart := time.Now()
		res, err := solve.Solve(&pl.in)
		if err != nil {
			// The database's own checks make an invalid instance our bug, not the caller's.
			return errs.Wrap(errs.Internal, err, "the open pool did not make a valid instance")
		}
		run.SolveMS = float64(time.Since(solveStart).Microseconds()) / 1000
		run.Greedy = solve.Greedy(&pl.in).Objective
		run.Objective = res.Objective
		run.Offers, run.Demands = len(pl.in.Offers), len(pl.in.Demands)
		for _, a := range res.Allocations {
			o, d := pl.offers[a.OfferID], pl.demands[a.DemandID]
			l := pl.lanes[[2]string{o.Origin, d.Destination}]
			run.Allocations = append(run.Allocations, Allocation{OfferID: o.ID, DemandID: d.ID, BaseOrgID: o.OrgID, BuyerOrgID: d.OrgID,
				BaseName: o.OrgName, BuyerName: d.OrgName, Product: o.Product, Grade: o.Grade, QuantityKg: a.QuantityKg,
				SurplusPerKg: ptr(a.SurplusPerKg), LaneCostPerKg: l.CostPerKg, MinPricePerKg: ptr(o.MinPricePerKg),
				MaxPricePerKg: ptr(d.MaxPricePerKg), PricePerKg: opt.PriceRule.Price(o.MinPricePerKg, d.MaxPricePerKg, l.CostPerKg),
				Origin: o.Origin, Destination: d.Destination, Arrival: o.AvailableFrom.Add(l.Transit()), DeliverBy: d.DeliverBy,
				Status: AllocProposed, AnswerBy: sc.answerBy})
			run.MatchedKg += a.QuantityKg
		}
		run.Summary = RunSummary{Allocations: len(run.Allocations), ByReason: map[string]int{}}
		for _, u := range res.Unmatched {
			id, _ := strconv.ParseInt(u.ID, 10, 64)
			um := Unmatched{Side: u.Side, ID: id, QuantityKg: u.QuantityKg}
			if u.Side == "offer" {
				um.OrgID = pl.offers[u.ID].OrgID
				run.Summary.UnmatchedOffers++
			} else {
				um.OrgID = pl.demands[u.ID].OrgID
				run.Summary.UnmatchedDemands++
			}
			for _, r := range u.Reasons {
				um.Reasons = append(um.Reasons, r.Message)
				um.ReasonCodes = append(um.ReasonCodes, r.Code)
			}
			if len(u.Reasons) > 0 {
				run.Summary.ByReason[u.Reasons[0].Code]++
			}
			run.Unmatched = append(run.Unmatched, um)
		}
		for _, u := range pl.skipped {
			run.Unmatched = append(run.Unmatched, u)
			run.Summary.ByReason[u.ReasonCodes[0]]++
			if u.Side == "offer" {
				run.Summary.UnmatchedOffers++
			} else {
				run.Summary.UnmatchedDemands++
			}
		}
		run.FinishedAt = s.Now()
		return insertRun(ctx, tx, &run)
	})
	if errors.Is(err, errNotDue) {
		return Run{}, err
	}
	if err != nil {
		s.m.runs.WithLabelValues("failed").Inc()
		return Run{}, err
	}
	s.m.runs.WithLabelValues("ok").Inc()
	s.m.runSeconds.Observe(time.Since(t0).Seconds())
	s.m.objective.Set(float64(run.Objective) / 100)
	s.m.matchedKg.Add(float64(run.MatchedKg))
	s.m.unmatched.Reset()
	for _, u := range run.Unmatched {
		if len(u.ReasonCodes) > 0 {
			s.m.unmatched.WithLabelValues(u.Side, u.ReasonCodes[0]).Inc()
		}
	}
	return run, nil
}

func ptr[T any](v T) *T { return &v }

func insertRun(ctx context.Context, tx pgx.Tx, run *Run) error {
	summary, err := json.Marshal(run.Summary)
	if err != nil {
		return err
	}
	if run.Unmatched == nil {
		run.Unmatched = []Unmatched{}
	}
	unmatched, err := json.Marshal(run.Unmatched)
	if err != nil {
		return err
	}
	var by *int64 // a run started by the system (the demo) has no organisation
	if run.StartedBy != 0 {
		by = &run.StartedBy
	}
	err = tx.QueryRow(ctx, `INSERT INTO matching_runs (started_by, started_by_name, price_rule, started_at, finished_at, offers, demands,
		objective_fen, greedy_fen, matched_kg, solve_ms, summary, unmatched, round_id, answer_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id`,
		by, run.StartedByName, string(run.PriceRule), run.StartedAt, run.FinishedAt, run.Offers, run.Demands,
		int64(run.Objective), int64(run.Greedy), run.MatchedKg, run.SolveMS, summary, unmatched, run.RoundID, run.AnswerBy).Scan(&run.ID)
	if err != nil {
		return pg.Err(err, "run")
	}
	rows := make([][]any, len(run.Allocations))
	for i := range run.Allocations {
		a := &run.Allocations[i]
		a.RunID = run.ID
		rows[i] = []any{run.ID, a.OfferID, a.DemandID, a.BaseOrgID, a.BuyerOrgID, a.QuantityKg, int64(*a.SurplusPerKg),
			int64(a.LaneCostPerKg), int64(a.PricePerKg), a.Arrival, a.DeliverBy}
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"allocations"}, []string{"run_id", "offer_id", "demand_id", "base_org_id",
		"buyer_org_id", "quantity_kg", "surplus_per_kg_fen", "lane_cost_fen", "price_per_kg_fen", "arrival", "deliver_by"},
		pgx.CopyFromRows(rows)); err != nil {
		return pg.Err(err, "allocations")
	}
	// CopyFrom returns no ids; read them back in the order they were written.
	got, err := collect(ctx, tx, "allocations", func(r pgx.Row) (id int64, err error) { return id, r.Scan(&id) },
		`SELECT id FROM allocations WHERE run_id = $1 ORDER BY id`, run.ID)
	if err != nil {
		return err
	}
	if len(got) != len(run.Allocations) {
		return errs.E(errs.Internal, "wrote %d allocations, read back %d", len(run.Allocations), len(got))
	}
	for i := range got {
		run.Allocations[i].ID = got[i]
	}
	return nil
}

const runCols = `id, coalesce(started_by, 0), started_by_name, price_rule, started_at, finished_at, offers, demands, objective_fen,
	greedy_fen, matched_kg, solve_ms, summary, unmatched, round_id, answer_by`

func scanRun(r pgx.Row, withUnmatched bool, extra ...any) (Run, error) {
	var run Run
	var summary, unmatched []byte
	err := r.Scan(append([]any{&run.ID, &run.StartedBy, &run.StartedByName, &run.PriceRule, &run.StartedAt, &run.FinishedAt, &run.Offers,
		&run.Demands, &run.Objective, &run.Greedy, &run.MatchedKg, &run.SolveMS, &summary, &unmatched, &run.RoundID, &run.AnswerBy}, extra...)...)
	if err != nil {
		return run, err
	}
	if err := json.Unmarshal(summary, &run.Summary); err != nil {
		return run, fmt.Errorf("run %d summary: %w", run.ID, err)
	}
	if withUnmatched {
		if err := json.Unmarshal(unmatched, &run.Unmatched); err != nil {
			return run, fmt.Errorf("run %d unmatched: %w", run.ID, err)
		}
	}
	return run, nil
}

// GetRun returns a run with its unmatched list and allocations. Errors: Forbidden (staff only), NotFound.
func (s *Store) GetRun(ctx context.Context, p auth.Principal, id int64) (Run, error) {
	if !p.Staff() {
		return Run{}, forbidden("only coordinators see matching runs")
	}
	run, err := scanRun(s.db.QueryRow(ctx, `SELECT `+runCols+` FROM matching_runs WHERE id = $1`, id), true)
	if err != nil {
		if errs.Is(pg.Err(err, ""), errs.NotFound) {
			return Run{}, notFound("run", id)
		}
		return Run{}, pg.Err(err, "run")
	}
	// A run may propose more allocations than a page holds; read them all, page after page by cursor.
	var allocs []Allocation
	for page := (Page{Limit: pg.MaxLimit}); ; {
		more, _, err := s.Allocations(ctx, p, AllocationFilter{RunID: &id, Page: page})
		if err != nil {
			return Run{}, err
		}
		allocs = append(allocs, more...)
		if len(more) < pg.MaxLimit {
			break
		}
		page.After = pg.Cursor(more[len(more)-1].PageKey()...)
	}
	run.Allocations = allocs
	return run, nil
}

// PageKey is the run's place in Runs' order, newest first.
func (r Run) PageKey() []any { return []any{r.ID} }

// runListCols are runCols without the unmatched list, which only GetRun shows and which may be long.
var runListCols = strings.Replace(runCols, "unmatched", "NULL::jsonb", 1)

// Runs lists runs, newest first, without their details. Errors: Forbidden (staff only), Invalid (a cursor of
// another list).
func (s *Store) Runs(ctx context.Context, p auth.Principal, page Page) ([]Run, int, error) {
	if !p.Staff() {
		return nil, 0, forbidden("only coordinators see matching runs")
	}
	q := pg.Query{Cols: runListCols, From: "matching_runs", Key: "id", Desc: true}
	var after int64
	return pg.List(ctx, s.db, q, page, "runs", func(r pgx.Row, total *int) (Run, error) { return scanRun(r, false, total) }, &after)
}

func solveLane(l Lane) solve.Lane {
	return solve.Lane{Origin: l.Origin, Destination: l.Destination, CostPerKg: l.CostPerKg, TransitHours: l.TransitHours}
}
