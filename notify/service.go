package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
)

// Events is ingest's alarm event log, read in order (cmd/suilong adapts ingest.Store).
type Events interface {
	// AlarmEvents returns up to limit events with ids above after, by id. Errors: Internal.
	AlarmEvents(ctx context.Context, after int64, limit int) ([]Event, error)
}

// Alarms tells an alarm's state now, for escalations (cmd/suilong adapts ingest.Store).
type Alarms interface {
	// AlarmNow returns the alarm object (JSON) as it is now. Errors: NotFound, Internal.
	AlarmNow(ctx context.Context, id int64) (json.RawMessage, error)
}

// Config tunes delivery; zero fields take the defaults.
type Config struct {
	Poll        time.Duration // how often the planner, the escalations and the workers look for work (default 1s)
	Batch       int           // deliveries one worker round takes (default 20)
	Parallel    int           // deliveries sent at once by this process (default 4)
	Lease       time.Duration // how long a taken delivery is this process's (default 2m; above SendTimeout)
	SendTimeout time.Duration // one attempt (default 10s)
	RetryBase   time.Duration // the first retry's delay, doubled on each failure (default 30s)
	RetryMax    time.Duration // the longest delay (default 30m)
	MaxAttempts int           // attempts before a delivery is given up as failed (default 10)
	// ConsoleURL is the base of the links to the console in messages (the public base URL), "" for none.
	ConsoleURL string
}

func (c Config) withDefaults() Config {
	if c.Poll <= 0 {
		c.Poll = time.Second
	}
	if c.Batch <= 0 {
		c.Batch = 20
	}
	if c.Parallel <= 0 {
		c.Parallel = 4
	}
	if c.SendTimeout <= 0 {
		c.SendTimeout = 10 * time.Second
	}
	if c.Lease <= c.SendTimeout {
		c.Lease = max(2*time.Minute, 3*c.SendTimeout)
	}
	if c.RetryBase <= 0 {
		c.RetryBase = 30 * time.Second
	}
	if c.RetryMax < c.RetryBase {
		c.RetryMax = max(30*time.Minute, c.RetryBase)
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 10
	}
	return c
}

// Deps are the service's collaborators.
type Deps struct {
	DB     pg.DB
	Events Events
	Alarms Alarms
	Guard  *Guard
	SMTP   SMTPConfig
	Log    *slog.Logger
	// Registry, when set, gets the metrics.
	Registry prometheus.Registerer
}

// Service keeps channels and rules and delivers notifications.
type Service struct {
	db     pg.DB
	events Events
	alarms Alarms
	Guard  *Guard
	Sender *Sender
	cfg    Config
	log    *slog.Logger
	m      *metrics
	// Now is the clock of deliveries, retries and escalations.
	Now func() time.Time
}

