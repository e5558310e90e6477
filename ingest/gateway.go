package ingest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
)

// newPassword returns an MQTT password of 192 random bits.
func newPassword() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashPassword is how gateway passwords are stored.
func HashPassword(pw string) []byte {
	h := sha256.Sum256([]byte(pw))
	return h[:]
}

// PasswordMatches compares a password with a stored hash in constant time.
func PasswordMatches(hash []byte, pw string) bool {
	h := HashPassword(pw)
	return len(hash) == len(h) && subtle.ConstantTimeCompare(hash, h) == 1
}

const gatewayCols = `id, name, org_id, sampling_interval_s, status, status_at, last_seen_at, created_at`

func scanGateway(row pgx.Row) (Gateway, error) {
	var g Gateway
	err := row.Scan(&g.ID, &g.Name, &g.OrgID, &g.SamplingIntervalS, &g.Status, &g.StatusAt, &g.LastSeenAt, &g.CreatedAt)
	return g, err
}

// CreateGateway registers a gateway and returns it with its MQTT password, which is not stored in clear and
// cannot be shown again. Errors: Unprocessable (bad fields), Conflict (id taken).
func (s *Store) CreateGateway(ctx context.Context, g Gateway, simulated bool) (Gateway, string, error) {
	if g.SamplingIntervalS == 0 {
		g.SamplingIntervalS = 30
	}
	if err := g.Validate(); err != nil {
		return Gateway{}, "", err
	}
	pw := newPassword()
	const q = `INSERT INTO gateways (id, name, org_id, password_hash, sampling_interval_s, simulated)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING ` + gatewayCols
	out, err := scanGateway(s.db.QueryRow(ctx, q, g.ID, g.Name, g.OrgID, HashPassword(pw), g.SamplingIntervalS, simulated))
	if err != nil {
		return Gateway{}, "", pg.Err(err, "gateway "+g.ID)
	}
	return out, pw, nil
}

// Gateway returns one gateway. Errors: NotFound.
func (s *Store) Gateway(ctx context.Context, id string) (Gateway, error) {
	g, err := scanGateway(s.db.QueryRow(ctx, `SELECT `+gatewayCols+` FROM gateways WHERE id = $1`, id))
	return g, pg.Err(err, "gateway "+id)
}

// PageKey is the gateway's place in Gateways' order, by id.
func (g Gateway) PageKey() []any { return []any{g.ID} }

// Gateways lists gateways by id, with the total (up to pg.CountCap). Errors: Invalid (a cursor of another
// list).
func (s *Store) Gateways(ctx context.Context, p Page) ([]Gateway, int, error) {
	q := pg.Query{Cols: gatewayCols, From: "gateways", Key: "id"}
	var after string
	return pg.List(ctx, s.db, q, p, "gateways", func(row pgx.Row, total *int) (Gateway, error) {
		var g Gateway
		err := row.Scan(&g.ID, &g.Name, &g.OrgID, &g.SamplingIntervalS, &g.Status, &g.StatusAt, &g.LastSeenAt, &g.CreatedAt, total)
		return g, err
	}, &after)
}

// GatewayUpdate changes a gateway; nil fields stay.
type GatewayUpdate struct {
	Name              *string `json:"name"`
	SamplingIntervalS *int    `json:"sampling_interval_s"`
}

