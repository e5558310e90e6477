package main

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/suilong/suilong/internal/pg"
	"github.com/suilong/suilong/internal/pg/pgtest"
)

// The main pool's size: SUILONG_DATABASE_MAX_CONNS (or its flag) when set, else the URL's pool_max_conns, else
// the machine's default; the setting wins over the URL.
func TestPoolSizeSettings(t *testing.T) {
	dbURL := pgtest.CreateDB(t)
	tests := []struct {
		name string
		env  string
		args []string
		want int32
	}{
		{"machine default", "", []string{"--database-url", dbURL}, pg.DefaultMaxConns()},
		{"pool_max_conns in the URL", "", []string{"--database-url", dbURL + "&pool_max_conns=5"}, 5},
		{"the setting over the URL", "", []string{"--database-url", dbURL + "&pool_max_conns=5", "--database-max-conns", "7"}, 7},
		{"the variable", "6", []string{"--database-url", dbURL}, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != "" {
				t.Setenv("SUILONG_DATABASE_MAX_CONNS", tt.env)
			}
			cli, _ := parseCLI(t, append([]string{"migrate"}, tt.args...)...)
			m := NewMain(&cli.Config, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{})
			if err := m.openCore(context.Background(), false); err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if got := m.DB.Config().MaxConns; got != tt.want {
				t.Fatalf("pool of %d connections, want %d", got, tt.want)
			}
		})
	}
	if pg.DefaultMaxConns() < 16 {
		t.Fatalf("default pool %d, want at least 16", pg.DefaultMaxConns())
	}
}

// hold takes every connection of the pool, as requests waiting on slow queries would, until the test ends.
func hold(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	for range pool.Config().MaxConns {
		c, err := pool.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Release)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := pool.Ping(ctx); err == nil {
		t.Fatal("the main pool still has a free connection")
	}
}

// With every connection of the main pool taken by HTTP work, ingest still reads its registry (through its own
// pool); sharing the main pool (SUILONG_DATABASE_INGEST_MAX_CONNS=0) it would wait.
func TestIngestLookupsHaveTheirOwnPool(t *testing.T) {
	ts := startServe(t, "--database-max-conns", "2", "--database-ingest-max-conns", "3")
	m := ts.Main
	if m.IngestDB == nil || m.IngestDB.Config().MaxConns != 3 || m.DB.Config().MaxConns != 2 {
		t.Fatalf("pools: ingest %v, main %d", m.IngestDB, m.DB.Config().MaxConns)
	}
	if m.Worker.Store.DB() != m.IngestDB {
		t.Fatal("ingest's store is not on ingest's pool")
	}
	hold(t, m.DB)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.Worker.Cache.Refresh(ctx); err != nil {
		t.Fatalf("ingest's registry look-up with the main pool exhausted: %v", err)
	}
	if _, ok, err := m.ingestBands.Band(ctx, "LY-TRK-0001", time.Now()); err != nil || ok {
		t.Fatalf("band look-up with the main pool exhausted: %v %v", ok, err)
	}

	shared := startServe(t, "--database-max-conns", "2", "--database-ingest-max-conns", "0")
	if shared.Main.IngestDB != nil || shared.Main.Worker.Store.DB() != shared.Main.DB {
		t.Fatal("with 0, ingest should share the main pool")
	}
	hold(t, shared.Main.DB)
	sctx, scancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer scancel()
	if err := shared.Main.Worker.Cache.Refresh(sctx); err == nil {
		t.Fatal("sharing an exhausted pool, the look-up did not wait: the first half of this test proves nothing")
	}
}
