package pg_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
	"github.com/suilong/suilong/internal/pg/pgtest"
)

func TestErrClassifiesPostgresErrors(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	if _, err := db.Exec(ctx, `INSERT INTO orgs (name, role) VALUES ('a', 'base')`); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		sql  string
		want errs.Code
	}{
		{"unique", `INSERT INTO orgs (name, role) VALUES ('a', 'base')`, errs.Conflict},
		{"check", `INSERT INTO orgs (name, role) VALUES ('b', 'pirate')`, errs.Unprocessable},
		{"foreign key", `INSERT INTO api_keys (org_id, prefix, hash) VALUES (424242, 'p', '\x00')`, errs.Unprocessable},
		{"syntax is ours", `SELEKT 1`, errs.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := db.Exec(ctx, tt.sql)
			if got := errs.CodeOf(pg.Err(err, "organisation")); got != tt.want {
				t.Fatalf("code %s, want %s (%v)", got, tt.want, err)
			}
		})
	}
	var id int64
	err := pg.Err(db.QueryRow(ctx, `SELECT id FROM orgs WHERE name = 'zzz'`).Scan(&id), "organisation")
	if errs.CodeOf(err) != errs.NotFound || errs.As(err).Message != "organisation not found" || !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("not found: %v", err)
	}
}

func TestWithTxRollsBackOnError(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	boom := errors.New("boom")
	err := pg.WithTx(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO orgs (name, role) VALUES ('rolled back', 'base')`); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	var n int
	_ = db.QueryRow(ctx, `SELECT count(*) FROM orgs`).Scan(&n)
	if n != 0 {
		t.Fatal("transaction was not rolled back")
	}
}
