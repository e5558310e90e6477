// Package notify tells people of alarms on the channels they already use: signed webhooks, WeCom and DingTalk
// group robots, and email. An organisation keeps its channels and the rules that pick which alarms each channel
// hears of; a rule may escalate: an alarm still unacknowledged after its delay is told to the next rule.
//
// Delivery is an outbox in PostgreSQL. The planner reads ingest's alarm event log (every raise, end,
// acknowledgement and withdrawal, written in the transaction of the change) from a cursor, and in one
// transaction with the cursor's move writes one delivery per channel and change, under a unique key: each change
// reaches a channel at most once however many rules or processes plan it, and none is lost across a restart.
// Workers take due deliveries with FOR UPDATE SKIP LOCKED under a lease, so several processes share them, send
// them, and log every attempt; failures are retried with exponential backoff up to a bound. A worker that dies
// after sending and before recording leaves the lease to run out, and the message is sent again: receivers get
// the delivery id (X-Suilong-Delivery) to drop such a repeat. Nothing here runs on ingest's path: ingest only
// appends to its log.
package notify

import (
	"encoding/json"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/suilong/suilong/internal/errs"
)

// Kind is how a channel delivers.
type Kind string

// Channel kinds (DESIGN.md "People act on the cold chain").
const (
	Webhook  Kind = "webhook"
	WeCom    Kind = "wecom"
	DingTalk Kind = "dingtalk"
	Email    Kind = "email"
)

// Kinds lists every channel kind (metrics labels come from this list only).
var Kinds = []Kind{Webhook, WeCom, DingTalk, Email}

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool { return slices.Contains(Kinds, k) }

// Channel is where an organisation's people are told of alarms. Its secret and URL (a group robot's URL holds
// its access key) are never shown back; URLMasked and SecretSet say what is there.
type Channel struct {
	ID         int64    `json:"id"`
	OrgID      int64    `json:"org_id"`
	Kind       Kind     `json:"kind"`
	Name       string   `json:"name"`
	URL        string   `json:"-"`
	Secret     string   `json:"-"`
	URLMasked  string   `json:"url,omitempty"`
	SecretSet  bool     `json:"secret_set"`
	Recipients []string `json:"to,omitempty"`
	// Failures counts the attempts that failed in a row; FailingSince is when the first of them was.
	Failures      int        `json:"consecutive_failures"`
	FailingSince  *time.Time `json:"failing_since,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
	LastSuccessAt *time.Time `json:"last_success_at,omitempty"`
	Failing       bool       `json:"failing"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
}

// FailingAfter is how many failed attempts in a row make a channel "failing" on the console and in metrics.
const FailingAfter = 3

// mask fills the fields shown in place of the secrets.
func (c *Channel) mask() {
	c.URLMasked = MaskURL(c.URL)
	c.SecretSet = c.Secret != ""
	c.Failing = c.Failures >= FailingAfter
	if c.Recipients == nil && c.Kind == Email {
		c.Recipients = []string{}
	}
}

// MaskURL shows a URL without what could let someone use it: scheme, host and path stay, every query value and
// any user info become "***".
func MaskURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := parseURL(raw)
	if err != nil {
		return "***"
	}
	u.User = nil
	q := u.Query()
	for k := range q {
		q[k] = []string{"***"}
	}
	u.RawQuery = strings.ReplaceAll(q.Encode(), "%2A%2A%2A", "***")
	u.Fragment = ""
	return u.String()
}

// ChannelInput is a request to create a channel, or (with nil fields staying) to change one.
type ChannelInput struct {
	OrgID  *int64    `json:"org_id"`
	Kind   Kind      `json:"kind"`
	Name   *string   `json:"name"`
	URL    *string   `json:"url"`
	Secret *string   `json:"secret"`
	To     *[]string `json:"to"`
}

// MaxRecipients bounds an email channel's list.
const MaxRecipients = 20

