// Package pgtest gives each integration test its own freshly migrated PostgreSQL database, dropped when the test
// ends, on the server named by SUILONG_DATABASE_URL (or ./var/suilong.env, written by deploy/local/up.sh).
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/suilong/suilong/internal/envfile"
	"github.com/suilong/suilong/internal/pg"
)

var loadEnv sync.Once

// AdminURL returns the URL of the server the tests use. It fails the test, with what to do, when none is set.
func AdminURL(tb testing.TB) string {
	tb.Helper()
	loadEnv.Do(func() { _, _ = envfile.Load() })
	u := os.Getenv("SUILONG_DATABASE_URL")
	if u == "" {
		tb.Fatal("pgtest: SUILONG_DATABASE_URL is not set and no var/suilong.env was found; " +
			"run the tests with `make test` (or `deploy/local/up.sh --test` first)")
	}
	return u
}

// New creates a database, migrates it and returns a pool on it. The database is dropped at cleanup.
func New(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	url := CreateDB(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pool, err := pg.Open(ctx, url)
	if err != nil {
		tb.Fatalf("pgtest: open test database: %v", err)
	}
	tb.Cleanup(pool.Close) // runs before the drop registered by CreateDB
	if err := pg.Migrate(ctx, pool, nil); err != nil {
		tb.Fatalf("pgtest: migrate: %v", err)
	}
	return pool
}

// CreateDB creates an empty database and returns its URL; it is dropped at cleanup. Tests that run migrations
// themselves (through `suilong migrate`, say) use this.
func CreateDB(tb testing.TB) string {
	tb.Helper()
	admin := AdminURL(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		tb.Fatalf("pgtest: PostgreSQL at SUILONG_DATABASE_URL does not answer (%v); start it with deploy/local/up.sh", err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "suilong_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			tb.Logf("pgtest: drop %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			tb.Logf("pgtest: drop %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		tb.Fatalf("pgtest: SUILONG_DATABASE_URL must be a postgres:// URL, got %q", admin)
	}
	u.Path = "/" + name
	return u.String()
}
