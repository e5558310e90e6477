package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
)

type metrics struct {
	attempts    *prometheus.CounterVec
	seconds     *prometheus.HistogramVec
	planned     *prometheus.CounterVec
	escalations prometheus.Counter
	pending     prometheus.Gauge
	failing     *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "suilong_notify_attempts_total",
			Help: "Notification delivery attempts by channel kind and outcome (sent, retry, failed: given up)."}, []string{"kind", "outcome"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "suilong_notify_attempt_seconds",
			Help: "Time one delivery attempt took, by channel kind.", Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10}}, []string{"kind"}),
		planned: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "suilong_notify_planned_total",
			Help: "Deliveries planned, by the change they tell of (raised, ended, acknowledged, withdrawn, reopened, escalated)."}, []string{"change"}),
		escalations: prometheus.NewCounter(prometheus.CounterOpts{Name: "suilong_notify_escalations_total",
			Help: "Alarms escalated to the next rule because they were still unacknowledged."}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "suilong_notify_pending",
			Help: "Deliveries waiting to be sent or retried."}),
		failing: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "suilong_notify_failing_channels",
			Help: "Channels whose last attempts failed in a row (at least 3), by kind."}, []string{"kind"}),
	}
	for _, k := range Kinds {
		for _, o := range []string{"sent", "retry", "failed"} {
			m.attempts.WithLabelValues(string(k), o)
		}
		m.failing.WithLabelValues(string(k))
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.attempts, m.seconds, m.planned, m.escalations, m.pending, m.failing} {
			if err := reg.Register(c); err != nil {
				var are prometheus.AlreadyRegisteredError
				if !errors.As(err, &are) {
					panic(err)
				}
			}
		}
	}
	return m
}

var knownChanges = map[string]bool{"raised": true, "ended": true, "acknowledged": true, "withdrawn": true, "reopened": true, ChangeEscalated: true}

// Run plans, escalates and sends until ctx ends. Several processes may run it on one database.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	gauges := time.NewTicker(15 * time.Second)
	defer gauges.Stop()
	s.gauges(ctx)
	for {
		if err := s.Round(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("notify: round failed; will retry", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-gauges.C:
			s.gauges(ctx)
		}
	}
}

