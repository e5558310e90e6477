package matchingapi_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/suilong/suilong/api"
	"github.com/suilong/suilong/api/matchingapi"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/auth/authtest"
	"github.com/suilong/suilong/internal/pg/pgtest"
	"github.com/suilong/suilong/matching"
)

// A round through the API: a coordinator opens it, a base posts into it, a buyer's standing demand becomes a
// demand in it at the close, the round's report shows each side its part (JSON and CSV with a BOM), and a
// follow-up run matches what lapsed.
func TestRoundsAndStandingDemandsThroughTheAPI(t *testing.T) {
	db := pgtest.New(t)
	store := matching.NewStore(db)
	var clock atomic.Pointer[time.Time]
	setClock := func(t time.Time) { clock.Store(&t) }
	setClock(time.Date(2026, 11, 19, 1, 0, 0, 0, time.UTC))
	store.Now = func() time.Time { return *clock.Load() }
	s := api.New(api.Options{Logger: slog.New(slog.DiscardHandler), Auth: auth.NewStore(db),
		Modules: []api.Module{matchingapi.New(matchingapi.Deps{Store: store})}})
	srv := httptest.NewServer(s.Engine)
	defer srv.Close()
	c := client{t, srv.URL}
	_, coord := authtest.Org(t, db, "广州市协作办", auth.RoleCoordinator)
	_, base := authtest.Org(t, db, "上杭县蛟洋蔬菜专业合作社", auth.RoleBase)
	_, buyer := authtest.Org(t, db, "广州江南果菜批发市场", auth.RoleBuyer)
	_, buyer2 := authtest.Org(t, db, "天河区机关食堂配送中心", auth.RoleBuyer)
	_, gateway := authtest.Org(t, db, "LY-GW-0001", auth.RoleGateway)
	c.must("POST", "/api/v1/products", coord, map[string]any{"name": "choy-sum", "shelf_life_hours": 72}, 201, nil)
	c.must("POST", "/api/v1/lanes", coord, `{"origin":"shanghang","destination":"jiangnan-market","cost_per_kg":0.40,"transit_hours":7}`, 201, nil)

	var p problem
	c.must("POST", "/api/v1/rounds", base, `{"name":"x","opens_at":"2026-11-19T00:00:00Z","closes_at":"2026-11-20T10:00:00Z"}`, 403, nil)
	c.must("POST", "/api/v1/rounds", coord, `{"opens_at":"2026-11-19T00:00:00Z","closes_at":"2026-11-18T10:00:00Z","products":["durian"]}`, 422, &p)
	got := []string{}
	for _, e := range p.Errors {
		got = append(got, e.Field)
	}
	if strings.Join(got, " ") != "name closes_at closes_at products[0]" {
		t.Fatalf("a bad round: %+v", p)
	}
	var r matching.Round
	c.must("POST", "/api/v1/rounds", coord, `{"name":"第48周 / week 48","opens_at":"2026-11-19T00:00:00Z","closes_at":"2026-11-20T10:00:00Z",
		"products":["choy-sum"],"answer_by":"2026-11-20T16:00:00Z"}`, 201, &r)
	if r.DeliverBy.Format(time.RFC3339) != "2026-11-22T10:00:00Z" || r.AnswerBy.Format(time.RFC3339) != "2026-11-20T16:00:00Z" || !r.Accepting {
		t.Fatalf("the round: %+v", r)
	}
	var rounds struct {
		Items []matching.Round `json:"items"`
		Total int              `json:"total"`
	}
	c.must("GET", "/api/v1/rounds?accepting=true", buyer, nil, 200, &rounds)
	if rounds.Total != 1 || rounds.Items[0].ID != r.ID {
		t.Fatalf("rounds a buyer may post into: %+v", rounds)
	}
	c.must("GET", "/api/v1/rounds", gateway, nil, 403, nil)
	c.must("GET", "/api/v1/rounds?status=done", coord, nil, 400, nil)

	offer := `{"product":"choy-sum","grade":1,"quantity_kg":%d,"min_price_per_kg":3.20,"origin":"shanghang",
		"harvested_at":"2026-11-20T06:00:00Z","round_id":%d}`
	c.must("POST", "/api/v1/offers", base, fmt.Sprintf(offer, 1000, 424242), 422, &p)
	if len(p.Errors) != 1 || p.Errors[0].Field != "round_id" {
		t.Fatalf("an offer into no round: %+v", p)
	}
	var o matching.Offer
	c.must("POST", "/api/v1/offers", base, fmt.Sprintf(offer, 1000, r.ID), 201, &o)
	c.must("POST", "/api/v1/offers", base, strings.Replace(fmt.Sprintf(offer, 400, r.ID), fmt.Sprintf(`,"round_id":%d`, r.ID), "", 1), 201, nil)
	var offers struct {
		Total int `json:"total"`
	}
	c.must("GET", fmt.Sprintf("/api/v1/offers?round_id=%d", r.ID), base, nil, 200, &offers)
	if offers.Total != 1 || o.RoundID == nil || *o.RoundID != r.ID {
		t.Fatalf("the base's offers in the round: %d (%+v)", offers.Total, o)
	}

	c.must("POST", "/api/v1/standing-demands", base, `{}`, 403, nil)
	c.must("POST", "/api/v1/standing-demands", buyer, `{"product":"choy-sum","min_grade":1,"quantity_kg":600,"max_price_per_kg":5,
		"destination":"jiangnan-market","weekdays":[8]}`, 422, &p)
	if len(p.Errors) != 1 || p.Errors[0].Field != "weekdays[0]" {
		t.Fatalf("a bad weekday: %+v", p)
	}
	var sd matching.StandingDemandDoc
	c.must("POST", "/api/v1/standing-demands", buyer, `{"product":"choy-sum","min_grade":1,"quantity_kg":600,"max_price_per_kg":5,
		"destination":"jiangnan-market","weekdays":[5,6],"valid_from":"2026-11-01"}`, 201, &sd)
	path := fmt.Sprintf("/api/v1/standing-demands/%d", sd.ID)
	c.must("GET", path, buyer2, nil, 404, nil)
	c.must("POST", path+"/pause", buyer2, nil, 404, nil)
	c.must("POST", path+"/pause", buyer, nil, 200, &sd)
	if !sd.Paused {
		t.Fatalf("paused: %+v", sd)
	}
	c.must("POST", path+"/resume", buyer, nil, 200, &sd)
	c.must("PATCH", path, buyer, `{"quantity_kg":700}`, 200, &sd)
	if sd.Paused || sd.QuantityKg != 700 {
		t.Fatalf("resumed and changed: %+v", sd)
	}

	// The close, as the scheduler sees it.
	setClock(r.ClosesAt.Add(time.Second))
	if _, _, err := (&matching.Scheduler{Store: store}).Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	c.must("GET", fmt.Sprintf("/api/v1/rounds/%d", r.ID), base, nil, 200, &r)
	if r.Status != matching.RoundClosed || len(r.RunIDs) != 1 {
		t.Fatalf("the round after its close: %+v", r)
	}
	c.must("GET", path, buyer, nil, 200, &sd)
	if len(sd.Rounds) != 1 || sd.Rounds[0].Demand.QuantityKg != 700 || len(sd.Rounds[0].Allocations) != 1 ||
		sd.Rounds[0].Allocations[0].QuantityKg != 700 {
		t.Fatalf("what the round made of the standing demand: %+v", sd.Rounds)
	}
	c.must("PATCH", fmt.Sprintf("/api/v1/rounds/%d", r.ID), coord, `{"name":"late"}`, 409, nil)

	// Nobody answers: the allocation lapses at 16:00; a follow-up run proposes it again.
	setClock(r.AnswerBy)
	if _, n, err := (&matching.Scheduler{Store: store}).Tick(t.Context()); err != nil || n != 1 {
		t.Fatalf("the sweep: %d %v", n, err)
	}
	c.must("POST", fmt.Sprintf("/api/v1/rounds/%d/runs", r.ID), buyer, nil, 403, nil)
	var fu matching.Run
	c.must("POST", fmt.Sprintf("/api/v1/rounds/%d/runs", r.ID), coord, nil, 201, &fu)
	if fu.MatchedKg != 700 || fu.RoundID == nil || *fu.RoundID != r.ID {
		t.Fatalf("the follow-up: %+v", fu)
	}

	var rep matching.RoundReport
	c.must("GET", fmt.Sprintf("/api/v1/rounds/%d/report", r.ID), coord, nil, 200, &rep)
	if rep.Totals.OfferedKg != 1000 || rep.Totals.DemandedKg != 700 || rep.Totals.MatchedKg != 1400 || rep.Totals.LapsedKg != 700 ||
		rep.Totals.ProposedKg != 700 || rep.Totals.Surplus == nil || len(rep.Bases) != 1 || len(rep.Buyers) != 1 {
		t.Fatalf("the coordinator's report: %+v", rep)
	}
	var raw map[string]any
	c.must("GET", fmt.Sprintf("/api/v1/rounds/%d/report", r.ID), buyer2, nil, 200, &raw)
	if raw["scope"] != "own" || len(raw["buyers"].([]any)) != 0 || len(raw["bases"].([]any)) != 0 {
		t.Fatalf("another buyer's report: %+v", raw)
	}
	c.must("GET", fmt.Sprintf("/api/v1/rounds/%d/report", r.ID), gateway, nil, 403, nil)

	req, _ := http.NewRequest("GET", srv.URL+fmt.Sprintf("/api/v1/rounds/%d/report.csv", r.ID), nil)
	req.Header.Set("Authorization", "Bearer "+coord)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") ||
		!bytes.HasPrefix(body, []byte{0xEF, 0xBB, 0xBF}) || !strings.Contains(string(body), "类别 kind,机构编号 org_id,机构 org") ||
		!strings.Contains(string(body), "\nbase,") || !strings.Contains(string(body), "上杭县蛟洋蔬菜专业合作社") {
		t.Fatalf("the CSV: %d %s\n%s", res.StatusCode, res.Header.Get("Content-Type"), body)
	}

	c.must("DELETE", path, buyer2, nil, 404, nil)
	if code := c.call("DELETE", path, buyer, nil, nil); code != 204 {
		t.Fatalf("the buyer deletes its standing demand: %d", code)
	}
	c.must("GET", path, buyer, nil, 404, nil)
	c.must("POST", fmt.Sprintf("/api/v1/rounds/%d/cancel", r.ID), coord, nil, 409, nil)
}
