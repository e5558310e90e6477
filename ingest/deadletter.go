package ingest

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/internal/pg"
)

// maxDeadPayload bounds the JSON kept of one rejected reading.
const maxDeadPayload = 1024

// DeadLetter is one rejected message, or one rejected reading of a message.
type DeadLetter struct {
	ID         int64     `json:"id"`
	ReceivedAt time.Time `json:"received_at"`
	GatewayID  string    `json:"gateway_id"`
	Topic      string    `json:"topic"`
	Reason     Reason    `json:"reason"`
	Field      string    `json:"field,omitempty"`
	Detail     string    `json:"detail"`
	SensorID   string    `json:"sensor_id,omitempty"`
	// ReadingIndex is the reading's position in its message; nil when the whole message was rejected.
	ReadingIndex *int `json:"reading_index"`
	// Payload is the rejected reading's JSON, or the start of the rejected message.
	Payload string `json:"payload"`
}

// deadLetterOf builds the record of a rejection. Payload bytes are copied (and made valid UTF-8 without NULs,
// which PostgreSQL text cannot hold).
func deadLetterOf(rej *Rejection, gatewayID, topic string, at time.Time) DeadLetter {
	raw := rej.Raw
	if len(raw) > maxDeadPayload {
		raw = raw[:maxDeadPayload]
	}
	d := DeadLetter{ReceivedAt: at, GatewayID: gatewayID, Topic: topic, Reason: rej.Reason, Field: rej.Field,
		Detail: rej.Detail, SensorID: rej.SensorID, Payload: cleanText(raw)}
	if rej.Index >= 0 {
		i := rej.Index
		d.ReadingIndex = &i
	}
	return d
}

func cleanText(b []byte) string {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

// InsertDeadLetters stores rejected messages and readings in one round trip.
func (s *Store) InsertDeadLetters(ctx context.Context, ds []DeadLetter) error {
	if len(ds) == 0 {
		return nil
	}
	return pg.WithTx(ctx, s.db, func(tx pgx.Tx) error {
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"dead_letters"},
			[]string{"received_at", "gateway_id", "topic", "reason", "field", "detail", "sensor_id", "reading_index", "payload"},
			pgx.CopyFromSlice(len(ds), func(i int) ([]any, error) {
				d := &ds[i]
				return []any{d.ReceivedAt, cleanText([]byte(d.GatewayID)), cleanText([]byte(d.Topic)), string(d.Reason), d.Field,
					cleanText([]byte(d.Detail)), cleanText([]byte(d.SensorID)), d.ReadingIndex, d.Payload}, nil
			}))
		return pg.Err(err, "dead letter")
	})
}

// DeadLetterFilter narrows DeadLetters.
type DeadLetterFilter struct {
	GatewayID string
	Reason    Reason
	From, To  time.Time
}

// PageKey is the record's place in DeadLetters' order, newest first.
func (d DeadLetter) PageKey() []any { return []any{d.ReceivedAt, d.ID} }

// DeadLetters lists rejected messages and readings, newest first, with the total (up to pg.CountCap). Errors:
// Invalid (a cursor of another list).
func (s *Store) DeadLetters(ctx context.Context, f DeadLetterFilter, p Page) ([]DeadLetter, int, error) {
	where, args := []string{"true"}, []any{}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.GatewayID != "" {
		add("gateway_id = $%d", f.GatewayID)
	}
	if f.Reason != "" {
		add("reason = $%d", string(f.Reason))
	}
	if !f.From.IsZero() {
		add("received_at >= $%d", f.From)
	}
	if !f.To.IsZero() {
		add("received_at < $%d", f.To)
	}
	q := pg.Query{Cols: `id, received_at, gateway_id, topic, reason, field, detail, sensor_id, reading_index, payload`,
		From: "dead_letters", Where: where, Args: args, Key: "received_at, id", Desc: true}
	var receivedAt time.Time
	var after int64
	return pg.List(ctx, s.db, q, p, "dead letters", func(row pgx.Row, total *int) (DeadLetter, error) {
		var d DeadLetter
		err := row.Scan(&d.ID, &d.ReceivedAt, &d.GatewayID, &d.Topic, &d.Reason, &d.Field, &d.Detail, &d.SensorID,
			&d.ReadingIndex, &d.Payload, total)
		return d, err
	}, &receivedAt, &after)
}

// DeadLetterCounts counts the dead letter by reason.
func (s *Store) DeadLetterCounts(ctx context.Context) (map[Reason]int, error) {
	rows, err := s.db.Query(ctx, `SELECT reason, count(*) FROM dead_letters GROUP BY 1`)
	if err != nil {
		return nil, pg.Err(err, "dead letters")
	}
	defer rows.Close()
	out := map[Reason]int{}
	for rows.Next() {
		var r Reason
		var n int
		if err := rows.Scan(&r, &n); err != nil {
			return nil, pg.Err(err, "dead letters")
		}
		out[r] = n
	}
	return out, pg.Err(rows.Err(), "dead letters")
}

// PruneDeadLetters deletes records received before cutoff and returns how many.
func (s *Store) PruneDeadLetters(ctx context.Context, cutoff time.Time) (int64, error) {
	tag, err := s.db.Exec(ctx, `DELETE FROM dead_letters WHERE received_at < $1`, cutoff)
	return tag.RowsAffected(), pg.Err(err, "dead letters")
}
