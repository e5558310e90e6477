package planapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/suilong/suilong/api"
	"github.com/suilong/suilong/api/planapi"
	"github.com/suilong/suilong/api/web"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/auth/authtest"
	"github.com/suilong/suilong/internal/pg/pgtest"
	"github.com/suilong/suilong/plan"
	"github.com/suilong/suilong/plan/tree"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

type fixture struct {
	srv      *httptest.Server
	db       *pgxpool.Pool
	clk      *clock
	coordKey string
	buyerKey string
	password string
	reg      *prometheus.Registry
}

const username = "chen.wei"

func newFixture(t *testing.T, secure bool) *fixture {
	t.Helper()
	db := pgtest.New(t)
	f := &fixture{db: db, clk: &clock{time.Date(2026, 3, 10, 9, 0, 0, 0, plan.CST)}, password: "穗龙 counterpart 2027"}
	as := auth.NewStore(db)
	as.Now = f.clk.now
	st := plan.NewStore(db)
	st.Now = f.clk.now
	svc := plan.NewService(st, plan.Sources{}, nil)
	if _, err := svc.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	org, key := authtest.Org(t, db, "广州市对口支援协作办", auth.RoleCoordinator)
	f.coordKey = key
	_, f.buyerKey = authtest.Org(t, db, "江南果菜批发市场", auth.RoleBuyer)
	if _, err := as.CreateUser(context.Background(), auth.NewUser{OrgID: org.ID, Username: username, DisplayName: "陈伟",
		City: auth.CityGuangzhou, Password: f.password}); err != nil {
		t.Fatal(err)
	}
	f.reg = prometheus.NewRegistry()
	site := web.New(web.Deps{Auth: as, SecureCookies: secure, LoginBurst: 50, Registry: f.reg,
		Sessions: auth.SessionPolicy{Idle: time.Hour, Absolute: 8 * time.Hour}, Log: slog.New(slog.DiscardHandler), Now: f.clk.now})
	mod := planapi.New(planapi.Deps{Plan: svc, Site: site})
	s := api.New(api.Options{Logger: slog.New(slog.DiscardHandler), Auth: as, Modules: []api.Module{site, mod}})
	f.srv = httptest.NewServer(s.Engine)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) call(t *testing.T, method, path, key string, body any, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		if s, ok := body.(string); ok {
			b = []byte(s)
		}
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, f.srv.URL+path, rd)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, raw
}

func problemFields(t *testing.T, raw []byte) []string {
	t.Helper()
	var p struct {
		Errors []struct{ Field string }
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatalf("not a problem document: %s", raw)
	}
	var out []string
	for _, e := range p.Errors {
		out = append(out, e.Field)
	}
	return out
}