// New returns the service.
func New(cfg Config, d Deps) *Service {
	if d.Guard == nil {
		d.Guard = &Guard{}
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	cfg = cfg.withDefaults()
	s := &Service{db: d.DB, events: d.Events, alarms: d.Alarms, Guard: d.Guard, cfg: cfg, log: d.Log, m: newMetrics(d.Registry), Now: time.Now}
	s.Sender = &Sender{HTTP: d.Guard.Client(cfg.SendTimeout), SMTP: d.SMTP, Now: func() time.Time { return s.Now() }}
	return s
}

// scope returns whether p manages every organisation's notifications (admins, coordinators) or only its own.
// Errors: Forbidden for gateway keys.
func scope(p auth.Principal) (bool, error) {
	switch {
	case p.Staff():
		return true, nil
	case p.Is(auth.RoleCarrier, auth.RoleBase, auth.RoleBuyer):
		return false, nil
	}
	return false, errs.E(errs.Forbidden, "your organisation's role (%s) has no notifications", p.Role)
}

// orgFor is the organisation a new record of p belongs to: the one named (admins, coordinators), else p's own.
func orgFor(p auth.Principal, named *int64) (int64, error) {
	all, err := scope(p)
	if err != nil {
		return 0, err
	}
	switch {
	case named == nil:
		return p.OrgID, nil
	case all || *named == p.OrgID:
		return *named, nil
	}
	return 0, errs.E(errs.Forbidden, "you may set up notifications of your own organisation only")
}

func visible(p auth.Principal, org int64) bool { all, _ := scope(p); return all || org == p.OrgID }

const channelCols = `id, org_id, kind, name, url, secret, recipients, failures, failing_since, last_error, last_success_at, created_at, updated_at`

func scanChannel(row pgx.Row) (Channel, error) {
	var c Channel
	err := row.Scan(&c.ID, &c.OrgID, &c.Kind, &c.Name, &c.URL, &c.Secret, &c.Recipients, &c.Failures, &c.FailingSince,
		&c.LastError, &c.LastSuccessAt, &c.CreatedAt, &c.UpdatedAt)
	c.mask()
	return c, err
}

func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// CreateChannel creates a channel for p's organisation (or, for admins and coordinators, the one named). A
// webhook given no secret gets one, returned here once (the HMAC key receivers check signatures with).
// Errors: Forbidden, Unprocessable naming the fields, Conflict for a name the organisation already uses.
func (s *Service) CreateChannel(ctx context.Context, p auth.Principal, in ChannelInput) (Channel, string, error) {
	org, err := orgFor(p, in.OrgID)
	if err != nil {
		return Channel{}, "", err
	}
	c := Channel{OrgID: org, Kind: in.Kind}
	if in.Name != nil {
		c.Name = strings.TrimSpace(*in.Name)
	}
	if in.URL != nil {
		c.URL = strings.TrimSpace(*in.URL)
	}
	if in.Secret != nil {
		c.Secret = *in.Secret
	}
	if in.To != nil {
		c.Recipients = *in.To
	}
	shown := ""
	if c.Kind == Webhook && c.Secret == "" {
		c.Secret = newSecret()
		shown = c.Secret
	}
	if err := c.validate(s.Guard); err != nil {
		return Channel{}, "", err
	}
	if c.Recipients == nil {
		c.Recipients = []string{}
	}
	out, err := scanChannel(s.db.QueryRow(ctx, `INSERT INTO notification_channels (org_id, kind, name, url, secret, recipients)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+channelCols, c.OrgID, c.Kind, c.Name, c.URL, c.Secret, c.Recipients))
	if err != nil {
		if errs.CodeOf(pg.Err(err, "")) == errs.Unprocessable {
			var fe errs.FieldErrors
			fe.Add("org_id", "no organisation %d", c.OrgID)
			return Channel{}, "", fe.Err()
		}
		return Channel{}, "", pg.Err(err, "channel "+c.Name)
	}
	return out, shown, nil
}

// Channel returns a channel p sees. Errors: Forbidden, NotFound (also for other organisations' channels).
func (s *Service) Channel(ctx context.Context, p auth.Principal, id int64) (Channel, error) {
	if _, err := scope(p); err != nil {
		return Channel{}, err
	}
	c, err := scanChannel(s.db.QueryRow(ctx, `SELECT `+channelCols+` FROM notification_channels WHERE id = $1`, id))
	if err != nil {
		return Channel{}, pg.Err(err, fmt.Sprintf("channel %d", id))
	}
	if !visible(p, c.OrgID) {
		return Channel{}, errs.E(errs.NotFound, "channel %d not found", id)
	}
	return c, nil
}

// PageKey is the channel's place in Channels' order, by id.
func (c Channel) PageKey() []any { return []any{c.ID} }

// PageKey is the rule's place in Rules' order, by id.
func (r Rule) PageKey() []any { return []any{r.ID} }

// PageKey is the delivery's place in Deliveries' order, newest first.
func (d Delivery) PageKey() []any { return []any{d.ID} }

// Channels lists the channels p sees (admins, coordinators: all, or one organisation's with org > 0), by id.
// Errors: Forbidden.
func (s *Service) Channels(ctx context.Context, p auth.Principal, org int64, page pg.Page) ([]Channel, int, error) {
	all, err := scope(p)
	if err != nil {
		return nil, 0, err
	}
	if !all {
		org = p.OrgID
	}
	q := pg.Query{Cols: channelCols, From: "notification_channels", Key: "id"}
	if org != 0 {
		q.Where, q.Args = []string{"org_id = $1"}, []any{org}
	}
	var after int64
	sql, args, err := q.Page(page, &after)
	if err != nil {
		return nil, 0, err
	}
	rows, err := s.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, 0, pg.Err(err, "channels")
	}
	defer rows.Close()
	out, total := []Channel{}, 0
	for rows.Next() {
		var c Channel
		if err := rows.Scan(&c.ID, &c.OrgID, &c.Kind, &c.Name, &c.URL, &c.Secret, &c.Recipients, &c.Failures, &c.FailingSince,
			&c.LastError, &c.LastSuccessAt, &c.CreatedAt, &c.UpdatedAt, &total); err != nil {
			return nil, 0, pg.Err(err, "channels")
		}
		c.mask()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, pg.Err(err, "channels")
	}
	if len(out) == 0 { // an empty page carries no count
		total, err = q.Count(ctx, s.db)
	}
	return out, total, pg.Err(err, "channels")
}

// FailingChannels lists the channels p sees that keep failing (FailingAfter attempts in a row). Errors:
// Forbidden.
func (s *Service) FailingChannels(ctx context.Context, p auth.Principal) ([]Channel, error) {
	all, err := scope(p)
	if err != nil {
		return nil, err
	}
	org := int64(0)
	if !all {
		org = p.OrgID
	}
	rows, err := s.db.Query(ctx, `SELECT `+channelCols+` FROM notification_channels
		WHERE failures >= $2 AND ($1 = 0 OR org_id = $1) ORDER BY failing_since, id`, org, FailingAfter)
	if err != nil {
		return nil, pg.Err(err, "channels")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Channel, error) { return scanChannel(r) })
	return out, pg.Err(err, "channels")
}

// UpdateChannel changes a channel p sees; nil fields stay, and its kind cannot change. Errors: Forbidden,
// NotFound, Unprocessable, Conflict.
func (s *Service) UpdateChannel(ctx context.Context, p auth.Principal, id int64, in ChannelInput) (Channel, error) {
	c, err := s.Channel(ctx, p, id)
	if err != nil {
		return Channel{}, err
	}
	var fe errs.FieldErrors
	if in.Kind != "" && in.Kind != c.Kind {
		fe.Add("kind", "cannot change; create a new channel")
	}
	if in.OrgID != nil && *in.OrgID != c.OrgID {
		fe.Add("org_id", "cannot change")
	}
	if err := fe.Err(); err != nil {
		return Channel{}, err
	}
	if in.Name != nil {
		c.Name = strings.TrimSpace(*in.Name)
	}
	if in.URL != nil {
		c.URL = strings.TrimSpace(*in.URL)
	}
	if in.Secret != nil {
		c.Secret = *in.Secret
	}
	if in.To != nil {
		c.Recipients = *in.To
	}
	if err := c.validate(s.Guard); err != nil {
		return Channel{}, err
	}
	out, err := scanChannel(s.db.QueryRow(ctx, `UPDATE notification_channels SET name = $2, url = $3, secret = $4, recipients = $5,
		updated_at = now() WHERE id = $1 RETURNING `+channelCols, id, c.Name, c.URL, c.Secret, c.Recipients))
	return out, pg.Err(err, "channel "+c.Name)
}

// DeleteChannel removes a channel p sees, with its rules and deliveries. Errors: Forbidden, NotFound.
func (s *Service) DeleteChannel(ctx context.Context, p auth.Principal, id int64) error {
	if _, err := s.Channel(ctx, p, id); err != nil {
		return err
	}
	_, err := s.db.Exec(ctx, `DELETE FROM notification_channels WHERE id = $1`, id)
	return pg.Err(err, "channel")
}

const ruleCols = `r.id, r.org_id, r.name, r.channel_id, r.alarm_kinds, r.asset_ids, r.escalate_after_s, r.then_rule_id, r.created_at, r.updated_at, o.role`

func scanRule(row pgx.Row, extra ...any) (Rule, error) {
	var r Rule
	var esc *int
	var role auth.Role
	err := row.Scan(append([]any{&r.ID, &r.OrgID, &r.Name, &r.ChannelID, &r.AlarmKinds, &r.AssetIDs, &esc, &r.ThenRuleID, &r.CreatedAt, &r.UpdatedAt, &role}, extra...)...)
	if esc != nil {
		r.escalate = time.Duration(*esc) * time.Second
		r.EscalateAfter = r.escalate.String()
	}
	r.orgStaff = auth.Principal{Role: role}.Staff()
	return r, err
}

// Rule returns a rule p sees. Errors: Forbidden, NotFound.
func (s *Service) Rule(ctx context.Context, p auth.Principal, id int64) (Rule, error) {
	if _, err := scope(p); err != nil {
		return Rule{}, err
	}
	r, err := scanRule(s.db.QueryRow(ctx, `SELECT `+ruleCols+` FROM notification_rules r JOIN orgs o ON o.id = r.org_id WHERE r.id = $1`, id))
	if err != nil {
		return Rule{}, pg.Err(err, fmt.Sprintf("rule %d", id))
	}
	if !visible(p, r.OrgID) {
		return Rule{}, errs.E(errs.NotFound, "rule %d not found", id)
	}
	return r, nil
}

// Rules lists the rules p sees (admins, coordinators: all, or one organisation's), by id. Errors: Forbidden.
func (s *Service) Rules(ctx context.Context, p auth.Principal, org int64, page pg.Page) ([]Rule, int, error) {
	all, err := scope(p)
	if err != nil {
		return nil, 0, err
	}
	if !all {
		org = p.OrgID
	}
	q := pg.Query{Cols: ruleCols, From: "notification_rules r", Joins: ` JOIN orgs o ON o.id = r.org_id`, Key: "r.id"}
	if org != 0 {
		q.Where, q.Args = []string{"r.org_id = $1"}, []any{org}
	}
	var after int64
	sql, args, err := q.Page(page, &after)
	if err != nil {
		return nil, 0, err
	}
	rows, err := s.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, 0, pg.Err(err, "rules")
	}
	defer rows.Close()
	out, total := []Rule{}, 0
	for rows.Next() {
		r, err := scanRule(rows, &total)
		if err != nil {
			return nil, 0, pg.Err(err, "rules")
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, pg.Err(err, "rules")
	}
	if len(out) == 0 { // an empty page carries no count
		total, err = q.Count(ctx, s.db)
	}
	return out, total, pg.Err(err, "rules")
}

// saveRule checks a rule against its channel and its escalation chain and stores it (r.ID 0: new).
func (s *Service) saveRule(ctx context.Context, p auth.Principal, r Rule) (Rule, error) {
	if r.AlarmKinds == nil {
		r.AlarmKinds = []string{}
	}
	if r.AssetIDs == nil {
		r.AssetIDs = []string{}
	}
	fe := errs.FieldErrors{}
	if err := r.validate(); err != nil {
		fe = append(fe, errs.As(err).Fields...)
	}
	ch, err := s.Channel(ctx, p, r.ChannelID)
	switch {
	case r.ChannelID == 0:
		fe.Add("channel_id", "is required")
	case errs.Is(err, errs.NotFound):
		fe.Add("channel_id", "no channel %d", r.ChannelID)
	case err != nil:
		return Rule{}, err
	default:
		r.OrgID = ch.OrgID // a rule is its channel's organisation's
	}
	if r.ThenRuleID != nil {
		if _, err := s.Rule(ctx, p, *r.ThenRuleID); errs.Is(err, errs.NotFound) {
			fe.Add("then_rule_id", "no rule %d", *r.ThenRuleID)
		} else if err != nil {
			return Rule{}, err
		} else if r.ID != 0 && s.leadsTo(ctx, *r.ThenRuleID, r.ID) {
			fe.Add("then_rule_id", "would make the escalation go round in a circle back to this rule")
		}
	}
	if err := fe.Err(); err != nil {
		return Rule{}, err
	}
	var esc *int
	if r.escalate > 0 {
		v := int(r.escalate / time.Second)
		esc = &v
	}
	var id int64
	if r.ID == 0 {
		err = s.db.QueryRow(ctx, `INSERT INTO notification_rules (org_id, name, channel_id, alarm_kinds, asset_ids, escalate_after_s, then_rule_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, r.OrgID, r.Name, r.ChannelID, r.AlarmKinds, r.AssetIDs, esc, r.ThenRuleID).Scan(&id)
	} else {
		id = r.ID
		_, err = s.db.Exec(ctx, `UPDATE notification_rules SET org_id = $2, name = $3, channel_id = $4, alarm_kinds = $5, asset_ids = $6,
			escalate_after_s = $7, then_rule_id = $8, updated_at = now() WHERE id = $1`, r.ID, r.OrgID, r.Name, r.ChannelID, r.AlarmKinds, r.AssetIDs, esc, r.ThenRuleID)
	}
	if err != nil {
		return Rule{}, pg.Err(err, "rule")
	}
	return s.Rule(ctx, p, id)
}

// leadsTo reports whether following then_rule_id from `from` reaches `to`.
func (s *Service) leadsTo(ctx context.Context, from, to int64) bool {
	var found bool
	_ = s.db.QueryRow(ctx, `WITH RECURSIVE chain(id, depth) AS (
			SELECT $1::bigint, 0
			UNION ALL SELECT r.then_rule_id, c.depth + 1 FROM notification_rules r JOIN chain c ON r.id = c.id
			WHERE r.then_rule_id IS NOT NULL AND c.depth < 50)
		SELECT EXISTS (SELECT 1 FROM chain WHERE id = $2)`, from, to).Scan(&found)
	return found
}

func (in RuleInput) apply(r *Rule) {
	if in.Name != nil {
		r.Name = strings.TrimSpace(*in.Name)
	}
	if in.ChannelID != nil {
		r.ChannelID = *in.ChannelID
	}
	if in.AlarmKinds != nil {
		r.AlarmKinds = slices.Clone(*in.AlarmKinds)
	}
	if in.AssetIDs != nil {
		r.AssetIDs = slices.Clone(*in.AssetIDs)
	}
	if in.EscalateAfter != nil {
		r.EscalateAfter = strings.TrimSpace(*in.EscalateAfter)
		if r.EscalateAfter == "" {
			r.ThenRuleID = nil
		}
	}
	if in.ThenRuleID != nil {
		r.ThenRuleID = in.ThenRuleID
	}
}

// CreateRule creates a rule on a channel p sees; the rule belongs to the channel's organisation. Errors:
// Forbidden, Unprocessable naming the fields.
func (s *Service) CreateRule(ctx context.Context, p auth.Principal, in RuleInput) (Rule, error) {
	if _, err := scope(p); err != nil {
		return Rule{}, err
	}
	if in.OrgID != nil {
		var fe errs.FieldErrors
		fe.Add("org_id", "is the channel's organisation; leave it out")
		return Rule{}, fe.Err()
	}
	var r Rule
	in.apply(&r)
	return s.saveRule(ctx, p, r)
}

// UpdateRule changes a rule p sees; nil fields stay. Errors: Forbidden, NotFound, Unprocessable.
func (s *Service) UpdateRule(ctx context.Context, p auth.Principal, id int64, in RuleInput) (Rule, error) {
	r, err := s.Rule(ctx, p, id)
	if err != nil {
		return Rule{}, err
	}
	if in.OrgID != nil && *in.OrgID != r.OrgID {
		var fe errs.FieldErrors
		fe.Add("org_id", "cannot change")
		return Rule{}, fe.Err()
	}
	in.apply(&r)
	return s.saveRule(ctx, p, r)
}

// DeleteRule removes a rule p sees; rules escalating to it stop escalating. Errors: Forbidden, NotFound.
func (s *Service) DeleteRule(ctx context.Context, p auth.Principal, id int64) error {
	if _, err := s.Rule(ctx, p, id); err != nil {
		return err
	}
	_, err := s.db.Exec(ctx, `DELETE FROM notification_rules WHERE id = $1`, id)
	return pg.Err(err, "rule")
}

// DeliveryFilter narrows the delivery log. Zero fields do not filter.
type DeliveryFilter struct {
	AlarmIDs  []int64
	ChannelID int64
	Status    string
}

const deliveryCols = `d.id, d.channel_id, c.name, c.kind, d.rule_id, d.alarm_id, d.event_id, d.change, d.status, d.attempts,
	d.next_attempt_at, d.last_error, d.sent_at, d.created_at`

func scanDelivery(row pgx.Row, extra ...any) (Delivery, error) {
	var d Delivery
	err := row.Scan(append([]any{&d.ID, &d.ChannelID, &d.ChannelName, &d.ChannelKind, &d.RuleID, &d.AlarmID, &d.EventID, &d.Change,
		&d.Status, &d.Attempts, &d.NextAttemptAt, &d.LastError, &d.SentAt, &d.CreatedAt}, extra...)...)
	if d.Status != Pending {
		d.NextAttemptAt = nil
	}
	return d, err
}

// Deliveries lists the deliveries to channels p sees, newest first, with the total. Errors: Forbidden,
// Unprocessable (bad status).
func (s *Service) Deliveries(ctx context.Context, p auth.Principal, f DeliveryFilter, page pg.Page) ([]Delivery, int, error) {
	all, err := scope(p)
	if err != nil {
		return nil, 0, err
	}
	if f.Status != "" && f.Status != Pending && f.Status != Sent && f.Status != Failed {
		var fe errs.FieldErrors
		fe.Add("status", "must be pending, sent or failed")
		return nil, 0, fe.Err()
	}
	org := int64(0)
	if !all {
		org = p.OrgID
	}
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "$?", "$"+strconv.Itoa(len(args))))
	}
	if org != 0 {
		add("EXISTS (SELECT 1 FROM notification_channels oc WHERE oc.id = d.channel_id AND oc.org_id = $?)", org)
	}
	if len(f.AlarmIDs) > 0 {
		add("d.alarm_id = ANY($?::bigint[])", append([]int64{}, f.AlarmIDs...))
	}
	if f.ChannelID != 0 {
		add("d.channel_id = $?", f.ChannelID)
	}
	if f.Status != "" {
		add("d.status = $?", f.Status)
	}
	q := pg.Query{Cols: deliveryCols, From: "notification_deliveries d", Joins: ` JOIN notification_channels c ON c.id = d.channel_id`,
		Where: where, Args: args, Key: "d.id", Desc: true}
	var after int64
	sql, args, err := q.Page(page, &after)
	if err != nil {
		return nil, 0, err
	}
	rows, err := s.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, 0, pg.Err(err, "deliveries")
	}
	defer rows.Close()
	out, total := []Delivery{}, 0
	for rows.Next() {
		d, err := scanDelivery(rows, &total)
		if err != nil {
			return nil, 0, pg.Err(err, "deliveries")
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, pg.Err(err, "deliveries")
	}
	if len(out) == 0 { // an empty page carries no count
		total, err = q.Count(ctx, s.db)
	}
	return out, total, pg.Err(err, "deliveries")
}

