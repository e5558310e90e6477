package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/suilong/suilong/api/web"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/browsertest"
	"github.com/suilong/suilong/matching"
)

// marketWorld is a serve with a coordinating office, two Longyan bases and two Guangzhou buyers, each with a
// person who signs in, and the products and lanes they trade over.
type marketWorld struct {
	ts                           *testServer
	coord, baseA, baseB          auth.Org
	buyerX, buyerY               auth.Org
	staff                        auth.Principal
	pBaseB, pBuyerY              auth.Principal
	phoneW, phoneH               int
	harvested, deliverBy, nowCST time.Time
}

const marketPassword = "market pages 2027"

func newMarketWorld(t *testing.T) *marketWorld {
	t.Helper()
	ts := startServe(t)
	ctx := context.Background()
	w := &marketWorld{ts: ts, phoneW: 390, phoneH: 844}
	as := ts.Main.Auth
	mk := func(name string, role auth.Role, user string, city auth.City) auth.Org {
		o, err := as.CreateOrg(ctx, name, role)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := as.CreateUser(ctx, auth.NewUser{OrgID: o.ID, Username: user, City: city, Password: marketPassword}); err != nil {
			t.Fatal(err)
		}
		return o
	}
	w.coord = mk("广州市对口协作办", auth.RoleCoordinator, "coord", auth.CityGuangzhou)
	w.baseA = mk("上杭县蛟洋蔬菜专业合作社", auth.RoleBase, "farmer-a", auth.CityLongyan)
	w.baseB = mk("武平县象洞蔬菜合作社", auth.RoleBase, "farmer-b", auth.CityLongyan)
	w.buyerX = mk("广州江南果菜批发市场", auth.RoleBuyer, "buyer-x", auth.CityGuangzhou)
	w.buyerY = mk("广州东升农产品批发市场", auth.RoleBuyer, "buyer-y", auth.CityGuangzhou)
	w.staff = auth.Principal{OrgID: w.coord.ID, OrgName: w.coord.Name, Role: auth.RoleCoordinator}
	w.pBaseB = auth.Principal{OrgID: w.baseB.ID, OrgName: w.baseB.Name, Role: auth.RoleBase}
	w.pBuyerY = auth.Principal{OrgID: w.buyerY.ID, OrgName: w.buyerY.Name, Role: auth.RoleBuyer}
	s := ts.Main.Matching
	f := func(v float64) *float64 { return &v }
	for _, p := range []matching.Product{{Name: "choy-sum", NameZH: "菜心", ShelfLifeHours: 72, TempMinC: f(0), TempMaxC: f(4)},
		{Name: "gai-lan", NameZH: "芥蓝", ShelfLifeHours: 120, TempMinC: f(0), TempMaxC: f(4)}} {
		if _, err := s.PutProduct(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range [][4]string{{"shanghang", "上杭县 Shanghang", "jiangnan-market", "江南果菜批发市场 Jiangnan market"},
		{"wuping", "武平县 Wuping", "dongsheng-market", "东升农产品批发市场 Dongsheng market"}} {
		cost := matching.Fen(40)
		if _, err := s.PutLane(ctx, matching.NewLane{Origin: l[0], OriginName: l[1], Destination: l[2], DestinationName: l[3],
			CostPerKg: &cost, TransitHours: 7}); err != nil {
			t.Fatal(err)
		}
	}
	w.nowCST = time.Now().In(web.CST)
	w.harvested = w.nowCST.Add(-3 * time.Hour).Truncate(time.Minute)
	w.deliverBy = w.nowCST.Add(30 * time.Hour).Truncate(time.Minute)
	// The other pair trades gai-lan, through the domain: their allocation is never the first pair's.
	h, by := w.harvested, w.deliverBy
	if _, err := s.CreateOffer(ctx, w.pBaseB, matching.NewOffer{Product: "gai-lan", Grade: 1, QuantityKg: 800, MinPricePerKg: cny(3.00),
		Origin: "wuping", HarvestedAt: &h}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateDemand(ctx, w.pBuyerY, matching.NewDemand{Product: "gai-lan", MinGrade: 2, QuantityKg: 600, MaxPricePerKg: cny(5.20),
		Destination: "dongsheng-market", DeliverBy: &by}); err != nil {
		t.Fatal(err)
	}
	return w
}

// signIn opens the sign-in page on a phone and signs user in, landing on the start page of its role.
func (w *marketWorld) signIn(t *testing.T, user string) *browsertest.Browser {
	t.Helper()
	br := browsertest.New(t, w.phoneW, w.phoneH)
	br.Open(t, w.ts.URL+"/login")
	br.Do(t, chromedp.SendKeys(chromedp.CSS("#username"), user), chromedp.SendKeys(chromedp.CSS("#password"), marketPassword),
		chromedp.Click(chromedp.CSS("#signin")), chromedp.WaitVisible(chromedp.CSS("#who")))
	return br
}

// look checks that the page fits the phone's width and keeps a screenshot of it.
func (w *marketWorld) look(t *testing.T, br *browsertest.Browser, name string) {
	t.Helper()
	fits(t, br, w.phoneW, name)
	if n := br.Count(t, "script"); n != 0 {
		t.Errorf("%s has %d scripts", name, n)
	}
	br.Screenshot(t, name)
}

// set fills the form fields (CSS selector → value) as a person would, select boxes and date pickers included.
func set(t *testing.T, br *browsertest.Browser, fields [][2]string) {
	t.Helper()
	for _, f := range fields {
		if f[1] != "" {
			br.Do(t, chromedp.SetValue(chromedp.CSS(f[0]), f[1]))
			continue
		}
		// SetValue refuses the empty string (it checks the assignment's falsy result).
		br.Do(t, chromedp.WaitVisible(chromedp.CSS(f[0])))
		browsertest.Get(t, br, chromedp.Evaluate[bool](fmt.Sprintf("(document.querySelector(%q).value = '', true)", f[0])))
	}
}

// submit clicks the button and waits for the page it leads to to show sel.
func submit(t *testing.T, br *browsertest.Browser, button, sel string) {
	t.Helper()
	br.Do(t, chromedp.Click(chromedp.CSS(button)), chromedp.WaitVisible(chromedp.CSS(sel)))
}

// post sends a form from the page open in br, with its session's CSRF token, as a tampered page would: for
// the role tests of actions the pages do not offer.
func post(t *testing.T, br *browsertest.Browser, action string, fields map[string]string) {
	t.Helper()
	csrf := "document.querySelector('input[name=csrf]').value"
	if v, ok := fields["csrf"]; ok {
		csrf = fmt.Sprintf("%q", v)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `(() => { const f = document.createElement('form'); f.method = 'post'; f.action = %q;
		const add = (k, v) => { const i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v; f.appendChild(i); };
		add('csrf', %s);`, action, csrf)
	for k, v := range fields {
		if k == "csrf" {
			continue
		}
		fmt.Fprintf(&b, "add(%q, %q);", k, v)
	}
	b.WriteString(`document.body.appendChild(f); f.submit(); return true; })()`)
	browsertest.Get(t, br, chromedp.Evaluate[bool](b.String()))
	br.Do(t, chromedp.WaitVisible(chromedp.CSS("#error, #done, #form-errors")))
}

func local(t time.Time) string { return t.In(web.CST).Format("2006-01-02T15:04") }

// printLayout switches the page to print media (or back), to see the sheet as the printer gets it.
func printLayout(print bool) chromedp.Action[chromedp.Void] {
	media := ""
	if print {
		media = "print"
	}
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: media})
		return err
	})
}

