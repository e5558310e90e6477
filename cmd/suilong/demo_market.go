package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
)

// The demo people of the market pages (/market), named in the README and docs/market.md: one of the Jiaoyang
// co-op, the base whose offer the demo run matched with the Jiangnan market, and one of that market. They sign
// in with the demo coordinator's password.
var demoMarketUsers = []struct {
	username, display, org string
	role                   auth.Role
	city                   auth.City
}{
	{"jiaoyang", "蛟洋合作社演示账号", demoBaseJiaoyang, auth.RoleBase, auth.CityLongyan},
	{"jiangnan", "江南市场演示账号", demoBuyer, auth.RoleBuyer, auth.CityGuangzhou},
}

// marketDemo creates the demo base's and the demo buyer's accounts (once: an existing account keeps whatever
// password its owner set).
func marketDemo(ctx context.Context, m *Main) error {
	pw := os.Getenv("SUILONG_DEMO_PASSWORD")
	if pw == "" {
		pw = demoPassword
	}
	for _, d := range demoMarketUsers {
		org, err := m.Auth.OrgByName(ctx, d.org)
		if errs.Is(err, errs.NotFound) {
			org, err = m.Auth.CreateOrg(ctx, d.org, d.role)
		}
		if err != nil {
			return err
		}
		if _, err := m.Auth.UserByName(ctx, d.username); errs.Is(err, errs.NotFound) {
			_, err = m.Auth.CreateUser(ctx, auth.NewUser{OrgID: org.ID, Username: d.username, DisplayName: d.display, City: d.city, Password: pw})
			if err != nil {
				return fmt.Errorf("demo market account %s: %w", d.username, err)
			}
		} else if err != nil {
			return err
		}
	}
	shown := "(as set in SUILONG_DEMO_PASSWORD)"
	if pw == demoPassword {
		shown = demoPassword
	}
	m.Log.Info("market demo: sign in to the market pages", "url", strings.TrimSuffix(m.Cfg.PublicBaseURL, "/")+"/login",
		"base", "jiaoyang", "buyer", "jiangnan", "password", shown)
	return nil
}
