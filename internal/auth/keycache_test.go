package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg/pgtest"
)

// With CacheKeys, a key that authenticated is not read again for the cache's time: a key revoked by another
// replica still works here until then, and no longer after; a key revoked through this store stops at once.
// Without it, revocation anywhere takes effect on the next request.
func TestKeyCacheBoundsHowLongARevokedKeyWorks(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	clock := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	here, elsewhere, uncached := auth.NewStore(db), auth.NewStore(db), auth.NewStore(db)
	here.Now = func() time.Time { return clock }
	here.CacheKeys(5 * time.Second)
	org, err := elsewhere.CreateOrg(ctx, "广州江南果菜批发市场", auth.RoleBuyer)
	if err != nil {
		t.Fatal(err)
	}
	key, info, err := elsewhere.CreateKey(ctx, org.ID, "wholesale system")
	if err != nil {
		t.Fatal(err)
	}
	if p, err := here.Authenticate(ctx, key); err != nil || p.OrgID != org.ID || p.KeyID != info.ID || p.OrgName != org.Name {
		t.Fatalf("first use: %+v %v", p, err)
	}
	if err := elsewhere.RevokeKey(ctx, org.ID, info.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := uncached.Authenticate(ctx, key); errs.CodeOf(err) != errs.Unauthorized {
		t.Fatalf("an uncached store accepts the revoked key: %v", err)
	}
	clock = clock.Add(4 * time.Second)
	if p, err := here.Authenticate(ctx, key); err != nil || p.KeyID != info.ID {
		t.Fatalf("within the cache's 5 s the key should still work here (it is not read again): %v", err)
	}
	clock = clock.Add(2 * time.Second)
	if _, err := here.Authenticate(ctx, key); errs.CodeOf(err) != errs.Unauthorized {
		t.Fatalf("6 s after its first use the revoked key still works: %v", err)
	}

	key2, info2, err := here.CreateKey(ctx, org.ID, "second")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := here.Authenticate(ctx, key2); err != nil {
		t.Fatal(err)
	}
	if err := here.RevokeKey(ctx, org.ID, info2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := here.Authenticate(ctx, key2); errs.CodeOf(err) != errs.Unauthorized {
		t.Fatalf("a key revoked through this store still works: %v", err)
	}
	if _, err := here.Authenticate(ctx, key2+"x"); errs.CodeOf(err) != errs.Unauthorized {
		t.Fatalf("a wrong key: %v", err)
	}
}
