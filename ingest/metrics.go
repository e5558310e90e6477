package ingest

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are ingest's Prometheus metrics (prefix suilong_ingest_).
type Metrics struct {
	Messages      *prometheus.CounterVec // by topic kind: readings, status
	Received      prometheus.Counter     // readings decoded from messages, valid or not
	Accepted      prometheus.Counter     // readings that passed validation and the registry
	Written       *prometheus.CounterVec // readings durable in InfluxDB, by path: direct, spool
	Spooled       prometheus.Counter     // readings appended to the spool
	Rejected      *prometheus.CounterVec // rejected messages and readings, by reason
	DeadLetters   prometheus.Counter     // dead-letter records stored in PostgreSQL
	SpoolFull     prometheus.Counter     // times a batch found the spool full
	WriteSeconds  prometheus.Histogram   // InfluxDB write latency
	DelaySeconds  prometheus.Histogram   // reading ts → durable
	BatchReadings prometheus.Histogram   // readings per InfluxDB write
	OpenAlarms    *prometheus.GaugeVec   // alarms not closed, by kind and status
	Alarms        *prometheus.CounterVec // alarm changes applied, by kind
	RulesTooLate  prometheus.Counter     // readings too late for the rules' window
	InfluxUp      prometheus.Gauge       // 1 when the last write to InfluxDB succeeded
	// WriteFailures counts failed requests to InfluxDB by status (WriteStatuses).
	WriteFailures  *prometheus.CounterVec
	Held           prometheus.Counter // readings held while the registry was away
	DeadSuppressed prometheus.Counter // rejections over a gateway's dead-letter budget, summed up instead
	RulesLeader    prometheus.Gauge   // 1 while this process runs the cold-chain rules (the rules role's leader)

	// Resolved children of the vectors used once per message, to keep label lookups off the hot path.
	readingMessages, statusMessages, writtenDirect, writtenSpool prometheus.Counter
}

// NewMetrics creates the metrics and registers them with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	const ns, sub = "suilong", "ingest"
	m := &Metrics{
		Messages: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "messages_received_total",
			Help: "MQTT messages received, by topic kind (readings, status)."}, []string{"kind"}),
		Received: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "readings_received_total",
			Help: "Readings decoded from messages, before validation."}),
		Accepted: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "readings_accepted_total",
			Help: "Readings that passed validation and the registry."}),
		Written: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "readings_written_total",
			Help: "Readings written to InfluxDB, directly or replayed from the spool."}, []string{"path"}),
		Spooled: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "readings_spooled_total",
			Help: "Readings appended to the local spool because InfluxDB could not take them."}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "rejected_total",
			Help: "Rejected messages (whole-message reasons) and readings, by reason; each is in the dead letter."}, []string{"reason"}),
		DeadLetters: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "dead_letters_stored_total",
			Help: "Dead-letter records stored in PostgreSQL."}),
		SpoolFull: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "spool_full_total",
			Help: "Times a batch could go neither to InfluxDB nor to the full spool; ingest then pauses (backpressure)."}),
		WriteSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "influx_write_seconds",
			Help: "Latency of batched writes to InfluxDB.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		DelaySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "reading_delay_seconds",
			Help:    "Time from a message's newest reading (its ts) until the message is durable and acknowledged.",
			Buckets: prometheus.ExponentialBucketsRange(0.001, 600, 60)}),
		BatchReadings: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "batch_readings",
			Help: "Readings per write to InfluxDB.", Buckets: prometheus.ExponentialBuckets(1, 2, 15)}),
		OpenAlarms: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "open_alarms",
			Help: "Alarms not yet closed, by kind and status (open: not acknowledged)."}, []string{"kind", "status"}),
		Alarms: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "alarm_changes_total",
			Help: "Alarms raised, ended or withdrawn by the rules, by kind."}, []string{"kind"}),
		RulesTooLate: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "rules_too_late_total",
			Help: "Readings stored but too late (beyond the rules' window) to change alarms."}),
		InfluxUp: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "influx_up",
			Help: "1 when the last write to InfluxDB succeeded, 0 while readings go to the spool."}),
		WriteFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "influx_write_failures_total",
			Help: "Failed writes to InfluxDB, by status: the HTTP status (5xx folded), or timeout, refused, dns, tls, network."}, []string{"status"}),
		Held: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "readings_held_total",
			Help: "Readings of sensors the cache did not know, held while the registry (PostgreSQL) was unreachable, to be admitted later."}),
		RulesLeader: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "rules_leader",
			Help: "1 while this process runs the cold-chain rules: the leader of the rules role (always 1 where ingest runs alone)."}),
		DeadSuppressed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "dead_letters_suppressed_total",
			Help: "Rejections beyond a gateway's dead-letter budget: counted here and summed up in one dead-letter record a minute."}),
	}
	for _, s := range WriteStatuses {
		m.WriteFailures.WithLabelValues(s)
	}
	for _, r := range Reasons {
		m.Rejected.WithLabelValues(string(r))
	}
	m.readingMessages, m.statusMessages = m.Messages.WithLabelValues("readings"), m.Messages.WithLabelValues("status")
	m.writtenDirect, m.writtenSpool = m.Written.WithLabelValues("direct"), m.Written.WithLabelValues("spool")
	for _, p := range []string{"direct", "spool"} {
		m.Written.WithLabelValues(p)
	}
	if reg != nil {
		reg.MustRegister(m.Messages, m.Received, m.Accepted, m.Written, m.Spooled, m.Rejected, m.DeadLetters, m.SpoolFull,
			m.WriteSeconds, m.DelaySeconds, m.BatchReadings, m.OpenAlarms, m.Alarms, m.RulesTooLate, m.InfluxUp,
			m.WriteFailures, m.Held, m.DeadSuppressed, m.RulesLeader)
	}
	return m
}
