package matchingapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/suilong/suilong/api"
	"github.com/suilong/suilong/api/matchingapi"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/auth/authtest"
	"github.com/suilong/suilong/internal/pg"
	"github.com/suilong/suilong/internal/pg/pgtest"
	"github.com/suilong/suilong/matching"
)

type demandPage struct {
	Items []struct {
		ID      int64  `json:"id"`
		Product string `json:"product"`
	} `json:"items"`
	Total       int     `json:"total"`
	TotalCapped bool    `json:"total_capped"`
	Limit       int     `json:"limit"`
	Offset      int     `json:"offset"`
	Next        *string `json:"next"`
}

func (p demandPage) ids() []int64 {
	out := make([]int64, len(p.Items))
	for i, it := range p.Items {
		out[i] = it.ID
	}
	return out
}

type pagingFixture struct {
	c     client
	db    *pgxpool.Pool
	buyer string
	org   auth.Org
	coord string
}

func newPagingFixture(t *testing.T) *pagingFixture {
	db := pgtest.New(t)
	s := api.New(api.Options{Logger: slog.New(slog.DiscardHandler), Auth: auth.NewStore(db),
		Modules: []api.Module{matchingapi.New(matchingapi.Deps{Store: matching.NewStore(db)})}})
	srv := httptest.NewServer(s.Engine)
	t.Cleanup(srv.Close)
	f := &pagingFixture{c: client{t, srv.URL}, db: db}
	_, f.coord = authtest.Org(t, db, "广州市协作办", auth.RoleCoordinator)
	f.org, f.buyer = authtest.Org(t, db, "广州江南果菜批发市场", auth.RoleBuyer)
	for _, p := range []string{"choy-sum", "gai-lan"} {
		f.c.must("POST", "/api/v1/products", f.coord, map[string]any{"name": p, "shelf_life_hours": 72}, 201, nil)
	}
	return f
}

func (f *pagingFixture) postDemand(t *testing.T, product string) int64 {
	t.Helper()
	var d struct {
		ID int64 `json:"id"`
	}
	f.c.must("POST", "/api/v1/demands", f.buyer, demandBody(product, ""), 201, &d)
	return d.ID
}

func demandBody(product, extra string) string {
	return `{"product":"` + product + `","min_grade":2,"quantity_kg":500,"max_price_per_kg":5.00,"destination":"jiangnan-market",
		"deliver_by":"2026-11-21T04:00:00Z"` + extra + `}`
}

// page GETs /api/v1/demands?query as the buyer and decodes the page; it fails unless the answer is 200.
func (f *pagingFixture) page(t *testing.T, query string) (demandPage, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", f.c.url+"/api/v1/demands?"+query, nil)
	req.Header.Set("Authorization", "Bearer "+f.buyer)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var p demandPage
	if err := json.NewDecoder(res.Body).Decode(&p); err != nil || res.StatusCode != 200 {
		t.Fatalf("GET /api/v1/demands?%s: %d %v", query, res.StatusCode, err)
	}
	return p, res.Header
}

// Walking a list by its next cursor gives every row once, in order, however many rows arrive meanwhile: new
// demands (newer than the cursor) do not shift the pages after it, as they shift offsets.
func TestKeysetPagesStayPutWhileRowsArrive(t *testing.T) {
	f := newPagingFixture(t)
	var want []int64
	for range 7 {
		want = append([]int64{f.postDemand(t, "choy-sum")}, want...) // newest first
	}
	first, h := f.page(t, "limit=3")
	if !slices.Equal(first.ids(), want[:3]) || first.Total != 7 || first.TotalCapped || first.Next == nil {
		t.Fatalf("first page %+v, want ids %v of 7 and a next cursor", first, want[:3])
	}
	if link := h.Get("Link"); !strings.Contains(link, `rel="next"`) || !strings.Contains(link, "after="+url.QueryEscape(*first.Next)) {
		t.Fatalf("Link %q does not lead to the next page", link)
	}
	// Two demands arrive between the pages; with offset=3 the second page would repeat two rows of the first.
	newer := []int64{f.postDemand(t, "choy-sum"), f.postDemand(t, "choy-sum")}
	var got []int64
	got = append(got, first.ids()...)
	next, pages := first.Next, 1
	for next != nil {
		p, _ := f.page(t, "limit=3&after="+url.QueryEscape(*next))
		if p.Total != 9 {
			t.Fatalf("page %d total %d, want the whole list's 9", pages+1, p.Total)
		}
		got = append(got, p.ids()...)
		next = p.Next
		pages++
	}
	if !slices.Equal(got, want) || pages != 3 {
		t.Fatalf("walked %v in %d pages, want %v in 3 (no row twice, none lost, the new %v not among them)", got, pages, want, newer)
	}
	byOffset, _ := f.page(t, "limit=3&offset=3")
	if !slices.Equal(byOffset.ids(), []int64{want[1], want[2], want[3]}) || byOffset.Offset != 3 {
		t.Fatalf("offset still pages from the newest rows: %+v", byOffset)
	}
}

