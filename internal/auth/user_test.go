package auth_test

import (
	"context"
	"strings"
	"testing"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg/pgtest"
)

func fields(err error) map[string]bool {
	out := map[string]bool{}
	if e := errs.As(err); e != nil {
		for _, f := range e.Fields {
			out[f.Field] = true
		}
	}
	return out
}

func TestUsersSignInWithHashedPasswords(t *testing.T) {
	db := pgtest.New(t)
	s := auth.NewStore(db)
	ctx := context.Background()
	gz, err := s.CreateOrg(ctx, "广州市协作办", auth.RoleCoordinator)
	if err != nil {
		t.Fatal(err)
	}
	base, err := s.CreateOrg(ctx, "上杭县蜜柚合作社", auth.RoleBase)
	if err != nil {
		t.Fatal(err)
	}

	// Every bad field is named at once.
	_, err = s.CreateUser(ctx, auth.NewUser{OrgID: gz.ID, Username: "x", City: "shanghai", Password: "short"})
	if f := fields(err); errs.CodeOf(err) != errs.Unprocessable || !f["username"] || !f["city"] || !f["password"] {
		t.Fatalf("bad user: %v", err)
	}
	// People of a base sign in to the market pages; a gateway's organisation is machines only.
	gw, err := s.CreateOrg(ctx, "网关厂商", auth.RoleGateway)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.CreateUser(ctx, auth.NewUser{OrgID: gw.ID, Username: "vendor", City: auth.CityLongyan, Password: "a long enough password"})
	if !fields(err)["org"] {
		t.Fatalf("user of a gateway organisation: %v", err)
	}
	if u, err := s.CreateUser(ctx, auth.NewUser{OrgID: base.ID, Username: "farmer", City: auth.CityLongyan, Password: "a long enough password"}); err != nil || u.Role != auth.RoleBase {
		t.Fatalf("user of a base organisation: %+v %v", u, err)
	}
	if _, err := s.CreateUser(ctx, auth.NewUser{OrgID: 424242, Username: "ghost", City: auth.CityLongyan, Password: "a long enough password"}); errs.CodeOf(err) != errs.NotFound {
		t.Fatalf("unknown org: %v", err)
	}
	if _, err := s.CreateUser(ctx, auth.NewUser{OrgID: gz.ID, Username: "li", City: auth.CityGuangzhou, Password: strings.Repeat("长", 25)}); !fields(err)["password"] {
		t.Fatalf("75-byte password: %v", err)
	}

	const pw = "穗龙 cooperation 2027"
	u, err := s.CreateUser(ctx, auth.NewUser{OrgID: gz.ID, Username: " Chen.Wei ", DisplayName: "陈伟", City: auth.CityGuangzhou, Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	if u.Username != "chen.wei" || u.Role != auth.RoleCoordinator || u.OrgName != gz.Name || u.City.ZH() != "广州" {
		t.Fatalf("user %+v", u)
	}
	if _, err := s.CreateUser(ctx, auth.NewUser{OrgID: gz.ID, Username: "CHEN.WEI", City: auth.CityLongyan, Password: pw}); errs.CodeOf(err) != errs.Conflict {
		t.Fatalf("same name in other case: %v", err)
	}

	var hash string
	if err := db.QueryRow(ctx, `SELECT password_hash FROM users WHERE id = $1`, u.ID).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$2a$12$") || strings.Contains(hash, "cooperation") {
		t.Fatalf("password is not a bcrypt cost-12 hash: %q", hash)
	}

	got, err := s.CheckPassword(ctx, "CHEN.wei", pw)
	if err != nil || got.ID != u.ID || got.Principal().UserID != u.ID || got.Principal().Actor() != "chen.wei@"+gz.Name {
		t.Fatalf("sign in: %+v %v", got, err)
	}
	for name, try := range map[string][2]string{
		"wrong password": {"chen.wei", pw + "!"},
		"unknown user":   {"nobody", pw},
		"empty":          {"", ""},
	} {
		_, err := s.CheckPassword(ctx, try[0], try[1])
		if errs.CodeOf(err) != errs.Unauthorized || errs.As(err).Message != "wrong username or password" {
			t.Errorf("%s: %v", name, err)
		}
	}

	// A new password works, the old one does not, and sessions opened with the old one end.
	tok, _, err := s.CreateSession(ctx, u.ID, auth.DefaultSessionPolicy, "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetPassword(ctx, u.ID, "another long password"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CheckPassword(ctx, "chen.wei", pw); errs.CodeOf(err) != errs.Unauthorized {
		t.Fatalf("old password still works: %v", err)
	}
	if _, _, err := s.SessionByToken(ctx, tok); errs.CodeOf(err) != errs.Unauthorized {
		t.Fatalf("session survived a password change: %v", err)
	}
	if _, err := s.CheckPassword(ctx, "chen.wei", "another long password"); err != nil {
		t.Fatal(err)
	}

	// A disabled account cannot sign in.
	if err := s.DisableUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CheckPassword(ctx, "chen.wei", "another long password"); errs.CodeOf(err) != errs.Unauthorized {
		t.Fatalf("disabled user signed in: %v", err)
	}
	users, err := s.Users(ctx, gz.ID)
	if err != nil || len(users) != 1 || !users[0].Disabled {
		t.Fatalf("users %+v %v", users, err)
	}
}

// A logistics company (role carrier) has web accounts for its dispatchers, who sign in and keep their session;
// a gateway operator's organisation has none.
func TestCarrierUsersSignIn(t *testing.T) {
	db := pgtest.New(t)
	s := auth.NewStore(db)
	ctx := context.Background()
	carrier, err := s.CreateOrg(ctx, "龙岩闽运冷链物流有限公司", auth.RoleCarrier)
	if err != nil {
		t.Fatal(err)
	}
	vendor, err := s.CreateOrg(ctx, "gateway vendor", auth.RoleGateway)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateOrg(ctx, "x", "shipper"); !fields(err)["role"] || !strings.Contains(errs.As(err).Fields[0].Message, "carrier") {
		t.Fatalf("unknown role: %v", err)
	}
	const pw = "dispatcher password 1"
	u, err := s.CreateUser(ctx, auth.NewUser{OrgID: carrier.ID, Username: "dispatch", City: auth.CityLongyan, Password: pw})
	if err != nil || u.Role != auth.RoleCarrier {
		t.Fatalf("carrier user: %+v %v", u, err)
	}
	if _, err := s.CreateUser(ctx, auth.NewUser{OrgID: vendor.ID, Username: "vendor", City: auth.CityLongyan, Password: pw}); !fields(err)["org"] {
		t.Fatalf("user of a gateway organisation: %v", err)
	}
	got, err := s.CheckPassword(ctx, "dispatch", pw)
	if err != nil || got.ID != u.ID || got.Principal().Staff() {
		t.Fatalf("carrier sign-in: %+v %v", got, err)
	}
	token, _, err := s.CreateSession(ctx, u.ID, auth.DefaultSessionPolicy, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, su, err := s.SessionByToken(ctx, token); err != nil || su.Role != auth.RoleCarrier {
		t.Fatalf("carrier session: %+v %v", su, err)
	}
}
