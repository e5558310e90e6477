// Package authtest creates organisations with working API keys for tests.
package authtest

import (
	"context"
	"testing"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/pg"
)

// Org creates an organisation with the role and returns it with a fresh API key.
func Org(tb testing.TB, db pg.DB, name string, role auth.Role) (auth.Org, string) {
	tb.Helper()
	s := auth.NewStore(db)
	o, err := s.CreateOrg(context.Background(), name, role)
	if err != nil {
		tb.Fatalf("authtest: create org %s: %v", name, err)
	}
	key, _, err := s.CreateKey(context.Background(), o.ID, "test")
	if err != nil {
		tb.Fatalf("authtest: create key for %s: %v", name, err)
	}
	return o, key
}
