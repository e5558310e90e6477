// Package pg opens PostgreSQL through pgx, migrates it with goose from SQL embedded in the binary, and turns
// PostgreSQL's errors into Suilong's error vocabulary (internal/errs).
package pg

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/suilong/suilong/internal/errs"
)

// DB is what a store needs from PostgreSQL. Both *pgxpool.Pool and pgx.Tx satisfy it, so one store method
// runs alone or inside a caller's transaction.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Begin(ctx context.Context) (pgx.Tx, error)
}

var (
	_ DB = (*pgxpool.Pool)(nil)
	_ DB = (pgx.Tx)(nil)
)

//go:embed migrations/*.sql
var migrations embed.FS

// Open connects a pool of the default size (see OpenPool) and checks that the server answers.
func Open(ctx context.Context, url string) (*pgxpool.Pool, error) { return OpenPool(ctx, url, 0) }

// DefaultMaxConns is the pool size when neither the setting nor the URL gives one: eight connections per CPU
// this process may use, at least 16. A request holds a connection while its statements run and, for a write,
// while its commit waits for the WAL to reach the disk; PostgreSQL flushes the commits waiting together at once,
// so writes go faster with more of them in flight (pgbench's one-row INSERT on 2 CPUs: about twice the rate at
// 32 clients as at 8). pgx's own default (the CPU count, at least 4) left PostgreSQL idle while requests queued
// for a connection. docs/performance.md has the figures.
func DefaultMaxConns() int32 { return int32(max(16, 8*runtime.GOMAXPROCS(0))) }

// OpenPool connects a pool of at most maxConns connections and checks that the server answers. maxConns > 0
// wins over a pool_max_conns in the URL, which wins over DefaultMaxConns.
func OpenPool(ctx context.Context, url string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	switch {
	case maxConns > 0:
		cfg.MaxConns = maxConns
	case !strings.Contains(url, "pool_max_conns"):
		cfg.MaxConns = DefaultMaxConns()
	}
	if cfg.MinConns > cfg.MaxConns {
		cfg.MinConns = cfg.MaxConns
	}
	// A statement whose context is canceled (a client gone away) ends with its connection closed: pgx's way.
	// The server would still run it to its end unless it checks that its client is there; PostgreSQL 14 and
	// later do, every second, with this setting (older servers refuse it, which changes nothing).
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, _ = c.Exec(ctx, `SET client_connection_check_interval = 1000`)
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("database at %s does not answer: %w", cfg.ConnConfig.Host, err)
	}
	return pool, nil
}

// Migrate applies every pending migration. Areas own number ranges (see internal/pg/migrations/README.md), so
// migrations may arrive out of order across branches; goose applies the missing ones.
func Migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	sqlDB := stdlib.OpenDBFromPool(pool)
	defer sqlDB.Close()
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return err
	}
	opts := []goose.ProviderOption{goose.WithAllowOutofOrder(true), goose.WithSessionLocker(locker)}
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, sub, opts...)
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if log != nil {
		for _, r := range results {
			log.Info("migration applied", "version", r.Source.Version, "file", r.Source.Path, "took", r.Duration)
		}
	}
	return nil
}

// WithTx runs fn in a transaction on db, committing when fn returns nil and rolling back otherwise.
func WithTx(ctx context.Context, db DB, fn func(tx pgx.Tx) error) error {
	tx, err := db.Begin(ctx)
	if err != nil {
		return Err(err, "")
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return Err(err, "")
	}
	return nil
}

// Err classifies a pgx error. what names the thing being read or written ("offer") so that "not found" and
// "already exists" say what. Errors already classified pass through unchanged.
func Err(err error, what string) error {
	if err == nil {
		return nil
	}
	if errs.As(err) != nil {
		return err
	}
	if what == "" {
		what = "record"
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return errs.Wrap(errs.NotFound, err, "%s not found", what)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505":
			return errs.Wrap(errs.Conflict, err, "%s already exists", what)
		case pe.Code == "23503":
			return errs.Wrap(errs.Unprocessable, err, "%s refers to something that does not exist", what)
		case pe.Code == "23514" || pe.Code == "23502":
			return errs.Wrap(errs.Unprocessable, err, "%s is not valid (%s)", what, pe.ConstraintName+pe.ColumnName)
		case len(pe.Code) == 5 && pe.Code[:2] == "22":
			return errs.Wrap(errs.Unprocessable, err, "%s has a value out of range", what)
		case pe.Code == "40001" || pe.Code == "40P01":
			return errs.Wrap(errs.Conflict, err, "%s was changed concurrently; try again", what)
		}
	}
	return errs.Wrap(errs.Internal, err, "database error")
}