func TestAPIServesThePlanAndChecksInput(t *testing.T) {
	f := newFixture(t, false)
	real, err := tree.Load()
	if err != nil {
		t.Fatal(err)
	}

	// The whole tree, every item with its text.
	resp, raw := f.call(t, "GET", "/api/v1/plan", f.coordKey, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /plan: %d %s", resp.StatusCode, raw)
	}
	type doc struct {
		Code, Kind, Title, TitleEN, Text string
		Tracking                         struct{ Status string }
		Children                         []*doc
	}
	var pl struct{ Goals, Domains, Safeguards []*doc }
	if err := json.Unmarshal(raw, &pl); err != nil {
		t.Fatal(err)
	}
	got := map[string]*doc{}
	var walk func([]*doc)
	walk = func(ds []*doc) {
		for _, d := range ds {
			got[d.Code] = d
			walk(d.Children)
		}
	}
	walk(pl.Goals)
	walk(pl.Domains)
	walk(pl.Safeguards)
	if len(got) != len(real.All()) || len(pl.Domains) != 10 || len(pl.Safeguards) != 4 {
		t.Fatalf("%d items in the document, %d in the tree", len(got), len(real.All()))
	}
	for _, it := range real.All() {
		d := got[it.Code]
		text := it.Text
		if text == "" { // a heading's full text is the heading
			text = it.Title
		}
		if d == nil || d.Text != text || d.Text == "" || d.Title != it.Title || d.Kind != string(it.Kind) || d.Tracking.Status != "not_started" {
			t.Fatalf("item %s: %+v", it.Code, d)
		}
	}

	// A buyer may neither read nor change the plan, and its PATCH changes nothing.
	if resp, _ := f.call(t, "GET", "/api/v1/plan", f.buyerKey, nil); resp.StatusCode != 403 {
		t.Fatalf("buyer GET: %d", resp.StatusCode)
	}
	if resp, _ := f.call(t, "PATCH", "/api/v1/plan/items/T4.6", f.buyerKey, map[string]any{"status": "done"}); resp.StatusCode != 403 {
		t.Fatalf("buyer PATCH: %d", resp.StatusCode)
	}
	if resp, _ := f.call(t, "GET", "/api/v1/plan", "", nil); resp.StatusCode != 401 {
		t.Fatalf("anonymous GET: %d", resp.StatusCode)
	}

	// Validation errors are problem+json naming the field.
	for _, c := range []struct {
		body   string
		status int
		fields string
	}{
		{`{"status":"finished","progress":120,"target_date":"31/12/2026"}`, 422, "status,progress,target_date"},
		{`{"progress":"half"}`, 400, "progress"},
		{`{"colour":"red"}`, 400, "colour"},
		{`{"lead_guangzhou":["a"]}`, 400, "lead_guangzhou"},
	} {
		resp, raw := f.call(t, "PATCH", "/api/v1/plan/items/T4.6", f.coordKey, c.body)
		if resp.StatusCode != c.status || resp.Header.Get("Content-Type") != "application/problem+json" || strings.Join(problemFields(t, raw), ",") != c.fields {
			t.Errorf("PATCH %s: %d %s", c.body, resp.StatusCode, raw)
		}
	}
	if resp, _ := f.call(t, "PATCH", "/api/v1/plan/items/T99.9", f.coordKey, `{"status":"done"}`); resp.StatusCode != 404 {
		t.Fatalf("unknown item: %d", resp.StatusCode)
	}
	resp, raw = f.call(t, "PATCH", "/api/v1/plan/items/T4.6", f.coordKey, `{"status":"at_risk","progress":35,"target_date":"2026-01-31","lead_longyan":"龙岩市商务局"}`)
	var pr struct {
		Tracking plan.Tracking
		Changes  []plan.Change
	}
	if err := json.Unmarshal(raw, &pr); resp.StatusCode != 200 || err != nil || len(pr.Changes) != 4 || pr.Tracking.Status != plan.AtRisk {
		t.Fatalf("PATCH: %d %s", resp.StatusCode, raw)
	}

	// Updates and annual entries.
	resp, raw = f.call(t, "POST", "/api/v1/plan/items/T4.6/updates", f.coordKey, map[string]any{"date": "2026-03-01", "note": "预冷库开工",
		"links": []string{"https://www.longyan.gov.cn/x", "file:///etc/passwd"}})
	if resp.StatusCode != 422 || strings.Join(problemFields(t, raw), ",") != "links[1]" {
		t.Fatalf("bad link: %d %s", resp.StatusCode, raw)
	}
	if resp, raw = f.call(t, "POST", "/api/v1/plan/items/T4.6/updates", f.coordKey, map[string]any{"date": "2026-03-01", "note": "预冷库开工",
		"links": []string{"https://www.longyan.gov.cn/x"}}); resp.StatusCode != 201 {
		t.Fatalf("update: %d %s", resp.StatusCode, raw)
	}
	resp, raw = f.call(t, "POST", "/api/v1/plan/items/T4.6/annual", f.coordKey, map[string]any{"year": 2026, "planned": "建成预冷库 3 座"})
	var a plan.Annual
	if err := json.Unmarshal(raw, &a); resp.StatusCode != 201 || err != nil {
		t.Fatalf("annual: %d %s", resp.StatusCode, raw)
	}
	if resp, raw = f.call(t, "PATCH", "/api/v1/plan/items/T4.6/annual/"+itoa(a.ID), f.coordKey, `{"done":true}`); resp.StatusCode != 200 || !strings.Contains(string(raw), `"done":true`) {
		t.Fatalf("annual patch: %d %s", resp.StatusCode, raw)
	}
	if resp, raw = f.call(t, "GET", "/api/v1/plan/items/T4.6/audit?limit=2", f.coordKey, nil); resp.StatusCode != 200 || !strings.Contains(string(raw), `"total":7`) {
		t.Fatalf("audit: %d %s", resp.StatusCode, raw)
	}
	resp, raw = f.call(t, "GET", "/api/v1/plan/items/T4.6", f.coordKey, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(raw), `"overdue":true`) || !strings.Contains(string(raw), "预冷库开工") || !strings.Contains(string(raw), "冷链") {
		t.Fatalf("item: %d %s", resp.StatusCode, raw)
	}
	if resp, raw = f.call(t, "GET", "/api/v1/plan/items/T4.6/updates", f.coordKey, nil); resp.StatusCode != 200 || !strings.Contains(string(raw), `"total":1`) {
		t.Fatalf("updates: %d %s", resp.StatusCode, raw)
	}

	// Export and report.
	resp, raw = f.call(t, "GET", "/api/v1/plan/export.csv", f.coordKey, nil)
	if resp.StatusCode != 200 || !bytes.HasPrefix(raw, []byte("\ufeffcode,kind,")) || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), "suilong-plan-2026-03-10.csv") {
		t.Fatalf("export: %d %q %q", resp.StatusCode, resp.Header, raw[:min(40, len(raw))])
	}
	resp, raw = f.call(t, "GET", "/api/v1/plan/report?year=2026", f.coordKey, nil, "Accept", "application/json")
	if resp.StatusCode != 200 || !strings.Contains(string(raw), `"year":2026`) || !strings.Contains(string(raw), `"late_items":1`) {
		t.Fatalf("report JSON: %d %s", resp.StatusCode, raw)
	}
	resp, raw = f.call(t, "GET", "/api/v1/plan/report?year=2026", f.coordKey, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(raw), "2026 年度总结通报") || strings.Contains(string(raw), `action="/logout"`) {
		t.Fatalf("report HTML: %d", resp.StatusCode)
	}
	if resp, raw = f.call(t, "GET", "/api/v1/plan/report?year=soon", f.coordKey, nil); resp.StatusCode != 422 || strings.Join(problemFields(t, raw), ",") != "year" {
		t.Fatalf("bad year: %d %s", resp.StatusCode, raw)
	}
	if resp, _ = f.call(t, "GET", "/api/v1/plan/dashboard", f.coordKey, nil); resp.StatusCode != 200 {
		t.Fatalf("dashboard: %d", resp.StatusCode)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// browser is an HTTP client with a cookie jar that does not follow redirects, like a person's browser seen one
// response at a time.
type browser struct {
	t   *testing.T
	c   *http.Client
	url string
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, url: base, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(method, path string, form url.Values, hdr ...string) (*http.Response, string) {
	b.t.Helper()
	var rd io.Reader
	if form != nil {
		rd = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, b.url+path, rd)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, string(raw)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, html string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(html)
	if m == nil {
		t.Fatalf("no CSRF field in the page:\n%s", html)
	}
	return m[1]
}

func (b *browser) signIn(user, pw string) *http.Response {
	b.t.Helper()
	_, page := b.do("GET", "/login?next=/plan/items/T4.6", nil)
	resp, _ := b.do("POST", "/login", url.Values{"csrf": {csrfOf(b.t, page)}, "username": {user}, "password": {pw}, "next": {"/plan/items/T4.6"}})
	return resp
}

func (f *fixture) status(t *testing.T, code string) plan.Status {
	t.Helper()
	var s plan.Status = plan.NotStarted
	_ = f.db.QueryRow(context.Background(), `SELECT status FROM plan_tracking WHERE code = $1`, code).Scan(&s)
	return s
}

func TestSignInSessionsAndCSRF(t *testing.T) {
	f := newFixture(t, false)
	b := newBrowser(t, f.srv.URL)

	// Not signed in: pages send you to the sign-in page, to come back afterwards.
	resp, _ := b.do("GET", "/plan/items/T4.6", nil)
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/login?next=%2Fplan%2Fitems%2FT4.6" {
		t.Fatalf("anonymous page: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}

	// Wrong password, a sign-in form without its token, then the right password.
	if resp := b.signIn(username, "not the password"); resp.StatusCode != 401 {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	resp, page := b.do("POST", "/login", url.Values{"username": {username}, "password": {f.password}})
	if resp.StatusCode != 403 || !strings.Contains(page, "登录表单已过期") {
		t.Fatalf("sign-in without its token: %d", resp.StatusCode)
	}
	resp = b.signIn(username, f.password)
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/plan/items/T4.6" {
		t.Fatalf("sign in: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	var cookie string
	for _, c := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(c, web.CookieName+"=") {
			cookie = c
		}
	}
	if !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Lax") || strings.Contains(cookie, "Secure") || !strings.Contains(cookie, "Path=/") {
		t.Fatalf("session cookie %q", cookie)
	}
	resp, page = b.do("GET", "/plan/items/T4.6", nil)
	if resp.StatusCode != 200 || !strings.Contains(page, "陈伟") || !strings.Contains(page, "冷链") {
		t.Fatalf("item page: %d", resp.StatusCode)
	}
	token := csrfOf(t, page)

	// A form without the CSRF token, or with a wrong one, is refused and changes nothing.
	form := url.Values{"status": {"done"}, "progress": {"100"}, "target_date": {""}, "lead_guangzhou": {""}, "lead_longyan": {""}}
	for _, bad := range []string{"", token[:len(token)-1] + "x"} {
		form.Set("csrf", bad)
		if resp, _ := b.do("POST", "/plan/items/T4.6", form); resp.StatusCode != 403 {
			t.Fatalf("CSRF %q: %d", bad, resp.StatusCode)
		}
		if f.status(t, "T4.6") != plan.NotStarted {
			t.Fatal("a refused form changed the item")
		}
	}
	form.Set("csrf", token)
	form.Set("progress", "lots")
	if resp, page = b.do("POST", "/plan/items/T4.6", form); resp.StatusCode != 422 || !strings.Contains(page, "进度") || !strings.Contains(page, `value="lots"`) {
		t.Fatalf("bad progress: %d", resp.StatusCode)
	}
	form.Set("progress", "100")
	if resp, _ = b.do("POST", "/plan/items/T4.6", form); resp.StatusCode != 303 || f.status(t, "T4.6") != plan.Done {
		t.Fatalf("good form: %d, status %s", resp.StatusCode, f.status(t, "T4.6"))
	}

	// The API with the cookie: reads work, changes need the CSRF header.
	if resp, _ := b.do("GET", "/api/v1/plan/items/T4.6", nil); resp.StatusCode != 200 {
		t.Fatalf("API read with the cookie: %d", resp.StatusCode)
	}
	patch := func(hdr ...string) int {
		req, _ := http.NewRequest("PATCH", f.srv.URL+"/api/v1/plan/items/T4.6", strings.NewReader(`{"status":"delayed"}`))
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := b.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := patch(); code != 403 || f.status(t, "T4.6") != plan.Done {
		t.Fatalf("cookie PATCH without CSRF header: %d", code)
	}
	if code := patch(web.CSRFHeader, token); code != 200 || f.status(t, "T4.6") != plan.Delayed {
		t.Fatalf("cookie PATCH with CSRF header: %d", code)
	}

	// Idle expiry: an hour and a minute without a request ends the session.
	f.clk.t = f.clk.t.Add(61 * time.Minute)
	if resp, _ := b.do("GET", "/plan", nil); resp.StatusCode != 303 {
		t.Fatalf("after the idle limit: %d", resp.StatusCode)
	}
	if resp, _ := b.do("GET", "/api/v1/plan", nil); resp.StatusCode != 401 {
		t.Fatalf("API after the idle limit: %d", resp.StatusCode)
	}

	// Absolute expiry: used every 50 minutes, the session still ends 8 hours after sign-in.
	if resp := b.signIn(username, f.password); resp.StatusCode != 303 {
		t.Fatal("sign in again")
	}
	signedIn := f.clk.t
	for {
		f.clk.t = f.clk.t.Add(50 * time.Minute)
		resp, _ := b.do("GET", "/plan", nil)
		if f.clk.t.Sub(signedIn) < 8*time.Hour {
			if resp.StatusCode != 200 {
				t.Fatalf("session ended %s after sign-in: %d", f.clk.t.Sub(signedIn), resp.StatusCode)
			}
			continue
		}
		if resp.StatusCode != 303 {
			t.Fatalf("session alive %s after sign-in: %d", f.clk.t.Sub(signedIn), resp.StatusCode)
		}
		break
	}

	// Sign-out needs the token too, and ends the session.
	if resp := b.signIn(username, f.password); resp.StatusCode != 303 {
		t.Fatal("sign in again")
	}
	_, page = b.do("GET", "/plan", nil)
	if resp, _ := b.do("POST", "/logout", url.Values{"csrf": {"forged"}}); resp.StatusCode != 403 {
		t.Fatalf("forged sign-out: %d", resp.StatusCode)
	}
	if resp, _ := b.do("POST", "/logout", url.Values{"csrf": {csrfOf(t, page)}}); resp.StatusCode != 303 || resp.Header.Get("Location") != "/login?out=1" {
		t.Fatalf("sign out: %d", resp.StatusCode)
	}
	if resp, _ := b.do("GET", "/plan", nil); resp.StatusCode != 303 {
		t.Fatalf("after sign-out: %d", resp.StatusCode)
	}
	var n int
	_ = f.db.QueryRow(context.Background(), `SELECT count(*) FROM user_sessions`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d sessions left after sign-out", n)
	}

	// Sign-ins are counted by outcome for monitoring.
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	outcomes := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() == "suilong_plan_signins_total" {
			for _, m := range mf.GetMetric() {
				outcomes[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	if outcomes["ok"] != 3 || outcomes["wrong_password"] != 1 || outcomes["stale_form"] != 1 || len(outcomes) != 3 {
		t.Fatalf("sign-in outcomes %v", outcomes)
	}

	// An open redirect is not possible through ?next=.
	_, page = b.do("GET", "/login?next=https://evil.example/", nil)
	if !strings.Contains(page, `name="next" value="/plan"`) {
		t.Fatal("next was not confined to the plan pages")
	}
}

// Sign-in attempts are limited per client address; a forged X-Forwarded-For does not get round it.
func TestSignInIsRateLimited(t *testing.T) {
	db := pgtest.New(t)
	as := auth.NewStore(db)
	svc := plan.NewService(plan.NewStore(db), plan.Sources{}, nil)
	site := web.New(web.Deps{Auth: as, LoginRate: 0.001, LoginBurst: 3, Log: slog.New(slog.DiscardHandler)})
	mod := planapi.New(planapi.Deps{Plan: svc, Site: site})
	srv := httptest.NewServer(api.New(api.Options{Logger: slog.New(slog.DiscardHandler), Auth: as, Modules: []api.Module{site, mod}}).Engine)
	defer srv.Close()
	b := newBrowser(t, srv.URL)
	codes := []int{}
	for i := range 5 {
		_, page := b.do("GET", "/login", nil)
		resp, _ := b.do("POST", "/login", url.Values{"csrf": {csrfOf(t, page)}, "username": {"nobody"}, "password": {"guess " + itoa(int64(i))}},
			"X-Forwarded-For", "198.51.100."+itoa(int64(i)))
		codes = append(codes, resp.StatusCode)
	}
	if want := []int{401, 401, 401, 429, 429}; !slices.Equal(codes, want) {
		t.Fatalf("attempts answered %v, want %v", codes, want)
	}
}

func TestSecureCookiesBehindHTTPS(t *testing.T) {
	f := newFixture(t, true)
	b := newBrowser(t, f.srv.URL)
	resp := b.signIn(username, f.password)
	for _, c := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(c, web.CookieName+"=") && !strings.Contains(c, "; Secure") {
			t.Fatalf("cookie without Secure: %s", c)
		}
	}
}