// validate checks a channel about to be stored; guard checks its URL.
func (c *Channel) validate(guard *Guard) error {
	var fe errs.FieldErrors
	if !c.Kind.Valid() {
		fe.Add("kind", "must be one of webhook, wecom, dingtalk, email")
	}
	if n := utf8.RuneCountInString(strings.TrimSpace(c.Name)); n == 0 || n > 200 {
		fe.Add("name", "must be 1 to 200 characters")
	}
	if len(c.Secret) > 500 {
		fe.Add("secret", "must be at most 500 bytes")
	}
	switch c.Kind {
	case Webhook, WeCom, DingTalk:
		if c.URL == "" {
			fe.Add("url", "is required for a %s channel", c.Kind)
		} else if err := guard.CheckURL(c.URL); err != nil {
			fe.Add("url", "%s", err.Error())
		}
		if len(c.Recipients) > 0 {
			fe.Add("to", "is only for email channels")
		}
	case Email:
		if c.URL != "" {
			fe.Add("url", "is not used by email channels; give the recipients in to")
		}
		if c.Secret != "" {
			fe.Add("secret", "is not used by email channels")
		}
		switch {
		case len(c.Recipients) == 0:
			fe.Add("to", "give at least one address")
		case len(c.Recipients) > MaxRecipients:
			fe.Add("to", "at most %d addresses", MaxRecipients)
		}
		for i, r := range c.Recipients {
			a, err := mail.ParseAddress(r)
			if err != nil || a.Name != "" || strings.ContainsAny(r, "\r\n") {
				fe.Add(fmt.Sprintf("to[%d]", i), "must be a plain email address such as duty@example.com")
			}
		}
	}
	if c.Kind == DingTalk && c.Secret != "" && !strings.HasPrefix(c.Secret, "SEC") {
		fe.Add("secret", "a DingTalk robot's signing secret starts with SEC (its security settings, 加签)")
	}
	return fe.Err()
}

// Rule picks the alarms a channel hears of: kinds and assets (empty: all), among the alarms its organisation
// sees (coordinators and admins: every asset; others: the assets their organisation owns). With EscalateAfter
// and ThenRuleID, an alarm still unacknowledged that long after it was raised is told to the next rule's
// channel, whose own escalation (if any) then starts.
type Rule struct {
	ID         int64    `json:"id"`
	OrgID      int64    `json:"org_id"`
	Name       string   `json:"name"`
	ChannelID  int64    `json:"channel_id"`
	AlarmKinds []string `json:"alarm_kinds"`
	AssetIDs   []string `json:"asset_ids"`
	// EscalateAfter is Go duration text ("15m"); empty without escalation.
	EscalateAfter string    `json:"escalate_after,omitempty"`
	ThenRuleID    *int64    `json:"then_rule_id"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`

	escalate time.Duration
	orgStaff bool
}

// RuleInput is a request to create a rule, or (with nil fields staying) to change one. An empty escalate_after
// removes the escalation.
type RuleInput struct {
	OrgID         *int64    `json:"org_id"`
	Name          *string   `json:"name"`
	ChannelID     *int64    `json:"channel_id"`
	AlarmKinds    *[]string `json:"alarm_kinds"`
	AssetIDs      *[]string `json:"asset_ids"`
	EscalateAfter *string   `json:"escalate_after"`
	ThenRuleID    *int64    `json:"then_rule_id"`
}

// AlarmKinds are the kinds of alarm a rule may pick (ingest's rules).
var AlarmKinds = []string{"excursion", "door_open", "sensor_silent"}

// MaxEscalation bounds a rule's delay.
const MaxEscalation = 7 * 24 * time.Hour

