package auth_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg/pgtest"
)

func TestKeysAuthenticateAndAreStoredHashed(t *testing.T) {
	db := pgtest.New(t)
	s := auth.NewStore(db)
	ctx := context.Background()
	org, err := s.CreateOrg(ctx, "新罗区菜篮子基地", auth.RoleBase)
	if err != nil {
		t.Fatal(err)
	}
	key, info, err := s.CreateKey(ctx, org.ID, "laptop")
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Authenticate(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if p.OrgID != org.ID || p.Role != auth.RoleBase || p.KeyID != info.ID {
		t.Fatalf("principal %+v", p)
	}

	// The clear key is nowhere in the database.
	var dump []byte
	if err := db.QueryRow(ctx, `SELECT convert_to(string_agg(k::text, ','), 'UTF8') FROM api_keys k`).Scan(&dump); err != nil {
		t.Fatal(err)
	}
	secret := key[strings.LastIndexByte(key, '_')+1:]
	if bytes.Contains(dump, []byte(secret)) {
		t.Fatal("api_keys holds the key's secret in clear")
	}

	for name, bad := range map[string]string{
		"empty":          "",
		"no scheme":      secret,
		"wrong secret":   key[:len(key)-3] + "aaa",
		"unknown prefix": "sl_zzzzzzzz_" + secret,
	} {
		if _, err := s.Authenticate(ctx, bad); errs.CodeOf(err) != errs.Unauthorized {
			t.Errorf("%s: err = %v, want unauthorized", name, err)
		}
	}

	if err := s.RevokeKey(ctx, org.ID, info.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, key); errs.CodeOf(err) != errs.Unauthorized {
		t.Fatalf("revoked key: err = %v, want unauthorized", err)
	}
}

func TestCreateOrgValidation(t *testing.T) {
	db := pgtest.New(t)
	s := auth.NewStore(db)
	ctx := context.Background()
	if _, err := s.CreateOrg(ctx, "", "pirate"); errs.CodeOf(err) != errs.Unprocessable || len(errs.As(err).Fields) != 2 {
		t.Fatalf("err = %v, want two field errors", err)
	}
	if _, err := s.CreateOrg(ctx, "江南果菜", auth.RoleBuyer); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateOrg(ctx, "江南果菜", auth.RoleBuyer); errs.CodeOf(err) != errs.Conflict {
		t.Fatalf("duplicate name: err = %v, want conflict", err)
	}
	if _, _, err := s.CreateKey(ctx, 999999, ""); errs.CodeOf(err) != errs.NotFound {
		t.Fatalf("key for unknown org: err = %v, want not found", err)
	}
	counts, err := s.CountOrgsByRole(ctx)
	if err != nil || counts[auth.RoleBuyer] != 1 {
		t.Fatalf("counts %v %v", counts, err)
	}
}
