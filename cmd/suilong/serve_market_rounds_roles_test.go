package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/suilong/suilong/internal/browsertest"
	"github.com/suilong/suilong/matching"
)

// roundRoles checks, after TestMarketRoundsOnAPhone (base A as a, buyer X as x, the coordinator as c), what
// the market cycles' pages let nobody else see or do: a base opens no rounds and certifies nobody; another
// base sees neither base A's lot nor its certificate, records no test of its lot and reads only its own line
// of the report; another buyer neither sees nor changes buyer X's standing demand; a form of another
// session's token changes nothing.
func (w *marketWorld) roundRoles(t *testing.T, id roundIDs, a, x, c *browsertest.Browser) {
	t.Helper()
	ctx := context.Background()
	s := w.ts.Main.Matching
	errorSays := func(br *browsertest.Browser, who, what, want string) {
		t.Helper()
		if br.Count(t, "#error") != 1 || !strings.Contains(br.Text(t, "#error"), want) {
			t.Errorf("%s %s: %.300s", who, what, br.Text(t, "body"))
		}
	}
	notFound := func(br *browsertest.Browser, who, path string) {
		t.Helper()
		br.Open(t, w.ts.URL+path)
		errorSays(br, who, "opened "+path, "未找到")
	}

	// A base: no form to open a round or to certify, and the domain refuses the forms sent all the same.
	a.Open(t, w.ts.URL+"/market/rounds?all=1")
	if a.Count(t, "#round-form") != 0 || a.Count(t, fmt.Sprintf("#round-%d", id.round)) != 1 {
		t.Error("a base is offered to open rounds, or does not see the round")
	}
	post(t, a, "/market/rounds", map[string]string{"name": "冒名轮次", "opens_at": local(w.nowCST), "closes_at": local(w.deliverBy)})
	errorSays(a, "a base", "opened a round", "无权")
	a.Open(t, w.ts.URL+"/market")
	post(t, a, fmt.Sprintf("/market/rounds/%d/runs", id.round), nil)
	errorSays(a, "a base", "ran a follow-up", "无权")
	a.Open(t, w.ts.URL+"/market/certificates")
	if a.Count(t, "#cert-form") != 0 || a.Count(t, fmt.Sprintf("#cert-%d", id.cert)) != 1 {
		t.Error("a base is offered to certify, or does not see its own certificate")
	}
	post(t, a, "/market/certificates", map[string]string{"org_id": fmt.Sprint(w.baseA.ID), "number": "SELF-1", "products": "choy-sum",
		"valid_until": "2030-12-31"})
	errorSays(a, "a base", "certified itself", "无权")
	a.Open(t, w.ts.URL+"/market")
	post(t, a, fmt.Sprintf("/market/bases/%d/certificates/%d", w.baseA.ID, id.cert), map[string]string{"number": "GBA-CLZ-2026-0042",
		"products": "choy-sum", "valid_until": "2030-12-31"})
	if !strings.Contains(a.Text(t, "#error"), "无权") {
		t.Errorf("a base renewed its own certificate: %s", a.Text(t, "body"))
	}
	if rs, n, _ := s.Rounds(ctx, w.staff, matching.RoundFilter{}); n != 1 || len(rs[0].RunIDs) != 2 {
		t.Errorf("after a base's forms: %d rounds, runs %v", n, rs[0].RunIDs)
	}
	if cs, n, _ := s.Certificates(ctx, w.staff, matching.CertificateFilter{}); n != 1 || cs[0].ValidUntil.String() == "2030-12-31" {
		t.Errorf("after a base's forms: %d certificates, %+v", n, cs)
	}

	// Base B: neither base A's lot nor its certificate; its own line of the report only.
	b := w.signIn(t, "farmer-b")
	notFound(b, "base B", fmt.Sprintf("/market/lots/%d", id.lot))
	notFound(b, "base B", fmt.Sprintf("/market/bases/%d/certificates/%d", w.baseA.ID, id.cert))
	post(t, b, fmt.Sprintf("/market/lots/%d/inspections", id.lot), map[string]string{"result": "fail", "lab": "冒名", "report_number": "X-1",
		"tested_on": w.nowCST.Format("2006-01-02")})
	errorSays(b, "base B", "recorded a test of base A's lot", "未找到")
	if ins, err := w.ts.Main.Trace.Inspections(ctx, w.staff, id.lot); err != nil || len(ins) != 1 || ins[0].Result != "pass" {
		t.Errorf("base A's lot's tests after base B's form: %+v %v", ins, err)
	}
	b.Open(t, w.ts.URL+"/market")
	if b.Count(t, "#due-certs") != 0 {
		t.Error("base B's home shows base A's certificate")
	}
	b.Open(t, fmt.Sprintf("%s/market/rounds/%d/report", w.ts.URL, id.round))
	if body := b.Text(t, "body"); strings.Contains(body, w.baseA.Name) || strings.Contains(body, w.buyerX.Name) || strings.Contains(body, "1,000 kg") {
		t.Errorf("base B's report shows base A's or buyer X's figures: %.1500s", body)
	}
	wantText(t, b, "#bases", w.baseB.Name, "500 kg")
	_, csv := w.download(t, b, fmt.Sprintf("/market/rounds/%d/report.csv", id.round))
	if strings.Contains(csv, w.baseA.Name) || strings.Contains(csv, w.buyerX.Name) || !strings.Contains(csv, w.baseB.Name) {
		t.Errorf("base B's CSV: %.600s", csv)
	}

	// Buyer Y: buyer X's standing demand is not found, and its forms change nothing.
	y := w.signIn(t, "buyer-y")
	notFound(y, "buyer Y", fmt.Sprintf("/market/standing/%d", id.standing))
	y.Open(t, w.ts.URL+"/market/standing")
	if y.Count(t, fmt.Sprintf("#standing-%d", id.standing)) != 0 {
		t.Error("buyer Y lists buyer X's standing demand")
	}
	for _, act := range []string{"pause", "delete"} {
		post(t, y, fmt.Sprintf("/market/standing/%d/%s", id.standing, act), nil)
		errorSays(y, "buyer Y", act+"d buyer X's standing demand", "未找到")
		y.Open(t, w.ts.URL+"/market")
	}
	post(t, y, fmt.Sprintf("/market/standing/%d", id.standing), map[string]string{"min_grade": "5", "quantity_kg": "1", "max_price_per_kg": "0.01",
		"destination": "dongsheng-market"})
	errorSays(y, "buyer Y", "changed buyer X's standing demand", "未找到")
	// Buyer X's own session token, sent from buyer Y's session, is no token of it.
	y.Open(t, w.ts.URL+"/market")
	x.Open(t, fmt.Sprintf("%s/market/standing/%d", w.ts.URL, id.standing))
	post(t, y, fmt.Sprintf("/market/standing/%d/pause", id.standing), map[string]string{"csrf": value(t, x, "input[name=csrf]")})
	errorSays(y, "buyer Y", "used buyer X's token", "安全校验失败")
	if sd, err := s.StandingDemand(ctx, w.staff, id.standing); err != nil || sd.Paused || sd.QuantityKg != 800 {
		t.Errorf("buyer X's standing demand after buyer Y's forms: %+v %v", sd.StandingDemand, err)
	}
	// Buyer Y has no certificates page and no lot of buyer X's to open.
	y.Open(t, w.ts.URL+"/market/certificates")
	errorSays(y, "a buyer", "opened the certificates page", "无权")

	// The coordinator cancels a second round before its close: it shows so, and can no longer be changed.
	c.Open(t, w.ts.URL+"/market/rounds")
	set(t, c, [][2]string{{"#name", "取消测试轮"}, {"#closes_at", local(w.deliverBy)}})
	submit(t, c, "#open-round", "#done")
	loc, _, _ := strings.Cut(browsertest.Get(t, c, chromedp.Location()), "?")
	c.Open(t, loc) // without the notice, so that the next one is the cancel's
	submit(t, c, "#cancel-round", "#done")
	wantText(t, c, "#done", "已取消")
	if c.Count(t, "#edit-round") != 0 || !strings.Contains(c.Text(t, "body"), "已取消 cancelled") {
		t.Errorf("a cancelled round: %.600s", c.Text(t, "body"))
	}
	w.look(t, c, "coordinator-round-cancelled")
}
