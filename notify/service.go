package notify

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

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
