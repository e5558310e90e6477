package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
)

// KeyInfo describes an API key without its secret.
type KeyInfo struct {
	ID         int64      `json:"id"`
	OrgID      int64      `json:"org_id"`
	Prefix     string     `json:"prefix"`
	Label      string     `json:"label"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// Keys look like "sl_<prefix>_<secret>": the prefix finds the row, the secret is 256 random bits.
const keyScheme = "sl_"

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand never fails on Linux
	return strings.ToLower(b32.EncodeToString(b))
}

func hashKey(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// CreateKey issues a new key for an organisation and returns it in clear, the only time it is ever available.
// Errors: NotFound for an unknown organisation.
func (s *Store) CreateKey(ctx context.Context, orgID int64, label string) (string, KeyInfo, error) {
	prefix := randomToken(5)
	key := keyScheme + prefix + "_" + randomToken(32)
	k := KeyInfo{OrgID: orgID, Prefix: prefix, Label: label}
	err := s.db.QueryRow(ctx, `INSERT INTO api_keys (org_id, prefix, hash, label) VALUES ($1, $2, $3, $4)
		RETURNING id, created_at`, orgID, prefix, hashKey(key), label).Scan(&k.ID, &k.CreatedAt)
	if err != nil {
		if errs.CodeOf(pg.Err(err, "")) == errs.Unprocessable {
			return "", KeyInfo{}, errs.E(errs.NotFound, "organisation not found")
		}
		return "", KeyInfo{}, pg.Err(err, "api key")
	}
	return key, k, nil
}

// Keys lists an organisation's keys, without secrets.
func (s *Store) Keys(ctx context.Context, orgID int64) ([]KeyInfo, error) {
	rows, err := s.db.Query(ctx, `SELECT id, org_id, prefix, label, created_at, last_used_at, revoked_at
		FROM api_keys WHERE org_id = $1 ORDER BY id`, orgID)
	if err != nil {
		return nil, pg.Err(err, "api keys")
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (KeyInfo, error) {
		var k KeyInfo
		err := r.Scan(&k.ID, &k.OrgID, &k.Prefix, &k.Label, &k.CreatedAt, &k.LastUsedAt, &k.RevokedAt)
		return k, err
	})
}

// RevokeKey stops a key from working. Errors: NotFound when the key is not the organisation's.
func (s *Store) RevokeKey(ctx context.Context, orgID, keyID int64) error {
	tag, err := s.db.Exec(ctx, `UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND org_id = $2 AND revoked_at IS NULL`, keyID, orgID)
	if err != nil {
		return pg.Err(err, "api key")
	}
	if tag.RowsAffected() == 0 {
		return errs.E(errs.NotFound, "api key not found")
	}
	s.keys.forget(keyID)
	return nil
}

var errBadKey = errs.E(errs.Unauthorized, "invalid or revoked API key")

// Authenticate returns the principal of a bearer key, from the key cache when CacheKeys set one and the key was
// seen lately. Errors: Unauthorized for a malformed, unknown or revoked key (one message for all, so that a
// caller learns nothing about which).
func (s *Store) Authenticate(ctx context.Context, key string) (Principal, error) {
	rest, ok := strings.CutPrefix(key, keyScheme)
	if !ok {
		return Principal{}, errBadKey
	}
	prefix, _, ok := strings.Cut(rest, "_")
	if !ok || prefix == "" {
		return Principal{}, errBadKey
	}
	sum := sha256.Sum256([]byte(key))
	if p, ok := s.keys.get(sum, s.Now()); ok {
		return p, nil
	}
	var p Principal
	var hash []byte
	var lastUsed *time.Time
	err := s.db.QueryRow(ctx, `SELECT k.id, k.hash, k.last_used_at, o.id, o.name, o.role
		FROM api_keys k JOIN orgs o ON o.id = k.org_id
		WHERE k.prefix = $1 AND k.revoked_at IS NULL`, prefix).Scan(&p.KeyID, &hash, &lastUsed, &p.OrgID, &p.OrgName, &p.Role)
	if errors.Is(err, pgx.ErrNoRows) {
		return Principal{}, errBadKey
	}
	if err != nil {
		return Principal{}, pg.Err(err, "api key")
	}
	if subtle.ConstantTimeCompare(hash, sum[:]) != 1 {
		return Principal{}, errBadKey
	}
	// Recording use at most once a minute keeps authentication from writing on every request.
	now := s.Now()
	if lastUsed == nil || now.Sub(*lastUsed) > time.Minute {
		_, _ = s.db.Exec(ctx, `UPDATE api_keys SET last_used_at = $2 WHERE id = $1`, p.KeyID, now)
	}
	s.keys.put(sum, p, now)
	return p, nil
}
