package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/browsertest"
	"github.com/suilong/suilong/matching"
	"github.com/suilong/suilong/matching/solve"
	"github.com/suilong/suilong/trace"
)

// roundIDs are what TestMarketRoundsOnAPhone made, for its role checks.
type roundIDs struct {
	round, standing, lot, cert, demand int64
}

// Market cycles on a phone, in Chromium: the coordinator opens a trading round from the market pages (linked
// from /plan; first with faults, named under their fields with what was typed kept) and changes it, and
// records base A's 菜篮子 certificate, due to end within the month, which both its home page and base A's show;
// base A records its lot's 农残检测 (first with faults) and posts an offer naming the lot into the round; buyer
// X posts a demand into it that requires a cailanzi base and a passed test, and a standing demand that it
// pauses and resumes. At the close the round's run matches them, the standing demand's demand included; the
// coordinator reads the round with its runs, the report (per base, per buyer, unmatched reasons in Chinese and
// English) and its CSV, and runs a follow-up; base A sees its own line of the report only; buyer X sees what
// the round made of its standing demand. Then what other organisations may not see or do (roundRoles).
func TestMarketRoundsOnAPhone(t *testing.T) {
	w := newMarketWorld(t)
	ctx := context.Background()
	defer func() {
		if t.Failed() {
			t.Logf("serve's log:\n%.20000s", w.ts.Logs)
		}
	}()
	s := w.ts.Main.Matching
	pBaseA := auth.Principal{OrgID: w.baseA.ID, OrgName: w.baseA.Name, Role: auth.RoleBase}
	closes := w.nowCST.Add(2 * time.Hour).Truncate(time.Minute)

	// The coordinator finds the rounds from /plan and opens one, first with faults.
	c := w.signIn(t, "coord")
	if c.Count(t, "header a[href='/market/rounds']") != 1 {
		t.Errorf("/plan does not link the rounds: %s", c.Text(t, "header"))
	}
	c.Open(t, w.ts.URL+"/market/rounds")
	set(t, c, [][2]string{{"#name", ""}, {"#closes_at", local(w.nowCST.Add(-time.Hour))}, {"#note", "每周一轮 <i>周二送达</i>"}})
	c.Do(t, chromedp.Click(chromedp.CSS("input[name=products][value=choy-sum]")))
	submit(t, c, "#open-round", "#form-errors")
	for _, f := range []string{"name", "closes_at"} {
		if c.Count(t, "#err-"+f) != 1 {
			t.Errorf("no fault shown under %s: %s", f, c.Text(t, "#form-errors"))
		}
	}
	wantText(t, c, "#err-closes_at", "截止时间", "closes_at")
	if v := value(t, c, "#note"); v != "每周一轮 <i>周二送达</i>" {
		t.Errorf("the note typed came back as %q", v)
	}
	if c.Count(t, "input[name=products][value=choy-sum]:checked") != 1 {
		t.Error("the product ticked was not kept")
	}
	w.look(t, c, "coordinator-round-errors")
	set(t, c, [][2]string{{"#name", "12月第1周 菜心轮"}, {"#closes_at", local(closes)}})
	submit(t, c, "#open-round", "#done")
	rounds, _, err := s.Rounds(ctx, w.staff, matching.RoundFilter{})
	if err != nil || len(rounds) != 1 {
		t.Fatalf("rounds: %+v %v", rounds, err)
	}
	r := rounds[0]
	if !r.ClosesAt.Equal(closes) || len(r.Products) != 1 || r.Products[0] != "choy-sum" || !r.DeliverBy.Equal(closes.Add(48*time.Hour)) {
		t.Errorf("the round opened: %+v", r)
	}
	c.Open(t, fmt.Sprintf("%s/market/rounds/%d", w.ts.URL, r.ID)) // without the notice, so that the next one is the change's
	set(t, c, [][2]string{{"#name", "12月第1周 菜心轮（改）"}})
	submit(t, c, "#save-round", "#done")
	if r, _ = s.Round(ctx, w.staff, r.ID); r.Name != "12月第1周 菜心轮（改）" || !r.ClosesAt.Equal(closes) || !r.DeliverBy.Equal(closes.Add(48*time.Hour)) {
		t.Errorf("the changed round: %+v", r)
	}
	w.look(t, c, "coordinator-round")

	// The coordinator records base A's certificate (first without products); it ends within the month.
	c.Open(t, w.ts.URL+"/market/certificates")
	until := solve.DateOf(time.Now()) + 10
	set(t, c, [][2]string{{"#org_id", fmt.Sprint(w.baseA.ID)}, {"#number", "GBA-CLZ-2026-0042"}, {"#issuer", "广州市农业农村局"},
		{"#valid_until", until.String()}})
	submit(t, c, "#record-cert", "#form-errors")
	wantText(t, c, "#err-products", "产品", "products")
	if v := value(t, c, "#number"); v != "GBA-CLZ-2026-0042" {
		t.Errorf("the number typed came back as %q", v)
	}
	c.Do(t, chromedp.Click(chromedp.CSS("input[name=products][value=choy-sum]")))
	submit(t, c, "#record-cert", "#done")
	certs, _, err := s.Certificates(ctx, w.staff, matching.CertificateFilter{OrgID: &w.baseA.ID})
	if err != nil || len(certs) != 1 || !certs[0].ExpiresSoon {
		t.Fatalf("base A's certificates: %+v %v", certs, err)
	}
	w.look(t, c, "coordinator-certificate")
	c.Open(t, w.ts.URL+"/market/certificates")
	w.look(t, c, "coordinator-certificates")
	c.Open(t, w.ts.URL+"/market")
	wantText(t, c, "#due-certs", "GBA-CLZ-2026-0042", w.baseA.Name, "10 天后到期")
	wantText(t, c, "#home-rounds", "12月第1周")
	w.look(t, c, "coordinator-home-due")

	// Base A sees its certificate due and the round; it records its lot's 农残检测, first with faults.
	lot, err := w.ts.Main.Trace.CreateLot(ctx, pBaseA, trace.NewLot{Product: "choy-sum", Grade: 1, QuantityKg: 1000,
		BaseName: w.baseA.Name, County: "上杭县", HarvestedAt: w.harvested})
	if err != nil {
		t.Fatal(err)
	}
	a := w.signIn(t, "farmer-a")
	wantText(t, a, "#due-certs", "GBA-CLZ-2026-0042", "到期")
	wantText(t, a, "#home-rounds", "12月第1周")
	w.look(t, a, "base-home-due")
	a.Open(t, fmt.Sprintf("%s/market/lots/%d", w.ts.URL, lot.ID))
	set(t, a, [][2]string{{"#lab", ""}, {"#report_number", "LY-2026-1201-07"}})
	submit(t, a, "#record-inspection", "#form-errors")
	for _, f := range []string{"result", "lab"} {
		if a.Count(t, "#err-"+f) != 1 {
			t.Errorf("no fault shown under %s: %s", f, a.Text(t, "#form-errors"))
		}
	}
	if v := value(t, a, "#report_number"); v != "LY-2026-1201-07" {
		t.Errorf("the report number came back as %q", v)
	}
	a.Do(t, chromedp.Click(chromedp.CSS("#result-pass")))
	set(t, a, [][2]string{{"#lab", "龙岩市农产品质量检测中心"}})
	submit(t, a, "#record-inspection", "#done")
	wantText(t, a, "#inspections", "合格", "龙岩市农产品质量检测中心", "LY-2026-1201-07")
	w.look(t, a, "base-lot-inspection")

	// Base A posts into the round from the round's page, naming the lot.
	a.Open(t, fmt.Sprintf("%s/market/rounds/%d", w.ts.URL, r.ID))
	submit(t, a, "#post-into a", "#offer-form")
	if v := value(t, a, "#round_id"); v != fmt.Sprint(r.ID) {
		t.Errorf("the round is not chosen in the offer form: %q", v)
	}
	set(t, a, [][2]string{{"#product", "choy-sum"}, {"#quantity_kg", "1000"}, {"#min_price_per_kg", "3.00"}, {"#origin", "shanghang"},
		{"#harvested_at", local(w.harvested)}, {"#lot_id", fmt.Sprint(lot.ID)}})
	w.look(t, a, "base-offer-into-round")
	submit(t, a, "#post-offer", "#done")
	offers, _, err := s.Offers(ctx, w.staff, matching.Filter{OrgID: &w.baseA.ID})
	if err != nil || len(offers) != 1 || offers[0].RoundID == nil || *offers[0].RoundID != r.ID || offers[0].LotID == nil || *offers[0].LotID != lot.ID {
		t.Fatalf("base A's offer: %+v %v", offers, err)
	}
	// Base B's offer in the round has no lane to buyer X's market: it stays unmatched, with its reason.
	h := w.harvested
	if _, err := s.CreateOffer(ctx, w.pBaseB, matching.NewOffer{Product: "choy-sum", Grade: 1, QuantityKg: 500, MinPricePerKg: cny(2.80),
		Origin: "wuping", HarvestedAt: &h, RoundID: &r.ID}); err != nil {
		t.Fatal(err)
	}

	// Buyer X posts into the round a demand that requires a cailanzi base and a passed test.
	x := w.signIn(t, "buyer-x")
	x.Open(t, w.ts.URL+"/market/demands")
	set(t, x, [][2]string{{"#round_id", fmt.Sprint(r.ID)}, {"#product", "choy-sum"}, {"#quantity_kg", "600"},
		{"#max_price_per_kg", "5.00"}, {"#destination", "jiangnan-market"}})
	x.Do(t, chromedp.Click(chromedp.CSS("input[name=required_certifications][value=cailanzi-base]")), chromedp.Click(chromedp.CSS("#require_inspection")))
	w.look(t, x, "buyer-demand-into-round")
	submit(t, x, "#post-demand", "#done")
	demands, _, err := s.Demands(ctx, w.staff, matching.Filter{OrgID: &w.buyerX.ID})
	if err != nil || len(demands) != 1 || !demands[0].RequireInspection || demands[0].RoundID == nil || !demands[0].DeliverBy.Equal(r.DeliverBy) {
		t.Fatalf("buyer X's demand: %+v %v", demands, err)
	}

	// Its demand's page keeps the round and the test required; unticking the test is a change of terms.
	x.Open(t, fmt.Sprintf("%s/market/demands/%d", w.ts.URL, demands[0].ID))
	wantText(t, x, fmt.Sprintf("#demand-%d", demands[0].ID), "须农残检测合格", fmt.Sprintf("#%d", r.ID))
	if x.Count(t, "#require_inspection:checked") != 1 {
		t.Error("the demand's form does not show the test required")
	}
	x.Do(t, chromedp.Click(chromedp.CSS("#require_inspection")))
	submit(t, x, "#save-demand", "#done")
	if d, _ := s.Demand(ctx, w.staff, demands[0].ID); d.RequireInspection {
		t.Error("unticked, the demand still requires a test")
	}
	x.Open(t, fmt.Sprintf("%s/market/demands/%d", w.ts.URL, demands[0].ID))
	x.Do(t, chromedp.Click(chromedp.CSS("#require_inspection")))
	submit(t, x, "#save-demand", "#done")
	if d, _ := s.Demand(ctx, w.staff, demands[0].ID); !d.RequireInspection || d.RoundID == nil {
		t.Errorf("buyer X's demand after two changes: %+v", d)
	}
	w.look(t, x, "buyer-demand-in-round")

	// …and a standing demand (first with a fault), which it pauses and resumes.
	x.Open(t, w.ts.URL+"/market/standing")
	set(t, x, [][2]string{{"#product", "choy-sum"}, {"#quantity_kg", "800"}, {"#max_price_per_kg", "4.6o"}, {"#destination", "jiangnan-market"},
		{"#note", "天河食堂 每周"}})
	x.Do(t, chromedp.Click(chromedp.CSS("input[name=weekdays][value='2']")), chromedp.Click(chromedp.CSS("input[name=weekdays][value='3']")))
	submit(t, x, "#post-standing", "#form-errors")
	wantText(t, x, "#err-max_price_per_kg", "最高价")
	if x.Count(t, "input[name=weekdays]:checked") != 2 || value(t, x, "#note") != "天河食堂 每周" {
		t.Error("the standing demand's form lost what was typed")
	}
	w.look(t, x, "buyer-standing-errors")
	// Every weekday: the round's window (two days) always holds one.
	for d := 1; d <= 7; d++ {
		if d != 2 && d != 3 {
			x.Do(t, chromedp.Click(chromedp.CSS(fmt.Sprintf("input[name=weekdays][value='%d']", d))))
		}
	}
	set(t, x, [][2]string{{"#max_price_per_kg", "4.60"}})
	submit(t, x, "#post-standing", "#done")
	sds, _, err := s.StandingDemands(ctx, w.staff, matching.Page{})
	if err != nil || len(sds) != 1 || len(sds[0].Weekdays) != 7 {
		t.Fatalf("standing demands: %+v %v", sds, err)
	}
	sd := sds[0]
	submit(t, x, "#pause", "#resume")
	wantText(t, x, "#done", "已暂停")
	submit(t, x, "#resume", "#pause")
	if got, _ := s.StandingDemand(ctx, w.staff, sd.ID); got.Paused {
		t.Error("the standing demand is still paused")
	}
	x.Open(t, w.ts.URL+"/market/standing")
	w.look(t, x, "buyer-standing")

	// The close: the round's run, the standing demand's demand in it.
	runs, err := s.CloseDueRounds(ctx, closes.Add(time.Minute))
	if err != nil || len(runs) != 1 {
		t.Fatalf("the close: %+v %v", runs, err)
	}
	if runs[0].MatchedKg != 1000 {
		t.Errorf("the round's run matched %d kg: %+v", runs[0].MatchedKg, runs[0].Unmatched)
	}

	// The coordinator reads the round, its report and CSV, and runs a follow-up.
	c.Open(t, fmt.Sprintf("%s/market/rounds/%d", w.ts.URL, r.ID))
	wantText(t, c, "#round-runs", fmt.Sprintf("#%d", runs[0].ID), "1,000 kg")
	if c.Count(t, "#edit-round") != 0 {
		t.Error("a closed round can still be changed")
	}
	w.look(t, c, "coordinator-round-closed")
	submit(t, c, "#report-link", "#totals")
	wantText(t, c, "#totals", "1,500 kg", "1,400 kg", "1,000 kg")
	wantText(t, c, "#bases", w.baseA.Name, w.baseB.Name)
	wantText(t, c, "#buyers", w.buyerX.Name)
	wantText(t, c, "#unmatched", "供应", "无运输线路", "no lane")
	w.look(t, c, "coordinator-report")
	kind, csv := w.download(t, c, fmt.Sprintf("/market/rounds/%d/report.csv", r.ID))
	if kind != "text/csv; charset=utf-8" || !strings.HasPrefix(csv, "\ufeff") || !strings.Contains(csv, w.baseA.Name) || !strings.Contains(csv, w.buyerX.Name) {
		t.Errorf("the report's CSV (%s): %.600s", kind, csv)
	}
	c.Open(t, fmt.Sprintf("%s/market/rounds/%d", w.ts.URL, r.ID))
	submit(t, c, "#run-follow-up", "#run-summary")
	wantText(t, c, "#run-unmatched", "无运输线路", "(no_lane)")
	w.look(t, c, "coordinator-follow-up")
	if r, _ = s.Round(ctx, w.staff, r.ID); len(r.RunIDs) != 2 {
		t.Errorf("the round has runs %v after a follow-up", r.RunIDs)
	}

	// Base A: its own line of the report, nobody else's.
	a.Open(t, fmt.Sprintf("%s/market/rounds/%d", w.ts.URL, r.ID))
	wantText(t, a, "#own-line", "1,000 kg")
	a.Open(t, fmt.Sprintf("%s/market/rounds/%d/report", w.ts.URL, r.ID))
	if body := a.Text(t, "body"); strings.Contains(body, w.baseB.Name) || strings.Contains(body, w.buyerX.Name) || a.Count(t, "#k-surplus") != 0 {
		t.Errorf("base A's report shows another organisation or the surplus: %.1500s", body)
	}
	wantText(t, a, "#bases", w.baseA.Name)
	w.look(t, a, "base-report")

	// Buyer X: its own figures of the round, and what the round made of its standing demand.
	x.Open(t, fmt.Sprintf("%s/market/rounds/%d", w.ts.URL, r.ID))
	wantText(t, x, "#own-line", "1,400 kg", "1,000 kg")
	x.Open(t, fmt.Sprintf("%s/market/standing/%d", w.ts.URL, sd.ID))
	wantText(t, x, fmt.Sprintf("#made-%d", r.ID), "12月第1周", "800 kg", "分配")
	w.look(t, x, "buyer-standing-made")

	w.roundRoles(t, roundIDs{round: r.ID, standing: sd.ID, lot: lot.ID, cert: certs[0].ID, demand: demands[0].ID}, a, x, c)

	// A round's allocations say by when to answer; once lapsed they are listed as such, with no buttons.
	x.Open(t, w.ts.URL+"/market/allocations")
	if x.Count(t, "[id^=answer-by-]") == 0 {
		t.Error("the buyer's round allocations do not say by when to answer")
	}
	wantText(t, x, "[id^=answer-by-]", "请于", "answer by")
	if n, err := s.LapseAllocations(ctx, time.Now().AddDate(1, 0, 0)); err != nil || n == 0 {
		t.Fatalf("lapse: %d %v", n, err)
	}
	x.Open(t, w.ts.URL+"/market/allocations?status=lapsed")
	wantText(t, x, "#allocations", "逾期未答复", "lapsed")
	if x.Count(t, "[id^=accept-]") != 0 || x.Count(t, "#tab-lapsed.on") != 1 {
		t.Error("lapsed allocations still offer an answer, or their tab is not shown")
	}
	w.look(t, x, "buyer-allocations-lapsed")
}

// download GETs path with the session of the browser, as following a download link does (the pages' policy
// lets no script fetch), and returns the content type and body.
func (w *marketWorld) download(t *testing.T, br *browsertest.Browser, path string) (string, string) {
	t.Helper()
	var cookies []*network.Cookie
	br.Do(t, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		res, err := cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{})
		cookies = res.Cookies
		return err
	}))
	req, err := http.NewRequest(http.MethodGet, w.ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v %.300s", path, resp.StatusCode, err, b)
	}
	return resp.Header.Get("Content-Type"), string(b)
}
