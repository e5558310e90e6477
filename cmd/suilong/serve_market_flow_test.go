package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/suilong/suilong/internal/browsertest"
	"github.com/suilong/suilong/matching"
	"github.com/suilong/suilong/trace"
)

func value(t *testing.T, br *browsertest.Browser, sel string) string {
	t.Helper()
	return browsertest.Get(t, br, chromedp.Evaluate[string](fmt.Sprintf("document.querySelector(%q).value", sel)))
}

func wantText(t *testing.T, br *browsertest.Browser, sel string, want ...string) {
	t.Helper()
	text := br.Text(t, sel)
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("%s lacks %q: %.800s", sel, w, text)
		}
	}
}

// The market on a phone, end to end in Chromium: a base posts an offer (first with faults, each named under
// its field in Chinese and English, with everything typed kept) and changes it; a buyer posts a demand; the
// coordinator starts a run from the market pages, linked from /plan and /ops; both sides accept their
// allocation and the order is placed; the base registers the lot for the order (first with a fault) and prints
// its QR labels; the buyer opens the lot's traceability page and records the receipt (first with a fault), and
// the order is delivered. Then what each organisation may not see or do (TestMarket… roles below).
func TestMarketPagesOnAPhone(t *testing.T) {
	w := newMarketWorld(t)
	ctx := context.Background()
	defer func() {
		if t.Failed() {
			t.Logf("serve's log:\n%.20000s", w.ts.Logs)
		}
	}()
	s := w.ts.Main.Matching

	a := w.signIn(t, "farmer-a")
	a.Do(t, chromedp.WaitVisible(chromedp.CSS("#summary")))
	if loc := browsertest.Get(t, a, chromedp.Location()); !strings.HasSuffix(loc, "/market") {
		t.Errorf("a base lands on %s", loc)
	}
	if n := a.Text(t, "#open-mine"); n != "0" {
		t.Errorf("a new base has %s open offers", n)
	}
	w.look(t, a, "base-home")

	a.Open(t, w.ts.URL+"/market/offers")
	set(t, a, [][2]string{{"#product", "choy-sum"}, {"#quantity_kg", ""}, {"#min_price_per_kg", "3.201"},
		{"#harvested_at", local(w.harvested)}, {"#note", "油青甜菜心 <b>早收</b>"}})
	a.Do(t, chromedp.Click(chromedp.CSS("input[name=certifications][value=green-food]")))
	submit(t, a, "#post-offer", "#form-errors")
	wantText(t, a, "#err-quantity_kg", "数量（公斤）", "quantity_kg")
	wantText(t, a, "#err-min_price_per_kg", "最低价", "min_price_per_kg", "two decimals")
	wantText(t, a, "#err-origin", "产地", "origin")
	if v := value(t, a, "#note"); v != "油青甜菜心 <b>早收</b>" {
		t.Errorf("the note came back as %q", v)
	}
	if value(t, a, "#min_price_per_kg") != "3.201" || value(t, a, "#product") != "choy-sum" || value(t, a, "#harvested_at") != local(w.harvested) ||
		a.Count(t, "input[name=certifications][value=green-food]:checked") != 1 {
		t.Error("the offer form lost what was typed")
	}
	if _, n, _ := s.Offers(ctx, w.staff, matching.Filter{OrgID: &w.baseA.ID}); n != 0 {
		t.Fatalf("a faulty form posted %d offers", n)
	}
	w.look(t, a, "base-offer-errors")
	set(t, a, [][2]string{{"#quantity_kg", "2000"}, {"#min_price_per_kg", "3.00"}, {"#origin", "shanghang"}})
	submit(t, a, "#post-offer", "#done")
	wantText(t, a, "#offers", "菜心", "2,000 kg", "¥3.00", "绿色食品")
	w.look(t, a, "base-offers")
	mine, _, err := s.Offers(ctx, w.staff, matching.Filter{OrgID: &w.baseA.ID})
	if err != nil || len(mine) != 1 || mine[0].Note != "油青甜菜心 <b>早收</b>" {
		t.Fatalf("offers of base A: %+v %v", mine, err)
	}
	offer := mine[0]
	// Times with seconds (as the API takes them; the page shows minutes) survive a change made on the page.
	if _, err := w.ts.DB(t).Exec(ctx, `UPDATE offers SET harvested_at = harvested_at + interval '17 seconds',
		available_from = available_from + interval '17 seconds' WHERE id = $1`, offer.ID); err != nil {
		t.Fatal(err)
	}
	before, _ := s.Offer(ctx, w.staff, offer.ID)
	a.Open(t, fmt.Sprintf("%s/market/offers/%d", w.ts.URL, offer.ID))
	set(t, a, [][2]string{{"#quantity_kg", "2400"}})
	submit(t, a, "#save-offer", "#done")
	wantText(t, a, fmt.Sprintf("#offer-%d", offer.ID), "2,400 kg")
	if after, _ := s.Offer(ctx, w.staff, offer.ID); !after.HarvestedAt.Equal(before.HarvestedAt) || !after.AvailableFrom.Equal(before.AvailableFrom) {
		t.Errorf("a change of the quantity on the page moved the offer's times: %v %v → %v %v",
			before.HarvestedAt, before.AvailableFrom, after.HarvestedAt, after.AvailableFrom)
	}
	w.look(t, a, "base-offer")

	x := w.signIn(t, "buyer-x")
	x.Do(t, chromedp.WaitVisible(chromedp.CSS("#summary")))
	w.look(t, x, "buyer-home")
	x.Open(t, w.ts.URL+"/market/demands")
	set(t, x, [][2]string{{"#product", "choy-sum"}, {"#min_grade", "2"}, {"#quantity_kg", "1500"}, {"#max_price_per_kg", "5.00"},
		{"#destination", "jiangnan-market"}, {"#deliver_by", local(w.deliverBy)}})
	submit(t, x, "#post-demand", "#done")
	wantText(t, x, "#demands", "菜心", "1,500 kg", "¥5.00")
	w.look(t, x, "buyer-demands")

	c := w.signIn(t, "coord") // coordinators land on the plan dashboard
	c.Open(t, w.ts.URL+"/market")
	if c.Text(t, "#open-offers") != "2" || c.Text(t, "#open-demands") != "2" {
		t.Errorf("the coordinators' start page: %s", c.Text(t, "#summary"))
	}
	w.look(t, c, "coordinator-home")
	for _, from := range []string{"/plan", "/ops"} {
		c.Open(t, w.ts.URL+from)
		if c.Count(t, `header nav a[href="/market"]`) != 1 {
			t.Errorf("%s does not link to the market", from)
		}
	}
	c.Open(t, w.ts.URL+"/market/runs")
	submit(t, c, "#run-now", "#run-summary")
	wantText(t, c, "#run-allocations", w.baseA.Name, w.buyerX.Name, w.baseB.Name, w.buyerY.Name, "1,500 kg", "600 kg")
	wantText(t, c, "#run-unmatched", fmt.Sprintf("#%d", offer.ID), "900 kg")
	w.look(t, c, "coordinator-run")

	allocs, _, err := s.Allocations(ctx, w.staff, matching.AllocationFilter{})
	if err != nil || len(allocs) != 2 {
		t.Fatalf("allocations %+v %v", allocs, err)
	}
	ax, by := allocs[0], allocs[1]
	if ax.BaseOrgID != w.baseA.ID {
		ax, by = by, ax
	}
	a.Open(t, w.ts.URL+"/market/allocations")
	if a.Count(t, fmt.Sprintf("#allocation-%d", ax.ID)) != 1 || a.Count(t, fmt.Sprintf("#allocation-%d", by.ID)) != 0 {
		t.Errorf("base A's allocations: %s", a.Text(t, "#allocations"))
	}
	wantText(t, a, fmt.Sprintf("#allocation-%d", ax.ID), w.buyerX.Name, "1,500 kg", "未答复")
	w.look(t, a, "base-allocations")
	submit(t, a, fmt.Sprintf("#accept-%d", ax.ID), "#done")
	wantText(t, a, fmt.Sprintf("#allocation-%d", ax.ID), "已接受")

	x.Open(t, w.ts.URL+"/market/allocations")
	submit(t, x, fmt.Sprintf("#accept-%d", ax.ID), "#done")
	wantText(t, x, "#done", "订单已生成")
	orders, _, err := s.Orders(ctx, w.staff, matching.OrderFilter{})
	if err != nil || len(orders) != 1 || orders[0].AllocationID != ax.ID {
		t.Fatalf("orders %+v %v", orders, err)
	}
	order := orders[0]
	w.look(t, x, "buyer-order-placed")

	a.Open(t, fmt.Sprintf("%s/market/orders/%d", w.ts.URL, order.ID))
	if value(t, a, "#quantity_kg") != "1500" || value(t, a, "#county") != "上杭县" {
		t.Errorf("the lot form's defaults: %s kg, county %s", value(t, a, "#quantity_kg"), value(t, a, "#county"))
	}
	set(t, a, [][2]string{{"#base_name", ""}, {"#certificate_no", "FJSH-2026-0042"}, {"#variety", "油青甜菜心"}})
	submit(t, a, "#register-lot", "#form-errors")
	wantText(t, a, "#err-base_name", "基地名称", "base_name")
	if value(t, a, "#certificate_no") != "FJSH-2026-0042" {
		t.Error("the lot form lost the certificate number")
	}
	w.look(t, a, "base-lot-errors")
	set(t, a, [][2]string{{"#base_name", "蛟洋镇高山蔬菜基地"}})
	submit(t, a, "#register-lot", "#done")
	lots, _, err := w.ts.Main.Trace.Lots(ctx, w.staff, trace.LotFilter{OrderID: &order.ID})
	if err != nil || len(lots) != 1 || lots[0].OrgID != w.baseA.ID || lots[0].BuyerOrgID == nil || *lots[0].BuyerOrgID != w.buyerX.ID {
		t.Fatalf("lots of the order: %+v %v", lots, err)
	}
	lot := lots[0]
	wantText(t, a, "#lot-"+lot.Code, lot.Code, "FJSH-2026-0042", "1,500 kg")
	w.look(t, a, "base-order")

	a.Do(t, chromedp.Click(chromedp.CSS("#lot-"+lot.Code+" a.labels")), chromedp.WaitVisible(chromedp.CSS("#labels")))
	if n := a.Count(t, "#labels .label"); n != 24 || a.Count(t, "#labels .label svg") != 24 || a.Count(t, "header.top") != 0 {
		t.Errorf("a sheet of %d labels", n)
	}
	wantText(t, a, "#labels", lot.Code, "FJSH-2026-0042", "菜心", "蛟洋镇高山蔬菜基地")
	w.look(t, a, "base-labels")
	a.Do(t, printLayout(true))
	if cols := browsertest.Get(t, a, chromedp.Evaluate[string]("getComputedStyle(document.querySelector('#labels')).gridTemplateColumns")); strings.Count(cols, "px") != 3 {
		t.Errorf("the printed sheet's columns: %s", cols)
	}
	if n := a.Count(t, "#labels-help"); n != 1 || browsertest.Get(t, a, chromedp.Evaluate[string]("getComputedStyle(document.querySelector('#labels-help')).display")) != "none" {
		t.Error("the instructions print with the labels")
	}
	a.Screenshot(t, "base-labels-print")
	a.Do(t, printLayout(false))
	a.Open(t, fmt.Sprintf("%s/market/lots/%d/labels?copies=3", w.ts.URL, lot.ID))
	if n := a.Count(t, "#labels .label"); n != 3 {
		t.Errorf("3 copies made %d labels", n)
	}

	x.Open(t, fmt.Sprintf("%s/market/orders/%d", w.ts.URL, order.ID))
	x.Do(t, chromedp.Click(chromedp.CSS("#lot-"+lot.Code+" a.trace")), chromedp.WaitVisible(chromedp.CSS("body")))
	if loc := browsertest.Get(t, x, chromedp.Location()); !strings.HasSuffix(loc, "/t/"+lot.Code) || !strings.Contains(x.Text(t, "body"), "蛟洋镇高山蔬菜基地") {
		t.Errorf("the lot's traceability page: %s", loc)
	}
	x.Open(t, fmt.Sprintf("%s/market/orders/%d", w.ts.URL, order.ID))
	if x.Count(t, "#lot-form") != 0 || x.Count(t, "a.labels") != 0 {
		t.Error("the buyer is offered the base's lot form or labels")
	}
	lid := fmt.Sprint(lot.ID)
	set(t, x, [][2]string{{"#temp-" + lid, "冷"}, {"#location-" + lid, "江南市场 3 号门"}})
	submit(t, x, "#receive-btn-"+lid, "#form-errors")
	wantText(t, x, "#err-handover_temp_c", "交接温度", "handover_temp_c")
	if value(t, x, "#location-"+lid) != "江南市场 3 号门" {
		t.Error("the receipt form lost the place")
	}
	w.look(t, x, "buyer-receipt-errors")
	set(t, x, [][2]string{{"#temp-" + lid, "3.5"}, {"#by-" + lid, "张三"}})
	submit(t, x, "#receive-btn-"+lid, "#done")
	wantText(t, x, "#lot-"+lot.Code, "已收货")
	if o, err := s.Order(ctx, w.staff, order.ID); err != nil || o.Status != matching.OrderDelivered {
		t.Errorf("the order after the receipt: %+v %v", o, err)
	}
	w.look(t, x, "buyer-order-received")

	w.roles(t, marketIDs{offer: offer.ID, alloc: ax.ID, order: order.ID, lot: lot.ID}, a, x)
}