// The demo's market people: `suilong demo` (twice: it changes nothing the second time) gives the Jiaoyang
// co-op and the Jiangnan market accounts with the documented password; each lands on /market on a phone and
// finds the demo order between them, which neither of the other demo organisations' pages show.
func TestMarketDemoAccounts(t *testing.T) {
	ts := startServe(t)
	for range 2 {
		if _, err := run(t, "", "demo", "--database-url", ts.Cfg.DatabaseURL, "--influx-url", ts.Cfg.InfluxURL,
			"--influx-bucket", ts.Cfg.InfluxBucket, "--data-dir", t.TempDir()); err != nil {
			t.Fatal(err)
		}
	}
	orders, _, err := ts.Main.Matching.Orders(context.Background(), auth.Principal{Role: auth.RoleAdmin}, matching.OrderFilter{})
	if err != nil || len(orders) != 1 {
		t.Fatalf("demo orders: %+v %v", orders, err)
	}
	w := &marketWorld{ts: ts, phoneW: 390, phoneH: 844}
	for _, u := range demoMarketUsers {
		br := browsertest.New(t, w.phoneW, w.phoneH)
		br.Open(t, ts.URL+"/login")
		br.Do(t, chromedp.SendKeys(chromedp.CSS("#username"), u.username), chromedp.SendKeys(chromedp.CSS("#password"), demoPassword),
			chromedp.Click(chromedp.CSS("#signin")), chromedp.WaitVisible(chromedp.CSS("#summary")))
		if who := br.Text(t, "#who"); !strings.Contains(who, u.display) {
			t.Errorf("%s signed in as %q", u.username, who)
		}
		if n := br.Text(t, "#placed"); n != "1" {
			t.Errorf("%s has %s orders under way", u.username, n)
		}
		w.look(t, br, u.username+"-home")
		br.Open(t, fmt.Sprintf("%s/market/orders/%d", ts.URL, orders[0].ID))
		wantText(t, br, fmt.Sprintf("#order-%d", orders[0].ID), "菜心", demoBaseJiaoyang, demoBuyer)
		w.look(t, br, u.username+"-order")
	}
}
