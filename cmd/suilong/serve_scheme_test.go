package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/auth/authtest"
)

// The 菜篮子 scheme's rules through `suilong serve`: coordinators certify bases (a base cannot certify itself),
// certificates near expiry are listed, a lot's base records its inspections (not another base's lot), and a
// run matches a demand requiring cailanzi-base only with a certified base's offer and a demand requiring a
// passed inspection only with an offer whose lot passed its latest one, saying for the rest which rule stopped
// them.
func TestSchemeRulesEndToEnd(t *testing.T) {
	ts := startServe(t)
	db := ts.DB(t)
	_, coord := authtest.Org(t, db, "龙岩市商务局", auth.RoleCoordinator)
	baseA, keyA := authtest.Org(t, db, "上杭县蛟洋蔬菜专业合作社", auth.RoleBase)
	baseB, keyB := authtest.Org(t, db, "武平县象洞蔬菜合作社", auth.RoleBase)
	buyerOrg, buyer := authtest.Org(t, db, "广州江南果菜批发市场", auth.RoleBuyer)
	must := ts.mustFor(t)
	cst := time.FixedZone("CST", 8*3600)
	day := func(days int) string { return time.Now().In(cst).AddDate(0, 0, days).Format(time.DateOnly) }
	for _, p := range []map[string]any{{"name": "choy-sum", "name_zh": "菜心", "shelf_life_hours": 72},
		{"name": "pomelo", "name_zh": "蜜柚", "shelf_life_hours": 720}} {
		must("POST", "/api/v1/products", coord, p, 201, nil)
	}
	for _, o := range []string{"shanghang", "wuping"} {
		must("POST", "/api/v1/lanes", coord, map[string]any{"origin": o, "destination": "jiangnan-market", "cost_per_kg": 0.4, "transit_hours": 7}, 201, nil)
	}

	// Certificates: only coordinators record them, for bases, with valid fields.
	certsA := fmt.Sprintf("/api/v1/bases/%d/certifications", baseA.ID)
	certsB := fmt.Sprintf("/api/v1/bases/%d/certifications", baseB.ID)
	certA := map[string]any{"number": "GZCLZ-2026-0031", "products": []string{"choy-sum"}, "valid_from": day(-300),
		"valid_until": day(20), "issuer": "广州市农业农村局"}
	must("POST", certsA, keyA, certA, 403, nil)
	must("POST", fmt.Sprintf("/api/v1/bases/%d/certifications", buyerOrg.ID), coord, certA, 404, nil)
	bad := string(must("POST", certsA, coord, map[string]any{"number": "", "products": []string{"durian"}, "valid_from": day(5), "valid_until": day(1)}, 422, nil))
	for _, f := range []string{`"field":"number"`, `"field":"products[0]"`, `"field":"valid_until"`} {
		if !strings.Contains(bad, f) {
			t.Errorf("bad certificate: no %s in %s", f, bad)
		}
	}
	var a struct {
		ID          int64
		DaysLeft    int    `json:"days_left"`
		ExpiresSoon bool   `json:"expires_soon"`
		ValidUntil  string `json:"valid_until"`
	}
	must("POST", certsA, coord, certA, 201, &a)
	if a.DaysLeft != 20 || !a.ExpiresSoon || a.ValidUntil != day(20) {
		t.Errorf("certificate A: %+v", a)
	}
	must("POST", certsA, coord, certA, 409, nil) // the same number twice
	must("POST", certsB, coord, map[string]any{"number": "GZCLZ-2026-0107", "products": []string{"pomelo"}, "valid_until": day(200)}, 201, nil)

	// Who reads them: the base its own, buyers and staff every base's.
	must("GET", certsA, keyA, nil, 200, nil)
	must("GET", certsA, keyB, nil, 404, nil)
	must("GET", fmt.Sprintf("%s/%d", certsA, a.ID), keyB, nil, 404, nil)
	must("GET", fmt.Sprintf("%s/%d", certsA, a.ID), buyer, nil, 200, nil)
	numbers := func(path, key string) []string {
		t.Helper()
		var l struct{ Items []struct{ Number string } }
		must("GET", path, key, nil, 200, &l)
		var out []string
		for _, c := range l.Items {
			out = append(out, c.Number)
		}
		return out
	}
	if got := numbers("/api/v1/certifications?expiring_within=30d", coord); !slices.Equal(got, []string{"GZCLZ-2026-0031"}) {
		t.Errorf("expiring within 30 days: %v", got)
	}
	if got := numbers("/api/v1/certifications", buyer); !slices.Equal(got, []string{"GZCLZ-2026-0031", "GZCLZ-2026-0107"}) {
		t.Errorf("a buyer's list, soonest to end first: %v", got)
	}
	if got := numbers("/api/v1/certifications", keyB); !slices.Equal(got, []string{"GZCLZ-2026-0107"}) {
		t.Errorf("base B's list: %v", got)
	}
	must("GET", "/api/v1/certifications?expiring_within=soon", coord, nil, 400, nil)
	must("PATCH", fmt.Sprintf("%s/%d", certsA, a.ID), keyA, map[string]any{"valid_until": day(400)}, 403, nil)
	must("PATCH", fmt.Sprintf("%s/%d", certsA, a.ID), coord, map[string]any{"valid_until": day(25)}, 200, &a)
	if a.DaysLeft != 25 {
		t.Errorf("after the change: %+v", a)
	}

	// Lots and their inspections.
	harvest := time.Now().Add(-50 * time.Hour).Truncate(time.Minute) // the day before yesterday, at least
	var codeA string
	lot := func(key, county string) int64 {
		var l struct {
			ID   int64
			Code string
		}
		must("POST", "/api/v1/lots", key, map[string]any{"product": "choy-sum", "grade": 1, "quantity_kg": 1000,
			"base_name": "基地", "county": county, "harvested_at": harvest}, 201, &l)
		if codeA == "" {
			codeA = l.Code
		}
		return l.ID
	}
	lotA := lot(keyA, "上杭县")
	page := func(lang string) string {
		t.Helper()
		code, b := ts.get(t, "/t/"+codeA+lang, "")
		if code != 200 {
			t.Fatalf("page of %s: %d", codeA, code)
		}
		return b
	}
	if strings.Contains(page(""), "农残检测") {
		t.Error("the page shows an inspection before any is recorded")
	}
	lotB := lot(keyB, "武平县")
	insp := func(id int64) string { return fmt.Sprintf("/api/v1/lots/%d/inspections", id) }
	test := func(result, report string, daysAgo int) map[string]any {
		return map[string]any{"result": result, "lab": "龙岩市农产品质量安全检验检测中心", "tested_on": day(-daysAgo), "report_number": report}
	}
	must("POST", insp(lotB), keyA, test("pass", "R-1", 0), 404, nil) // not A's lot: A cannot even see it
	must("POST", insp(lotA), buyer, test("pass", "R-1", 0), 404, nil)
	bad = string(must("POST", insp(lotA), keyA, map[string]any{"result": "ok", "lab": "", "tested_on": day(2), "report_number": ""}, 422, nil))
	for _, f := range []string{`"field":"result"`, `"field":"lab"`, `"field":"tested_on"`, `"field":"report_number"`} {
		if !strings.Contains(bad, f) {
			t.Errorf("bad inspection: no %s in %s", f, bad)
		}
	}
	// Failed, then passed on a retest: the retest counts. The order of recording does not matter, the day does.
	must("POST", insp(lotA), keyA, test("pass", "LYJC-0457", 0), 201, nil)
	must("POST", insp(lotA), coord, test("fail", "LYJC-0449", 1), 201, nil)
	must("POST", insp(lotA), keyA, test("pass", "LYJC-0457", 0), 409, nil)
	must("POST", insp(lotB), coord, test("fail", "LYJC-0450", 0), 201, nil)
	var list struct {
		Items []struct {
			Result       string
			ReportNumber string `json:"report_number"`
		}
	}
	must("GET", insp(lotA), keyA, nil, 200, &list)
	if len(list.Items) != 2 || list.Items[0].Result != "pass" || list.Items[1].ReportNumber != "LYJC-0449" {
		t.Errorf("lot A's inspections: %+v", list)
	}
	must("GET", insp(lotA), keyB, nil, 404, nil)
	// The lot's public page shows the latest, at once (an inspection is a new revision of the page).
	if p := page(""); !strings.Contains(p, "农残检测") || !strings.Contains(p, `<b class="ok">合格</b>`) || !strings.Contains(p, "LYJC-0457") {
		t.Errorf("the page does not show the passed retest:\n%s", p)
	}
	if p := page("?lang=en"); !strings.Contains(p, `<b class="ok">passed</b>`) {
		t.Errorf("the English page does not show the result")
	}

	// Offers name their lots (their own, of the same product).
	offer := func(key, origin string, lotID int64, want int) int64 {
		body := map[string]any{"product": "choy-sum", "grade": 1, "quantity_kg": 1000, "min_price_per_kg": 3, "origin": origin,
			"harvested_at": harvest, "certifications": []string{"cailanzi-base"}}
		if lotID != 0 {
			body["lot_id"] = lotID
		}
		var o struct {
			ID    int64
			LotID *int64 `json:"lot_id"`
		}
		b := must("POST", "/api/v1/offers", key, body, want, &o)
		if want == 201 && (o.LotID == nil) != (lotID == 0) {
			t.Errorf("offer's lot: %s", b)
		}
		return o.ID
	}
	if b := string(must("POST", "/api/v1/offers", keyA, map[string]any{"product": "choy-sum", "grade": 1, "quantity_kg": 1000,
		"min_price_per_kg": 3, "origin": "shanghang", "harvested_at": harvest, "lot_id": lotB}, 422, nil)); !strings.Contains(b, `"field":"lot_id"`) {
		t.Errorf("another base's lot: %s", b)
	}
	offA := offer(keyA, "shanghang", lotA, 201)
	offB := offer(keyB, "wuping", lotB, 201) // claims cailanzi-base itself, but its certificate covers pomelo only
	demand := func(body map[string]any) int64 {
		body["product"], body["min_grade"], body["quantity_kg"], body["destination"] = "choy-sum", 1, 1000, "jiangnan-market"
		body["deliver_by"] = harvest.Add(60 * time.Hour)
		var d struct {
			ID                int64
			RequireInspection bool `json:"require_inspection"`
		}
		must("POST", "/api/v1/demands", buyer, body, 201, &d)
		if d.RequireInspection != (body["require_inspection"] == true) {
			t.Errorf("demand: %+v", d)
		}
		return d.ID
	}
	dClz := demand(map[string]any{"max_price_per_kg": 6, "required_certifications": []string{"cailanzi-base"}})
	dTested := demand(map[string]any{"max_price_per_kg": 5, "require_inspection": true})

	var run struct {
		Allocations []struct {
			OfferID  int64 `json:"offer_id"`
			DemandID int64 `json:"demand_id"`
		}
		Unmatched []struct {
			Side        string
			ID          int64
			ReasonCodes []string `json:"reason_codes"`
			Reasons     []string
		}
	}
	must("POST", "/api/v1/matching/runs", coord, nil, 201, &run)
	if len(run.Allocations) != 1 || run.Allocations[0].OfferID != offA || run.Allocations[0].DemandID != dClz {
		t.Fatalf("allocations %+v, want offer %d → demand %d alone", run.Allocations, offA, dClz)
	}
	codes := map[string][]string{}
	for _, u := range run.Unmatched {
		codes[fmt.Sprintf("%s %d", u.Side, u.ID)] = u.ReasonCodes
	}
	if got := codes[fmt.Sprintf("offer %d", offB)]; !slices.Contains(got, "certificate_product") || !slices.Contains(got, "inspection_failed") {
		t.Errorf("offer B's reasons %v, want certificate_product and inspection_failed", got)
	}
	if got := codes[fmt.Sprintf("demand %d", dTested)]; !slices.Contains(got, "inspection_failed") || !slices.Contains(got, "capacity") {
		t.Errorf("the tested demand's reasons %v", got)
	}
}