// Round does one round of work: plans deliveries for new alarm events, escalates what is due, sends what is
// due (tests call it directly).
func (s *Service) Round(ctx context.Context) error {
	for {
		n, err := s.Plan(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
	}
	if _, err := s.Escalate(ctx); err != nil {
		return err
	}
	for {
		n, err := s.Work(ctx)
		if err != nil || n < s.cfg.Batch {
			return err
		}
	}
}

func (s *Service) gauges(ctx context.Context) {
	var pending int
	if err := s.db.QueryRow(ctx, `SELECT count(*) FROM notification_deliveries WHERE status = 'pending'`).Scan(&pending); err == nil {
		s.m.pending.Set(float64(pending))
	}
	rows, err := s.db.Query(ctx, `SELECT kind, count(*) FROM notification_channels WHERE failures >= $1 GROUP BY 1`, FailingAfter)
	if err != nil {
		return
	}
	defer rows.Close()
	counts := map[Kind]int{}
	for rows.Next() {
		var k Kind
		var n int
		if rows.Scan(&k, &n) == nil {
			counts[k] = n
		}
	}
	for _, k := range Kinds {
		s.m.failing.WithLabelValues(string(k)).Set(float64(counts[k]))
	}
}

// allRules loads every rule with its organisation's role, in one transaction.
func allRules(ctx context.Context, tx pgx.Tx) (map[int64]*Rule, []*Rule, error) {
	rows, err := tx.Query(ctx, `SELECT `+ruleCols+` FROM notification_rules r JOIN orgs o ON o.id = r.org_id ORDER BY r.id`)
	if err != nil {
		return nil, nil, pg.Err(err, "rules")
	}
	defer rows.Close()
	byID := map[int64]*Rule{}
	var list []*Rule
	for rows.Next() {
		r, err := scanRule(rows)
		if err != nil {
			return nil, nil, pg.Err(err, "rules")
		}
		byID[r.ID] = &r
		list = append(list, &r)
	}
	return byID, list, pg.Err(rows.Err(), "rules")
}

// Plan reads the next events of the alarm event log and, in one transaction with the cursor's move, writes
// their deliveries (one per channel and event) and the escalations they start. It returns how many events it
// read; 0 also when another process is planning.
func (s *Service) Plan(ctx context.Context) (int, error) {
	n := 0
	err := pg.WithTx(ctx, s.db, func(tx pgx.Tx) error {
		var last int64
		err := tx.QueryRow(ctx, `SELECT last_event_id FROM notification_cursor WHERE name = 'alarm_events' FOR UPDATE SKIP LOCKED`).Scan(&last)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // another process holds the cursor
		}
		if err != nil {
			return pg.Err(err, "notification cursor")
		}
		events, err := s.events.AlarmEvents(ctx, last, 200)
		if err != nil || len(events) == 0 {
			return err
		}
		_, rules, err := allRules(ctx, tx)
		if err != nil {
			return err
		}
		now := s.Now()
		for _, e := range events {
			var a Alarm
			if err := json.Unmarshal(e.Alarm, &a); err != nil {
				s.log.Error("notify: an alarm event's alarm cannot be read; skipped", "event", e.ID, "err", err)
				continue
			}
			for _, r := range rules {
				if !r.matches(a.Kind, e.AssetID, e.OrgID) {
					continue
				}
				if err := s.plan(ctx, tx, fmt.Sprintf("e%d:c%d", e.ID, r.ChannelID), r.ChannelID, &r.ID, e.AlarmID, &e.ID, e.Change, e.Alarm, now); err != nil {
					return err
				}
				if (e.Change == "raised" || e.Change == "reopened") && r.escalate > 0 && r.ThenRuleID != nil {
					if _, err := tx.Exec(ctx, `INSERT INTO notification_escalations (alarm_id, rule_id, origin_event_id, depth, due_at)
						VALUES ($1, $2, $3, 1, $4) ON CONFLICT DO NOTHING`, e.AlarmID, r.ID, e.ID, e.At.Add(r.escalate)); err != nil {
						return pg.Err(err, "escalation")
					}
				}
			}
		}
		n = len(events)
		_, err = tx.Exec(ctx, `UPDATE notification_cursor SET last_event_id = $1 WHERE name = 'alarm_events'`, events[len(events)-1].ID)
		return pg.Err(err, "notification cursor")
	})
	return n, err
}

// plan writes one delivery unless its key was planned before.
func (s *Service) plan(ctx context.Context, tx pgx.Tx, key string, channel int64, rule *int64, alarm int64, event *int64, change string,
	payload json.RawMessage, now time.Time) error {
	tag, err := tx.Exec(ctx, `INSERT INTO notification_deliveries (dedup_key, channel_id, rule_id, alarm_id, event_id, change, payload,
		next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (dedup_key) DO NOTHING`,
		key, channel, rule, alarm, event, change, payload, now)
	if err != nil {
		return pg.Err(err, "delivery")
	}
	if tag.RowsAffected() > 0 && knownChanges[change] {
		s.m.planned.WithLabelValues(change).Inc()
	}
	return nil
}

// MaxEscalationDepth bounds a chain of escalations.
const MaxEscalationDepth = 10

