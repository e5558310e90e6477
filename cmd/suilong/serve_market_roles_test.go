package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/suilong/suilong/internal/browsertest"
	"github.com/suilong/suilong/matching"
	"github.com/suilong/suilong/trace"
)

// marketIDs are base A's offer, its allocation with buyer X, their order and its lot.
type marketIDs struct{ offer, alloc, order, lot int64 }

// roles checks, after TestMarketPagesOnAPhone's trade between base A and buyer X (signed in as a and x), what
// every other organisation may not see or do: each finds the others' records "not found", actions of another
// role are refused, a form without the session's token changes nothing, and nobody signed out gets in.
func (w *marketWorld) roles(t *testing.T, id marketIDs, a, x *browsertest.Browser) {
	t.Helper()
	ctx := context.Background()
	s := w.ts.Main.Matching
	notFound := func(br *browsertest.Browser, who, path string) {
		t.Helper()
		br.Open(t, w.ts.URL+path)
		if br.Count(t, "#error") != 1 || !strings.Contains(br.Text(t, "#error"), "未找到") {
			t.Errorf("%s opened %s: %.300s", who, path, br.Text(t, "body"))
		}
	}
	refused := func(br *browsertest.Browser, who, path string) {
		t.Helper()
		br.Open(t, w.ts.URL+path)
		if br.Count(t, "#error") != 1 || !strings.Contains(br.Text(t, "#error"), "无权") {
			t.Errorf("%s was not refused %s: %.300s", who, path, br.Text(t, "body"))
		}
	}
	// A buyer has no offers page and a base no demands page; neither starts runs.
	refused(x, "a buyer", "/market/offers")
	refused(a, "a base", "/market/demands")
	refused(a, "a base", "/market/runs")
	refused(x, "a buyer", "/market/runs/1")
	// The buyer follows the lot but does not print the base's labels.
	refused(x, "the buyer", fmt.Sprintf("/market/lots/%d/labels", id.lot))
	if a.Count(t, "header nav a[href='/market/runs']") != 0 || a.Count(t, "header nav a[href='/market/demands']") != 0 {
		t.Error("a base's navigation links to pages not for it")
	}

	b := w.signIn(t, "farmer-b")
	for _, p := range []string{fmt.Sprintf("/market/offers/%d", id.offer), fmt.Sprintf("/market/orders/%d", id.order),
		fmt.Sprintf("/market/lots/%d/labels", id.lot)} {
		notFound(b, "base B", p)
	}
	b.Open(t, w.ts.URL+"/market/allocations?status=ordered")
	if strings.Contains(b.Text(t, "body"), w.buyerX.Name) {
		t.Error("base B sees base A's allocation")
	}
	b.Open(t, w.ts.URL+"/market/orders")
	if b.Count(t, fmt.Sprintf("#order-%d", id.order)) != 0 {
		t.Error("base B lists base A's order")
	}
	// Base B cannot answer, change or withdraw base A's records, even with a form of its own session.
	post(t, b, fmt.Sprintf("/market/allocations/%d/decline", id.alloc), nil)
	if !strings.Contains(b.Text(t, "#error"), "未找到") {
		t.Errorf("base B declined base A's allocation: %s", b.Text(t, "body"))
	}
	b.Open(t, w.ts.URL+"/market")
	post(t, b, fmt.Sprintf("/market/offers/%d", id.offer), map[string]string{"grade": "5", "quantity_kg": "1", "min_price_per_kg": "0.01",
		"origin": "shanghang", "harvested_at": local(w.harvested)})
	b.Open(t, w.ts.URL+"/market")
	post(t, b, fmt.Sprintf("/market/offers/%d/withdraw", id.offer), nil)
	b.Open(t, w.ts.URL+"/market")
	post(t, b, fmt.Sprintf("/market/orders/%d/lots", id.order), map[string]string{"base_name": "冒名基地", "county": "武平县",
		"quantity_kg": "10", "harvested_at": local(w.harvested)})
	if o, err := s.Offer(ctx, w.staff, id.offer); err != nil || o.Status != matching.StatusOpen || o.Grade != 1 || o.QuantityKg != 2400 {
		t.Errorf("base B changed base A's offer: %+v %v", o, err)
	}
	if _, n, _ := w.ts.Main.Trace.Lots(ctx, w.staff, trace.LotFilter{OrderID: &id.order}); n != 1 {
		t.Errorf("the order has %d lots after base B tried to add one", n)
	}

	y := w.signIn(t, "buyer-y")
	notFound(y, "buyer Y", fmt.Sprintf("/market/orders/%d", id.order))
	demands, _, err := s.Demands(ctx, w.staff, matching.Filter{OrgID: &w.buyerX.ID})
	if err != nil || len(demands) != 1 {
		t.Fatalf("buyer X's demands: %v", err)
	}
	notFound(y, "buyer Y", fmt.Sprintf("/market/demands/%d", demands[0].ID))
	y.Open(t, w.ts.URL+"/market/demands")
	if strings.Contains(y.Text(t, "#demands"), "1,500 kg") {
		t.Error("buyer Y lists buyer X's demand")
	}
	post(t, y, fmt.Sprintf("/market/lots/%d/receive", id.lot), map[string]string{"at": local(w.nowCST), "location": "东升"})
	if !strings.Contains(y.Text(t, "#error"), "未找到") {
		t.Errorf("buyer Y recorded a receipt of buyer X's lot: %s", y.Text(t, "body"))
	}

	// A form without the session's token changes nothing.
	y.Open(t, w.ts.URL+"/market/demands")
	post(t, y, "/market/demands", map[string]string{"csrf": "forged", "product": "gai-lan", "min_grade": "2", "quantity_kg": "10",
		"max_price_per_kg": "5.00", "destination": "dongsheng-market", "deliver_by": local(w.deliverBy)})
	if !strings.Contains(y.Text(t, "#error"), "安全校验失败") {
		t.Errorf("a forged form: %s", y.Text(t, "body"))
	}
	if _, n, _ := s.Demands(ctx, w.staff, matching.Filter{OrgID: &w.buyerY.ID}); n != 1 {
		t.Errorf("buyer Y has %d demands after a forged form", n)
	}

	// Signed out, the pages send one to sign in.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(w.ts.URL + "/market/orders")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=") {
		t.Errorf("signed out: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}
