package matching

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	runs       *prometheus.CounterVec
	runSeconds prometheus.Histogram
	objective  prometheus.Gauge
	matchedKg  prometheus.Counter
	unmatched  *prometheus.GaugeVec
	posted     *prometheus.CounterVec
	decisions  *prometheus.CounterVec
	orders     prometheus.Counter
	orderedKg  prometheus.Counter
	// Market cycles (rounds.go): runs of rounds by kind, lapsed allocations, demands made from standing demands.
	roundRuns    *prometheus.CounterVec
	lapsed       prometheus.Counter
	standingMade prometheus.Counter
}

func newMetrics() *metrics {
	return &metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "suilong_matching_runs_total",
			Help: "Matching runs, by result (ok, failed)."}, []string{"result"}),
		runSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "suilong_matching_run_seconds",
			Help:    "Time of a matching run: reading the pool, solving and storing the allocations.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}),
		objective: prometheus.NewGauge(prometheus.GaugeOpts{Name: "suilong_matching_last_objective_cny",
			Help: "Total surplus (CNY) of the last matching run."}),
		matchedKg: prometheus.NewCounter(prometheus.CounterOpts{Name: "suilong_matching_allocated_kg_total",
			Help: "Kilograms proposed by matching runs."}),
		unmatched: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "suilong_matching_last_unmatched",
			Help: "Offers and demands left (partly) unmatched by the last run, by side and first reason."}, []string{"side", "reason"}),
		posted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "suilong_matching_posted_total",
			Help: "Offers and demands posted."}, []string{"kind"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "suilong_matching_decisions_total",
			Help: "Answers to allocations, by side (base, buyer) and decision (accepted, declined)."}, []string{"side", "decision"}),
		orders: prometheus.NewCounter(prometheus.CounterOpts{Name: "suilong_matching_orders_total",
			Help: "Orders placed (allocations accepted by both sides)."}),
		orderedKg: prometheus.NewCounter(prometheus.CounterOpts{Name: "suilong_matching_ordered_kg_total",
			Help: "Kilograms in placed orders."}),
		roundRuns: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "suilong_matching_round_runs_total",
			Help: "Runs of trading rounds, by kind (close: the run at a round's close; follow_up: a coordinator's)."}, []string{"kind"}),
		lapsed: prometheus.NewCounter(prometheus.CounterOpts{Name: "suilong_matching_lapsed_allocations_total",
			Help: "Allocations still proposed at their round's answer deadline, which lapsed and returned their kilograms."}),
		standingMade: prometheus.NewCounter(prometheus.CounterOpts{Name: "suilong_matching_standing_demands_made_total",
			Help: "Demands made from standing demands at rounds' closes."}),
	}
}

// Register adds the store's metrics to reg. Call it once per process, on the store the API uses.
func (s *Store) Register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{s.m.runs, s.m.runSeconds, s.m.objective, s.m.matchedKg, s.m.unmatched, s.m.posted,
		s.m.decisions, s.m.orders, s.m.orderedKg, s.m.roundRuns, s.m.lapsed, s.m.standingMade} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