func (r *Rule) validate() error {
	var fe errs.FieldErrors
	if utf8.RuneCountInString(r.Name) > 200 {
		fe.Add("name", "must be at most 200 characters")
	}
	for i, k := range r.AlarmKinds {
		if !slices.Contains(AlarmKinds, k) {
			fe.Add(fmt.Sprintf("alarm_kinds[%d]", i), "must be one of %s", strings.Join(AlarmKinds, ", "))
		}
	}
	if len(r.AssetIDs) > 1000 {
		fe.Add("asset_ids", "at most 1000 assets")
	}
	for i, a := range r.AssetIDs {
		if a == "" || len(a) > 64 {
			fe.Add(fmt.Sprintf("asset_ids[%d]", i), "must be an asset id")
		}
	}
	r.escalate = 0
	if r.EscalateAfter != "" {
		d, err := time.ParseDuration(r.EscalateAfter)
		switch {
		case err != nil:
			fe.Add("escalate_after", "must be a duration such as 15m or 1h30m")
		case d < time.Second || d > MaxEscalation:
			fe.Add("escalate_after", "must be from 1s to %s", MaxEscalation)
		default:
			r.escalate = d.Truncate(time.Second)
			r.EscalateAfter = r.escalate.String()
		}
		if r.ThenRuleID == nil {
			fe.Add("then_rule_id", "is required with escalate_after: the rule to notify next")
		}
	} else if r.ThenRuleID != nil {
		fe.Add("escalate_after", "is required with then_rule_id: how long an alarm may stay unacknowledged first")
	}
	if r.ThenRuleID != nil && *r.ThenRuleID == r.ID && r.ID != 0 {
		fe.Add("then_rule_id", "must be another rule")
	}
	return fe.Err()
}

// matches reports whether the rule picks an alarm of the kind on the asset of organisation org.
func (r *Rule) matches(kind, asset string, org *int64) bool {
	if !r.orgStaff && (org == nil || *org != r.OrgID) {
		return false
	}
	return (len(r.AlarmKinds) == 0 || slices.Contains(r.AlarmKinds, kind)) &&
		(len(r.AssetIDs) == 0 || slices.Contains(r.AssetIDs, asset))
}

// Event is one change of an alarm from ingest's alarm event log.
type Event struct {
	ID      int64
	AlarmID int64
	AssetID string
	// OrgID is the organisation that owned the asset at the change.
	OrgID  *int64
	Change string
	At     time.Time
	// Alarm is the alarm object (JSON) after the change: the body of webhooks.
	Alarm json.RawMessage
}

// Alarm is what messages say of an alarm, read from its JSON.
type Alarm struct {
	ID         int64      `json:"id"`
	AssetID    string     `json:"asset_id"`
	SensorID   string     `json:"sensor_id"`
	Kind       string     `json:"kind"`
	Status     string     `json:"status"`
	StartedAt  time.Time  `json:"started_at"`
	EndedAt    *time.Time `json:"ended_at"`
	PeakC      *float64   `json:"peak_c"`
	AckedBy    *string    `json:"acked_by"`
	AckComment *string    `json:"ack_comment"`
	MessageZH  string     `json:"message_zh"`
	MessageEN  string     `json:"message_en"`
}

// Changes of an alarm a delivery tells of: ingest's, and an escalation.
const ChangeEscalated = "escalated"

// Delivery is one message to one channel, and its state.
type Delivery struct {
	ID            int64           `json:"id"`
	ChannelID     int64           `json:"channel_id"`
	ChannelName   string          `json:"channel_name"`
	ChannelKind   Kind            `json:"channel_kind"`
	RuleID        *int64          `json:"rule_id"`
	AlarmID       int64           `json:"alarm_id"`
	EventID       *int64          `json:"event_id,omitempty"`
	Change        string          `json:"change"`
	Status        string          `json:"status"` // pending, sent, failed
	Attempts      int             `json:"attempts"`
	NextAttemptAt *time.Time      `json:"next_attempt_at,omitempty"`
	LastError     string          `json:"last_error,omitempty"`
	SentAt        *time.Time      `json:"sent_at,omitempty"`
	CreatedAt     time.Time       `json:"created_at"`
	Payload       json.RawMessage `json:"-"`
}

// Delivery statuses.
const (
	Pending = "pending"
	Sent    = "sent"
	Failed  = "failed"
)

// Attempt is one try of a delivery: the delivery log.
type Attempt struct {
	ID         int64     `json:"id"`
	DeliveryID int64     `json:"delivery_id"`
	N          int       `json:"n"`
	At         time.Time `json:"at"`
	OK         bool      `json:"ok"`
	StatusCode *int      `json:"status_code,omitempty"`
	Error      string    `json:"error,omitempty"`
	DurationMS int       `json:"duration_ms"`
}