// UpdateGateway changes a gateway. Errors: NotFound, Unprocessable.
func (s *Store) UpdateGateway(ctx context.Context, id string, u GatewayUpdate) (Gateway, error) {
	var out Gateway
	err := pg.WithTx(ctx, s.db, func(tx pgx.Tx) error {
		g, err := scanGateway(tx.QueryRow(ctx, `SELECT `+gatewayCols+` FROM gateways WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return pg.Err(err, "gateway "+id)
		}
		if u.Name != nil {
			g.Name = *u.Name
		}
		if u.SamplingIntervalS != nil {
			g.SamplingIntervalS = *u.SamplingIntervalS
		}
		if err := g.Validate(); err != nil {
			return err
		}
		out, err = scanGateway(tx.QueryRow(ctx, `UPDATE gateways SET name = $2, sampling_interval_s = $3, updated_at = now()
			WHERE id = $1 RETURNING `+gatewayCols, id, g.Name, g.SamplingIntervalS))
		return pg.Err(err, "gateway "+id)
	})
	return out, err
}

// ResetGatewayPassword gives a gateway a new MQTT password and returns it (shown once). Errors: NotFound.
func (s *Store) ResetGatewayPassword(ctx context.Context, id string) (string, error) {
	pw := newPassword()
	tag, err := s.db.Exec(ctx, `UPDATE gateways SET password_hash = $2, updated_at = now() WHERE id = $1`, id, HashPassword(pw))
	if err != nil {
		return "", pg.Err(err, "gateway "+id)
	}
	if tag.RowsAffected() == 0 {
		return "", errs.E(errs.NotFound, "gateway %s not found", id)
	}
	return pw, nil
}

// DeleteGateway removes a gateway. Errors: NotFound, Conflict while sensors are attached to it.
func (s *Store) DeleteGateway(ctx context.Context, id string) error {
	tag, err := s.db.Exec(ctx, `DELETE FROM gateways WHERE id = $1`, id)
	if err != nil {
		if errs.CodeOf(pg.Err(err, "")) == errs.Unprocessable {
			return errs.E(errs.Conflict, "gateway %s still has sensors; move or delete them first", id)
		}
		return pg.Err(err, "gateway "+id)
	}
	if tag.RowsAffected() == 0 {
		return errs.E(errs.NotFound, "gateway %s not found", id)
	}
	return nil
}

// GatewayCredential is what the broker's authentication needs of a gateway.
type GatewayCredential struct {
	ID           string
	PasswordHash []byte
}

// GatewayCredentials returns every gateway's password hash (the broker's credential cache).
func (s *Store) GatewayCredentials(ctx context.Context) ([]GatewayCredential, error) {
	rows, err := s.db.Query(ctx, `SELECT id, password_hash FROM gateways`)
	if err != nil {
		return nil, pg.Err(err, "gateways")
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (GatewayCredential, error) {
		var c GatewayCredential
		err := r.Scan(&c.ID, &c.PasswordHash)
		return c, err
	})
}

// GatewayCredentialsOf returns the password hashes of those of ids that are registered gateways.
func (s *Store) GatewayCredentialsOf(ctx context.Context, ids []string) ([]GatewayCredential, error) {
	rows, err := s.db.Query(ctx, `SELECT id, password_hash FROM gateways WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, pg.Err(err, "gateways")
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (GatewayCredential, error) {
		var c GatewayCredential
		err := r.Scan(&c.ID, &c.PasswordHash)
		return c, err
	})
}

// SimulatedGateways lists the gateways the simulator may drive.
func (s *Store) SimulatedGateways(ctx context.Context) ([]Gateway, error) {
	rows, err := s.db.Query(ctx, `SELECT `+gatewayCols+` FROM gateways WHERE simulated ORDER BY id`)
	if err != nil {
		return nil, pg.Err(err, "gateways")
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Gateway, error) { return scanGateway(r) })
}

// SetGatewayStatus records a gateway's retained online/offline status, ignoring statuses older than the one
// stored (a retained status replayed after a newer one).
func (s *Store) SetGatewayStatus(ctx context.Context, id, state string, at time.Time) error {
	if state != "online" && state != "offline" {
		return errs.E(errs.Unprocessable, "status must be online or offline")
	}
	_, err := s.db.Exec(ctx, `UPDATE gateways SET status = $2, status_at = $3
		WHERE id = $1 AND (status_at IS NULL OR status_at <= $3)`, id, state, at)
	return pg.Err(err, "gateway "+id)
}

// TouchGateways records when gateways were last heard from.
func (s *Store) TouchGateways(ctx context.Context, seen map[string]time.Time) error {
	if len(seen) == 0 {
		return nil
	}
	ids := make([]string, 0, len(seen))
	ats := make([]time.Time, 0, len(seen))
	for id, at := range seen {
		ids = append(ids, id)
		ats = append(ats, at)
	}
	_, err := s.db.Exec(ctx, `UPDATE gateways g SET last_seen_at = greatest(g.last_seen_at, v.at)
		FROM unnest($1::text[], $2::timestamptz[]) AS v(id, at) WHERE g.id = v.id`, ids, ats)
	return pg.Err(err, "gateways")
}
