package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
)

// SessionPolicy bounds a session's life: it ends Absolute after sign-in, or after Idle without a request,
// whichever comes first.
type SessionPolicy struct {
	Idle     time.Duration
	Absolute time.Duration
}

// DefaultSessionPolicy suits a working day at the office: an hour away from the desk signs you out, and
// nobody stays signed in overnight.
var DefaultSessionPolicy = SessionPolicy{Idle: time.Hour, Absolute: 12 * time.Hour}

// Session is a signed-in person's session, without its token.
type Session struct {
	ID         int64     `json:"id"`
	UserID     int64     `json:"user_id"`
	CSRF       string    `json:"-"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	Idle       time.Duration
}

// IdleDeadline is when the session ends unless it is used again.
func (s Session) IdleDeadline() time.Time { return s.LastSeenAt.Add(s.Idle) }

// Expired reports whether the session has ended at now, by either limit.
func (s Session) Expired(now time.Time) bool {
	return !now.Before(s.ExpiresAt) || !now.Before(s.IdleDeadline())
}

// CSRFMatches compares a submitted CSRF token with the session's in constant time.
func (s Session) CSRFMatches(token string) bool {
	return token != "" && s.CSRF != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.CSRF)) == 1
}

// Session tokens look like "ss_<secret>", the secret 256 random bits; the prefix tells them from API keys in
// logs and secret scanners.
const sessionScheme = "ss_"

// touchEvery bounds how often a request writes last_seen_at: the idle limit is kept to within this much, and
// reading a page does not write to the database every time.
const touchEvery = time.Minute

// CreateSession starts a session for a user and returns its token, the only time it exists in clear.
// Errors: Unprocessable for a policy without both limits, NotFound for an unknown user.
func (s *Store) CreateSession(ctx context.Context, userID int64, pol SessionPolicy, userAgent string) (string, Session, error) {
	if pol.Idle <= 0 || pol.Absolute <= 0 {
		return "", Session{}, errs.E(errs.Unprocessable, "a session needs both an idle and an absolute limit")
	}
	userAgent = clip(userAgent, 300)
	token := sessionScheme + randomToken(32)
	now := s.Now()
	sess := Session{UserID: userID, CSRF: randomToken(32), CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(pol.Absolute), Idle: pol.Idle}
	err := s.db.QueryRow(ctx, `INSERT INTO user_sessions (user_id, token_hash, csrf_token, created_at, last_seen_at, expires_at, idle_seconds, user_agent)
		VALUES ($1, $2, $3, $4, $4, $5, $6, $7) RETURNING id`,
		userID, hashKey(token), sess.CSRF, now, sess.ExpiresAt, int(pol.Idle.Seconds()+0.5), userAgent).Scan(&sess.ID)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23503" { // the user's foreign key: no such user
		return "", Session{}, errs.E(errs.NotFound, "user not found")
	}
	if err != nil {
		return "", Session{}, pg.Err(err, "session")
	}
	return token, sess, nil
}

// clip shortens s to at most n bytes of valid UTF-8 without NULs: a header may hold anything, PostgreSQL text
// may not.
func clip(s string, n int) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

var errNoSession = errs.E(errs.Unauthorized, "not signed in, or the session has expired; please sign in again")

// SessionByToken returns the live session of a token and its user, and records the use (which pushes the
// idle deadline back). Errors: Unauthorized for an unknown or expired token (an expired session is deleted),
// a disabled user, or a user whose organisation is no longer allowed on the dashboard.
func (s *Store) SessionByToken(ctx context.Context, token string) (Session, User, error) {
	if len(token) <= len(sessionScheme) || token[:len(sessionScheme)] != sessionScheme {
		return Session{}, User{}, errNoSession
	}
	var sess Session
	var idle int
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+userCols+`, s.id, s.csrf_token, s.created_at, s.last_seen_at, s.expires_at, s.idle_seconds
		FROM user_sessions s JOIN users u ON u.id = s.user_id JOIN orgs o ON o.id = u.org_id
		WHERE s.token_hash = $1`, hashKey(token)),
		&sess.ID, &sess.CSRF, &sess.CreatedAt, &sess.LastSeenAt, &sess.ExpiresAt, &idle)
	if errors.Is(err, pgx.ErrNoRows) {
		return Session{}, User{}, errNoSession
	}
	if err != nil {
		return Session{}, User{}, pg.Err(err, "session")
	}
	sess.UserID = u.ID
	sess.Idle = time.Duration(idle) * time.Second
	now := s.Now()
	if sess.Expired(now) || u.Disabled || !u.Role.SignsIn() {
		_, _ = s.db.Exec(ctx, `DELETE FROM user_sessions WHERE id = $1`, sess.ID)
		return Session{}, User{}, errNoSession
	}
	if now.Sub(sess.LastSeenAt) >= touchEvery {
		if _, err := s.db.Exec(ctx, `UPDATE user_sessions SET last_seen_at = $2 WHERE id = $1`, sess.ID, now); err != nil {
			return Session{}, User{}, pg.Err(err, "session")
		}
		sess.LastSeenAt = now
	}
	return sess, u, nil
}

// DeleteSession ends the session of a token (signing out). Deleting an unknown or already ended session is
// not an error: the outcome is the same.
func (s *Store) DeleteSession(ctx context.Context, token string) error {
	_, err := s.db.Exec(ctx, `DELETE FROM user_sessions WHERE token_hash = $1`, hashKey(token))
	return pg.Err(err, "session")
}

// DeleteExpiredSessions removes sessions past either limit and returns how many.
func (s *Store) DeleteExpiredSessions(ctx context.Context) (int64, error) {
	now := s.Now()
	tag, err := s.db.Exec(ctx, `DELETE FROM user_sessions
		WHERE expires_at <= $1 OR last_seen_at + make_interval(secs => idle_seconds) <= $1`, now)
	if err != nil {
		return 0, pg.Err(err, "sessions")
	}
	return tag.RowsAffected(), nil
}