// Escalate handles the escalations that are due: an alarm still open (unacknowledged, not withdrawn) is told
// to the next rule's channel, and that rule's own escalation starts; any other is done. It returns how many it
// handled.
func (s *Service) Escalate(ctx context.Context) (int, error) {
	n := 0
	err := pg.WithTx(ctx, s.db, func(tx pgx.Tx) error {
		now := s.Now()
		rows, err := tx.Query(ctx, `SELECT id, alarm_id, rule_id, origin_event_id, depth FROM notification_escalations
			WHERE done_at IS NULL AND due_at <= $1 ORDER BY due_at, id LIMIT 50 FOR UPDATE SKIP LOCKED`, now)
		if err != nil {
			return pg.Err(err, "escalations")
		}
		type due struct{ id, alarm, rule, origin, depth int64 }
		var list []due
		for rows.Next() {
			var d due
			if err := rows.Scan(&d.id, &d.alarm, &d.rule, &d.origin, &d.depth); err != nil {
				rows.Close()
				return pg.Err(err, "escalations")
			}
			list = append(list, d)
		}
		rows.Close()
		if len(list) == 0 {
			return rows.Err()
		}
		byID, _, err := allRules(ctx, tx)
		if err != nil {
			return err
		}
		for _, d := range list {
			outcome := ""
			doc, err := s.alarms.AlarmNow(ctx, d.alarm)
			var a Alarm
			switch {
			case errs.Is(err, errs.NotFound):
				outcome = "alarm_gone"
			case err != nil:
				return err
			default:
				if err := json.Unmarshal(doc, &a); err != nil {
					return fmt.Errorf("alarm %d: %w", d.alarm, err)
				}
			}
			from := byID[d.rule]
			switch {
			case outcome != "":
			case a.Status != "open":
				outcome = a.Status // acknowledged, closed or withdrawn in time
			case from == nil || from.ThenRuleID == nil || byID[*from.ThenRuleID] == nil:
				outcome = "no_next_rule"
			default:
				next := byID[*from.ThenRuleID]
				if err := s.plan(ctx, tx, fmt.Sprintf("x%d:c%d", d.id, next.ChannelID), next.ChannelID, &next.ID, d.alarm, nil,
					ChangeEscalated, doc, now); err != nil {
					return err
				}
				if next.escalate > 0 && next.ThenRuleID != nil && d.depth < MaxEscalationDepth {
					if _, err := tx.Exec(ctx, `INSERT INTO notification_escalations (alarm_id, rule_id, origin_event_id, depth, due_at)
						VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, d.alarm, next.ID, d.origin, d.depth+1, now.Add(next.escalate)); err != nil {
						return pg.Err(err, "escalation")
					}
				}
				outcome = ChangeEscalated
				s.m.escalations.Inc()
				s.log.Info("notify: alarm escalated", "alarm", d.alarm, "from_rule", d.rule, "to_rule", next.ID)
			}
			if _, err := tx.Exec(ctx, `UPDATE notification_escalations SET done_at = $2, outcome = $3 WHERE id = $1`, d.id, now, outcome); err != nil {
				return pg.Err(err, "escalation")
			}
			n++
		}
		return nil
	})
	return n, err
}

// Work takes up to Batch due deliveries (FOR UPDATE SKIP LOCKED, under a lease), sends them, Parallel at a
// time, and records each attempt. It returns how many it took.
func (s *Service) Work(ctx context.Context) (int, error) {
	now := s.Now()
	rows, err := s.db.Query(ctx, `UPDATE notification_deliveries d SET lease_until = $1::timestamptz + $3 * interval '1 millisecond',
			attempts = d.attempts + 1
		WHERE d.id IN (SELECT id FROM notification_deliveries WHERE status = 'pending' AND next_attempt_at <= $1
			AND (lease_until IS NULL OR lease_until <= $1) ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)
		RETURNING d.id, d.channel_id, d.change, d.payload, d.attempts`, now, s.cfg.Batch, s.cfg.Lease.Milliseconds())
	if err != nil {
		return 0, pg.Err(err, "deliveries")
	}
	type job struct {
		id, channel int64
		change      string
		payload     json.RawMessage
		attempt     int
	}
	var jobs []job
	for rows.Next() {
		var j job
		if err := rows.Scan(&j.id, &j.channel, &j.change, &j.payload, &j.attempt); err != nil {
			rows.Close()
			return 0, pg.Err(err, "deliveries")
		}
		jobs = append(jobs, j)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(jobs) == 0 {
		return 0, pg.Err(err, "deliveries")
	}
	ids := make([]int64, 0, len(jobs))
	for _, j := range jobs {
		ids = append(ids, j.channel)
	}
	crow, err := s.db.Query(ctx, `SELECT `+channelCols+` FROM notification_channels WHERE id = ANY($1)`, ids)
	if err != nil {
		return 0, pg.Err(err, "channels")
	}
	chans, err := pgx.CollectRows(crow, func(r pgx.CollectableRow) (Channel, error) { return scanChannel(r) })
	if err != nil {
		return 0, pg.Err(err, "channels")
	}
	byID := map[int64]Channel{}
	for _, c := range chans {
		byID[c.ID] = c
	}
	sem := make(chan struct{}, s.cfg.Parallel)
	var wg sync.WaitGroup
	for _, j := range jobs {
		ch, ok := byID[j.channel]
		if !ok {
			continue // deleted meanwhile; its deliveries went with it
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			var a Alarm
			_ = json.Unmarshal(j.payload, &a)
			m := Message{DeliveryID: j.id, Change: j.change, Alarm: a, Body: j.payload}
			if s.cfg.ConsoleURL != "" {
				m.Link = s.cfg.ConsoleURL + "/ops/alarms/" + strconv.FormatInt(a.ID, 10)
			}
			sctx, cancel := context.WithTimeout(ctx, s.cfg.SendTimeout)
			start := s.Now()
			status, err := s.Sender.Send(sctx, ch, m)
			cancel()
			took := s.Now().Sub(start)
			s.m.seconds.WithLabelValues(string(ch.Kind)).Observe(took.Seconds())
			if rerr := s.record(context.WithoutCancel(ctx), j.id, ch, j.attempt, status, err, start, took); rerr != nil {
				s.log.Warn("notify: could not record a delivery attempt; its lease runs out and it is tried again",
					"delivery", j.id, "err", rerr)
			}
		})
	}
	wg.Wait()
	return len(jobs), nil
}

// backoff is the delay before attempt n+1: RetryBase doubled for each failure, at most RetryMax, ±20 %.
func (s *Service) backoff(n int) time.Duration {
	d := s.cfg.RetryBase
	for i := 1; i < n && d < s.cfg.RetryMax; i++ {
		d *= 2
	}
	d = min(d, s.cfg.RetryMax)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// record stores an attempt's outcome: the attempt in the log, the delivery's new state, the channel's health.
func (s *Service) record(ctx context.Context, id int64, ch Channel, n, status int, sendErr error, at time.Time, took time.Duration) error {
	var code *int
	if status != 0 {
		code = &status
	}
	msg := ""
	if sendErr != nil {
		msg = clip(sendErr.Error(), 500)
	}
	outcome := "sent"
	err := pg.WithTx(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO notification_attempts (delivery_id, n, at, ok, status_code, error, duration_ms)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, id, n, at, sendErr == nil, code, msg, int(took.Milliseconds())); err != nil {
			return pg.Err(err, "attempt")
		}
		now := s.Now()
		var err error
		switch {
		case sendErr == nil:
			_, err = tx.Exec(ctx, `UPDATE notification_deliveries SET status = 'sent', sent_at = $2, lease_until = NULL, last_error = ''
				WHERE id = $1`, id, now)
			if err == nil {
				_, err = tx.Exec(ctx, `UPDATE notification_channels SET failures = 0, failing_since = NULL, last_success_at = $2 WHERE id = $1`, ch.ID, now)
			}
		default:
			next, status := now.Add(s.backoff(n)), Pending
			outcome = "retry"
			if n >= s.cfg.MaxAttempts {
				status, outcome = Failed, "failed"
			}
			_, err = tx.Exec(ctx, `UPDATE notification_deliveries SET status = $2, next_attempt_at = $3, lease_until = NULL, last_error = $4
				WHERE id = $1`, id, status, next, msg)
			if err == nil {
				_, err = tx.Exec(ctx, `UPDATE notification_channels SET failures = failures + 1, failing_since = coalesce(failing_since, $2),
					last_error = $3 WHERE id = $1`, ch.ID, at, msg)
			}
		}
		return pg.Err(err, "delivery")
	})
	if err != nil {
		return err
	}
	s.m.attempts.WithLabelValues(string(ch.Kind), outcome).Inc()
	if sendErr != nil {
		s.log.Warn("notify: delivery attempt failed", "delivery", id, "channel", ch.ID, "kind", ch.Kind, "attempt", n, "outcome", outcome, "err", msg)
	} else {
		s.log.Info("notify: delivered", "delivery", id, "channel", ch.ID, "kind", ch.Kind, "attempt", n)
	}
	return nil
}