// The last page has no next cursor and no Link, also when the list ends exactly at a page's end; an empty list
// is one page with none.
func TestLastPageHasNoNext(t *testing.T) {
	f := newPagingFixture(t)
	if p, h := f.page(t, ""); len(p.Items) != 0 || p.Total != 0 || p.Next != nil || h.Get("Link") != "" || p.Limit != 50 {
		t.Fatalf("empty list %+v, Link %q", p, h.Get("Link"))
	}
	for range 6 {
		f.postDemand(t, "gai-lan")
	}
	p1, _ := f.page(t, "limit=3")
	if p1.Next == nil {
		t.Fatal("no next cursor after the first of two full pages")
	}
	p2, h := f.page(t, "limit=3&after="+url.QueryEscape(*p1.Next))
	if len(p2.Items) != 3 || p2.Next != nil || h.Get("Link") != "" {
		t.Fatalf("last (full) page %+v with Link %q; want three rows and no next", p2, h.Get("Link"))
	}
	if p, _ := f.page(t, "limit=6"); p.Next != nil || len(p.Items) != 6 {
		t.Fatalf("one page holding the whole list %+v has a next", p)
	}
}

// A list of more than pg.CountCap rows says so instead of counting them all; a filter that narrows it below
// the cap counts exactly.
func TestTotalIsCappedBeyondCountCap(t *testing.T) {
	f := newPagingFixture(t)
	ctx := context.Background()
	if _, err := f.db.Exec(ctx, `INSERT INTO demands (org_id, product, min_grade, quantity_kg, max_price_fen, destination, deliver_by)
		SELECT $1, CASE WHEN n <= 12 THEN 'gai-lan' ELSE 'choy-sum' END, 2, 100, 500, 'jiangnan-market', '2026-11-21T04:00:00Z'
		FROM generate_series(1, $2::int) n`, f.org.ID, pg.CountCap+12); err != nil {
		t.Fatal(err)
	}
	p, _ := f.page(t, "limit=2")
	if p.Total != pg.CountCap || !p.TotalCapped || len(p.Items) != 2 || p.Next == nil {
		t.Fatalf("page of %d demands: total %d capped %v (%d items); want %d capped", pg.CountCap+12, p.Total, p.TotalCapped, len(p.Items), pg.CountCap)
	}
	if p, _ := f.page(t, "limit=2&product=gai-lan"); p.Total != 12 || p.TotalCapped {
		t.Fatalf("filtered to 12: total %d capped %v", p.Total, p.TotalCapped)
	}
	if p, _ := f.page(t, "limit=2&offset=5000"); len(p.Items) != 0 || p.Total != pg.CountCap || !p.TotalCapped {
		t.Fatalf("past the end: %+v", p)
	}
}

// A cursor that is not one the list gave out is a 400 naming the parameter: garbage, base64 of something
// else, a cursor of a list ordered by other keys, and a cursor given to another list.
func TestBadCursorIsInvalidNamingAfter(t *testing.T) {
	f := newPagingFixture(t)
	f.postDemand(t, "choy-sum")
	f.postDemand(t, "choy-sum")
	p, _ := f.page(t, "limit=1")
	laneCursor := pg.Cursor("shanghang", "jiangnan-market")
	for name, cursor := range map[string]string{
		"garbage":        "%%%not-a-cursor",
		"not JSON":       base64.RawURLEncoding.EncodeToString([]byte("id>5")),
		"empty array":    base64.RawURLEncoding.EncodeToString([]byte("[]")),
		"string key":     pg.Cursor("DEMOLY000001"),
		"two keys":       laneCursor,
		"empty":          "",
		"oversized":      pg.Cursor(strings.Repeat("9", 2000)),
		"fractional key": base64.RawURLEncoding.EncodeToString([]byte("[1.5]")),
	} {
		var pr problem
		f.c.must("GET", "/api/v1/demands?after="+url.QueryEscape(cursor), f.buyer, nil, 400, &pr)
		if pr.Code != "invalid" || len(pr.Errors) != 1 || pr.Errors[0].Field != "after" {
			t.Errorf("%s cursor: %+v, want invalid naming after", name, pr)
		}
	}
	// A demands cursor is an id; the lanes list is ordered by origin and destination.
	var pr problem
	f.c.must("GET", "/api/v1/lanes?after="+url.QueryEscape(*p.Next), f.coord, nil, 400, &pr)
	if len(pr.Errors) != 1 || pr.Errors[0].Field != "after" {
		t.Fatalf("a demands cursor given to lanes: %+v", pr)
	}
	f.c.must("GET", "/api/v1/lanes?after="+url.QueryEscape(laneCursor), f.coord, nil, 200, nil)
}

// A demand for an unknown product is refused naming the product, and nothing is written; a known one comes back
// whole from the one statement that writes it.
func TestPostDemandChecksTheProductInTheInsert(t *testing.T) {
	f := newPagingFixture(t)
	var pr problem
	f.c.must("POST", "/api/v1/demands", f.buyer, demandBody("durian", ""), 422, &pr)
	if len(pr.Errors) != 1 || pr.Errors[0].Field != "product" || !strings.Contains(pr.Errors[0].Message, "durian") {
		t.Fatalf("unknown product: %+v", pr)
	}
	var n int
	if err := f.db.QueryRow(context.Background(), `SELECT count(*) FROM demands`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d demands written for an unknown product (%v)", n, err)
	}
	var d matching.Demand
	f.c.must("POST", "/api/v1/demands", f.buyer, demandBody("gai-lan", `,"required_certifications":["green-food"],"note":"  早市  "`), 201, &d)
	var again matching.Demand
	f.c.must("GET", fmt.Sprintf("/api/v1/demands/%d", d.ID), f.buyer, nil, 200, &again)
	if d.OrgName != f.org.Name || d.Status != matching.StatusOpen || d.Version != 1 || d.AvailableKg != 500 || d.Note != "早市" ||
		!slices.Equal(d.RequiredCertifications, []string{"green-food"}) || d.CreatedAt.IsZero() ||
		fmt.Sprint(d) != fmt.Sprint(again) {
		t.Fatalf("posted %+v, read back %+v", d, again)
	}
}
