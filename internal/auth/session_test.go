package auth_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg/pgtest"
)

type clock struct{ t time.Time }

func (c *clock) Now() time.Time          { return c.t }
func (c *clock) Advance(d time.Duration) { c.t = c.t.Add(d) }

func TestSessionsExpireWhenIdleAndAbsolutely(t *testing.T) {
	db := pgtest.New(t)
	s := auth.NewStore(db)
	clk := &clock{time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	s.Now = clk.Now
	ctx := context.Background()
	org, err := s.CreateOrg(ctx, "龙岩市发改委", auth.RoleCoordinator)
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.CreateUser(ctx, auth.NewUser{OrgID: org.ID, Username: "lin", City: auth.CityLongyan, Password: "龙岩 counterpart plan"})
	if err != nil {
		t.Fatal(err)
	}
	pol := auth.SessionPolicy{Idle: 30 * time.Minute, Absolute: 2 * time.Hour}
	open := func() string {
		t.Helper()
		tok, sess, err := s.CreateSession(ctx, u.ID, pol, "Mozilla/5.0")
		if err != nil {
			t.Fatal(err)
		}
		if len(sess.CSRF) < 40 || sess.ExpiresAt != clk.t.Add(2*time.Hour) {
			t.Fatalf("session %+v", sess)
		}
		return tok
	}
	alive := func(tok string) bool {
		t.Helper()
		sess, got, err := s.SessionByToken(ctx, tok)
		if err != nil {
			if errs.CodeOf(err) != errs.Unauthorized {
				t.Fatal(err)
			}
			return false
		}
		if got.ID != u.ID || got.City != auth.CityLongyan || sess.UserID != u.ID {
			t.Fatalf("session of %+v", got)
		}
		return true
	}

	// Idle: used every 25 minutes it lives; left alone for 30 it ends.
	tok := open()
	for range 3 {
		clk.Advance(25 * time.Minute)
		if !alive(tok) {
			t.Fatalf("session ended at %s while in use", clk.t)
		}
	}
	clk.Advance(30 * time.Minute)
	if alive(tok) {
		t.Fatal("session outlived its idle limit")
	}
	var n int
	_ = db.QueryRow(ctx, `SELECT count(*) FROM user_sessions`).Scan(&n)
	if n != 0 {
		t.Fatalf("expired session kept (%d rows)", n)
	}

	// Absolute: even in constant use it ends two hours after sign-in.
	tok = open()
	start := clk.t
	for clk.t.Sub(start) < 2*time.Hour-10*time.Minute {
		clk.Advance(10 * time.Minute)
		if !alive(tok) {
			t.Fatalf("session ended after %s", clk.t.Sub(start))
		}
	}
	clk.Advance(10 * time.Minute)
	if alive(tok) {
		t.Fatal("session outlived its absolute limit")
	}

	// Sign-out ends the session at once; the token is nowhere in the database.
	tok = open()
	var dump []byte
	if err := db.QueryRow(ctx, `SELECT convert_to(string_agg(s::text, ','), 'UTF8') FROM user_sessions s`).Scan(&dump); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(dump, []byte(tok[3:])) {
		t.Fatal("user_sessions holds the session token in clear")
	}
	if err := s.DeleteSession(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if alive(tok) {
		t.Fatal("session alive after sign-out")
	}
	for _, bad := range []string{"", "ss_", "sl_abc_def", tok + "x"} {
		if alive(bad) {
			t.Fatalf("token %q accepted", bad)
		}
	}

	// An organisation that becomes one whose role never signs in (a gateway's) takes its people off the pages.
	tok = open()
	if _, err := db.Exec(ctx, `UPDATE orgs SET role = 'gateway' WHERE id = $1`, org.ID); err != nil {
		t.Fatal(err)
	}
	if alive(tok) {
		t.Fatal("session of a gateway organisation's user accepted")
	}

	// Housekeeping removes what has expired and keeps the rest.
	if _, err := db.Exec(ctx, `UPDATE orgs SET role = 'coordinator' WHERE id = $1`, org.ID); err != nil {
		t.Fatal(err)
	}
	old := open()
	clk.Advance(20 * time.Minute)
	fresh := open()
	clk.Advance(15 * time.Minute)
	if n, err := s.DeleteExpiredSessions(ctx); err != nil || n != 1 {
		t.Fatalf("purged %d, %v", n, err)
	}
	if alive(old) || !alive(fresh) {
		t.Fatal("purge removed the wrong session")
	}
	sess := auth.Session{CSRF: "abc"}
	if !sess.CSRFMatches("abc") || sess.CSRFMatches("abd") || sess.CSRFMatches("") || (auth.Session{}).CSRFMatches("") {
		t.Fatal("CSRFMatches")
	}
}

// Any User-Agent header starts a session: long ones with multi-byte characters cut at the limit, invalid
// UTF-8 and NULs. An unknown user is "not found".
func TestSessionTakesAnyUserAgent(t *testing.T) {
	db := pgtest.New(t)
	s := auth.NewStore(db)
	ctx := context.Background()
	org, err := s.CreateOrg(ctx, "广州市协作办", auth.RoleCoordinator)
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.CreateUser(ctx, auth.NewUser{OrgID: org.ID, Username: "chen", City: auth.CityGuangzhou, Password: "a long enough password"})
	if err != nil {
		t.Fatal(err)
	}
	for _, ua := range []string{string(bytes.Repeat([]byte("浏览器"), 120)), "Mozilla\xff\xfe/5.0", "a\x00b", ""} {
		if _, _, err := s.CreateSession(ctx, u.ID, auth.DefaultSessionPolicy, ua); err != nil {
			t.Errorf("user agent %q: %v", ua[:min(len(ua), 20)], err)
		}
	}
	if _, _, err := s.CreateSession(ctx, u.ID+1000, auth.DefaultSessionPolicy, "x"); errs.CodeOf(err) != errs.NotFound {
		t.Errorf("unknown user: %v", err)
	}
}
