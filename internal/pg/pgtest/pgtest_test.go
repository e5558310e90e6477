package pgtest

import (
	"context"
	"testing"
)

func TestNewGivesMigratedIsolatedDatabase(t *testing.T) {
	a, b := New(t), New(t)
	ctx := context.Background()
	if _, err := a.Exec(ctx, `INSERT INTO orgs (name, role) VALUES ('only-in-a', 'base')`); err != nil {
		t.Fatalf("insert into migrated orgs table: %v", err)
	}
	var n int
	if err := b.QueryRow(ctx, `SELECT count(*) FROM orgs`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("database b sees %d orgs written to a; want isolation", n)
	}
}
