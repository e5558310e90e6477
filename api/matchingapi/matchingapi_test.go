package matchingapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/suilong/suilong/api"
	"github.com/suilong/suilong/api/matchingapi"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/auth/authtest"
	"github.com/suilong/suilong/internal/pg/pgtest"
	"github.com/suilong/suilong/matching"
)

type client struct {
	t   *testing.T
	url string
}

// call sends a JSON request with the key and decodes the answer into out (when not nil); it returns the status.
func (c client) call(method, path, key string, body any, out any) int {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		if s, ok := body.(string); ok {
			b = []byte(s)
		}
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.url+path, r)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %d %s: %v", method, path, res.StatusCode, b, err)
		}
	}
	return res.StatusCode
}

func (c client) must(method, path, key string, body any, want int, out any) {
	c.t.Helper()
	var raw json.RawMessage
	if got := c.call(method, path, key, body, &raw); got != want {
		c.t.Fatalf("%s %s = %d, want %d: %s", method, path, got, want, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatal(err)
		}
	}
}

type problem struct {
	Status int    `json:"status"`
	Code   string `json:"code"`
	Errors []struct {
		Field, Message string
	} `json:"errors"`
}

// Two bases and two buyers through the API: each sees only its own offers and demands, a coordinator runs the
// matching, both sides answer, an order is placed, a withdrawal ends what was proposed, and bad input is a
// problem naming the field.
func TestMatchingThroughTheAPI(t *testing.T) {
	db := pgtest.New(t)
	s := api.New(api.Options{Logger: slog.New(slog.DiscardHandler), Auth: auth.NewStore(db),
		Modules: []api.Module{matchingapi.New(matchingapi.Deps{Store: matching.NewStore(db)})}})
	srv := httptest.NewServer(s.Engine)
	defer srv.Close()
	c := client{t, srv.URL}
	_, coord := authtest.Org(t, db, "广州市协作办", auth.RoleCoordinator)
	_, baseA := authtest.Org(t, db, "上杭县蛟洋蔬菜专业合作社", auth.RoleBase)
	_, baseB := authtest.Org(t, db, "武平县象洞蔬菜合作社", auth.RoleBase)
	_, buyerA := authtest.Org(t, db, "广州江南果菜批发市场", auth.RoleBuyer)
	_, buyerB := authtest.Org(t, db, "天河区机关食堂配送中心", auth.RoleBuyer)
	_, gateway := authtest.Org(t, db, "LY-GW-0001", auth.RoleGateway)

	c.must("POST", "/api/v1/products", coord, map[string]any{"name": "choy-sum", "name_zh": "菜心", "shelf_life_hours": 72,
		"temp_min_c": 0, "temp_max_c": 4}, 201, nil)
	c.must("POST", "/api/v1/products", baseA, map[string]any{"name": "gai-lan", "shelf_life_hours": 96}, 403, nil)
	for _, l := range []string{`{"origin":"shanghang","destination":"jiangnan-market","cost_per_kg":0.40,"transit_hours":7}`,
		`{"origin":"wuping","destination":"tianhe-canteens","cost_per_kg":0.35,"transit_hours":6}`} {
		c.must("POST", "/api/v1/lanes", coord, l, 201, nil)
	}
	if code := c.call("GET", "/api/v1/products", gateway, nil, nil); code != 403 {
		t.Fatalf("a gateway key reads products: %d", code)
	}

	var p problem
	c.must("POST", "/api/v1/offers", baseA, `{"product":"choy-sum","grade":1,"quantity_kg":100,"min_price_per_kg":3.201,
		"origin":"shanghang","harvested_at":"2026-11-20T06:00:00Z"}`, 400, &p)
	if len(p.Errors) != 1 || p.Errors[0].Field != "min_price_per_kg" {
		t.Fatalf("money with three decimals: %+v", p)
	}
	c.must("POST", "/api/v1/offers", baseA, `{"product":"choy-sum","grade":1,"quantity_kg":100,"min_price_per_kg":3.20,
		"origin":"shanghang","harvested_at":"20/11/2026"}`, 400, &p)
	if len(p.Errors) != 1 || p.Errors[0].Field != "harvested_at" {
		t.Fatalf("malformed time: %+v", p)
	}
	c.must("POST", "/api/v1/offers", baseA, `{"product":"durian","grade":1,"quantity_kg":-3,"min_price_per_kg":3.20,
		"origin":"shanghang","harvested_at":"2026-11-20T06:00:00Z"}`, 422, &p)
	if len(p.Errors) != 2 || p.Code != "unprocessable" {
		t.Fatalf("unknown product and negative kg: %+v", p)
	}

	var oA, oB matching.Offer
	c.must("POST", "/api/v1/offers", baseA, `{"product":"choy-sum","grade":1,"quantity_kg":3000,"min_price_per_kg":3.20,
		"origin":"shanghang","harvested_at":"2026-11-20T06:00:00Z","available_from":"2026-11-20T08:00:00Z","certifications":["green-food"]}`, 201, &oA)
	c.must("POST", "/api/v1/offers", baseB, `{"product":"choy-sum","grade":2,"quantity_kg":1000,"min_price_per_kg":2.80,
		"origin":"wuping","harvested_at":"2026-11-20T06:00:00Z"}`, 201, &oB)
	var dA, dB matching.Demand
	c.must("POST", "/api/v1/demands", buyerA, `{"product":"choy-sum","min_grade":1,"quantity_kg":2000,"max_price_per_kg":5.00,
		"destination":"jiangnan-market","deliver_by":"2026-11-21T04:00:00Z","required_certifications":["green-food"]}`, 201, &dA)
	c.must("POST", "/api/v1/demands", buyerB, `{"product":"choy-sum","min_grade":2,"quantity_kg":800,"max_price_per_kg":4.60,
		"destination":"tianhe-canteens","deliver_by":"2026-11-21T06:00:00Z"}`, 201, &dB)
	c.must("POST", "/api/v1/demands", baseA, `{}`, 403, nil)

	// Scoping: another buyer's demand and another base's offer do not exist for you.
	for _, x := range []struct{ path, key string }{
		{fmt.Sprintf("/api/v1/demands/%d", dA.ID), buyerB}, {fmt.Sprintf("/api/v1/offers/%d", oA.ID), baseB},
		{fmt.Sprintf("/api/v1/offers/%d", oA.ID), buyerA},
	} {
		if code := c.call("GET", x.path, x.key, nil, nil); code != 404 {
			t.Errorf("GET %s with another organisation's key: %d, want 404", x.path, code)
		}
	}
	var demands struct {
		Items []matching.Demand `json:"items"`
		Total int               `json:"total"`
	}
	c.must("GET", "/api/v1/demands", buyerB, nil, 200, &demands)
	if demands.Total != 1 || demands.Items[0].ID != dB.ID {
		t.Fatalf("buyer B's demands: %+v", demands)
	}
	c.must("POST", "/api/v1/matching/runs", buyerA, nil, 403, nil)

	var run matching.Run
	c.must("POST", "/api/v1/matching/runs", coord, nil, 201, &run)
	// o1→d1 2000 kg at 5.00−3.20−0.40 = 1.40; oB→dB 800 kg at 4.60−2.80−0.35 = 1.45.
	if run.Objective != 2000*140+800*145 || len(run.Allocations) != 2 || run.MatchedKg != 2800 {
		t.Fatalf("run: objective %s, %d allocations", run.Objective, len(run.Allocations))
	}
	var unmatchedA *matching.Unmatched
	for i, u := range run.Unmatched {
		if u.Side == "offer" && u.ID == oA.ID {
			unmatchedA = &run.Unmatched[i]
		}
	}
	if unmatchedA == nil || unmatchedA.QuantityKg != 1000 || len(unmatchedA.Reasons) == 0 {
		t.Fatalf("offer A's 1000 kg left: %+v", run.Unmatched)
	}
	var allocs struct {
		Items []map[string]any `json:"items"`
	}
	c.must("GET", "/api/v1/allocations", baseA, nil, 200, &allocs)
	if len(allocs.Items) != 1 || allocs.Items[0]["max_price_per_kg"] != nil || allocs.Items[0]["surplus_per_kg"] != nil {
		t.Fatalf("base A sees %+v", allocs.Items)
	}
	idA := int64(allocs.Items[0]["id"].(float64))
	c.must("GET", "/api/v1/allocations", buyerB, nil, 200, &allocs)
	idB := int64(allocs.Items[0]["id"].(float64))
	if len(allocs.Items) != 1 || idB == idA {
		t.Fatalf("buyer B sees %+v", allocs.Items)
	}
	if code := c.call("POST", fmt.Sprintf("/api/v1/allocations/%d/accept", idA), buyerB, nil, nil); code != 404 {
		t.Fatalf("buyer B accepts buyer A's allocation: %d", code)
	}

	var dec matchingapi.Decided
	c.must("POST", fmt.Sprintf("/api/v1/allocations/%d/accept", idA), baseA, nil, 200, &dec)
	if dec.Order != nil || dec.Allocation.BaseDecision == nil {
		t.Fatalf("first acceptance: %+v", dec)
	}
	c.must("POST", fmt.Sprintf("/api/v1/allocations/%d/accept", idA), buyerA, nil, 200, &dec)
	if dec.Order == nil || dec.Order.QuantityKg != 2000 || dec.Order.PricePerKg != 320+40+70 || len(dec.Order.Lots) != 0 {
		t.Fatalf("second acceptance places the order at the midpoint price 4.30: %+v", dec.Order)
	}
	var order matchingapi.OrderDoc
	c.must("GET", fmt.Sprintf("/api/v1/orders/%d", dec.Order.ID), buyerA, nil, 200, &order)
	if code := c.call("GET", fmt.Sprintf("/api/v1/orders/%d", dec.Order.ID), buyerB, nil, nil); code != 404 {
		t.Fatalf("buyer B reads buyer A's order: %d", code)
	}

	// Base B withdraws its offer: the allocation buyer B had not answered yet ends; buyer B can no longer accept.
	c.must("POST", fmt.Sprintf("/api/v1/offers/%d/withdraw", oB.ID), baseB, nil, 200, nil)
	c.must("POST", fmt.Sprintf("/api/v1/allocations/%d/accept", idB), buyerB, nil, 409, &p)
	if !strings.Contains(fmt.Sprint(p), "409") {
		t.Fatalf("accepting a withdrawn allocation: %+v", p)
	}
	var dmB matching.Demand
	c.must("GET", fmt.Sprintf("/api/v1/demands/%d", dB.ID), buyerB, nil, 200, &dmB)
	if dmB.AvailableKg != 800 || dmB.ProposedKg != 0 {
		t.Fatalf("buyer B's demand after the withdrawal: %+v", dmB)
	}
	var runs struct {
		Total int `json:"total"`
	}
	c.must("GET", "/api/v1/matching/runs", coord, nil, 200, &runs)
	c.must("GET", fmt.Sprintf("/api/v1/matching/runs/%d", run.ID), coord, nil, 200, &run)
	if runs.Total != 1 || len(run.Allocations) != 2 {
		t.Fatalf("runs: %d, run %d has %d allocations", runs.Total, run.ID, len(run.Allocations))
	}
}
