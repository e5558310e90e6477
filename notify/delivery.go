package notify

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
)

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
	return pg.List(ctx, s.db, q, page, "deliveries", func(row pgx.Row, total *int) (Delivery, error) { return scanDelivery(row, total) }, &after)
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
