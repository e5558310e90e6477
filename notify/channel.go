package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
)

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
	return pg.List(ctx, s.db, q, page, "channels", func(row pgx.Row, total *int) (Channel, error) {
		var c Channel
		err := row.Scan(&c.ID, &c.OrgID, &c.Kind, &c.Name, &c.URL, &c.Secret, &c.Recipients, &c.Failures, &c.FailingSince,
			&c.LastError, &c.LastSuccessAt, &c.CreatedAt, &c.UpdatedAt, total)
		c.mask()
		return c, err
	}, &after)
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