// Attempts returns the attempts of a delivery to a channel p sees, in order. Errors: Forbidden, NotFound.
func (s *Service) Attempts(ctx context.Context, p auth.Principal, deliveryID int64) ([]Attempt, error) {
	all, err := scope(p)
	if err != nil {
		return nil, err
	}
	var org int64
	err = s.db.QueryRow(ctx, `SELECT c.org_id FROM notification_deliveries d JOIN notification_channels c ON c.id = d.channel_id
		WHERE d.id = $1`, deliveryID).Scan(&org)
	if err != nil {
		return nil, pg.Err(err, fmt.Sprintf("delivery %d", deliveryID))
	}
	if !all && org != p.OrgID {
		return nil, errs.E(errs.NotFound, "delivery %d not found", deliveryID)
	}
	rows, err := s.db.Query(ctx, `SELECT id, delivery_id, n, at, ok, status_code, error, duration_ms FROM notification_attempts
		WHERE delivery_id = $1 ORDER BY id`, deliveryID)
	if err != nil {
		return nil, pg.Err(err, "attempts")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Attempt, error) {
		var a Attempt
		err := r.Scan(&a.ID, &a.DeliveryID, &a.N, &a.At, &a.OK, &a.StatusCode, &a.Error, &a.DurationMS)
		return a, err
	})
	if out == nil {
		out = []Attempt{}
	}
	return out, pg.Err(err, "attempts")
}
