package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/browsertest"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
	"github.com/suilong/suilong/internal/pg/pgtest"
	"github.com/suilong/suilong/plan/tree"
)

// run runs a suilong command line against the test database, with stdin, and returns what it printed.
func run(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	cli, kctx := parseCLI(t, args...)
	var out bytes.Buffer
	g := &Globals{Ctx: context.Background(), Cfg: &cli.Config, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Stdout: &out,
		Stdin: strings.NewReader(stdin), kctx: kctx}
	err := kctx.Run(g)
	return out.String(), err
}

// `suilong migrate` loads the plan, `suilong plan load` then changes nothing, and `suilong admin create-user`
// takes the password from the environment or standard input, never from a flag.
func TestPlanLoadAndCreateUser(t *testing.T) {
	dbURL := pgtest.CreateDB(t)
	if _, err := run(t, "", "migrate", "--database-url", dbURL); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pool, err := pg.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	real, _ := tree.Load()
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM plan_items`).Scan(&n); err != nil || n != len(real.All()) {
		t.Fatalf("migrate stored %d plan items, the plan has %d (%v)", n, len(real.All()), err)
	}
	out, err := run(t, "", "plan", "load", "--database-url", dbURL)
	if err != nil || !strings.Contains(out, "0 added, 0 changed, 0 retired") {
		t.Fatalf("plan load after migrate: %q %v", out, err)
	}

	if _, err := run(t, "", "admin", "create-org", "--database-url", dbURL, "--name", "龙岩市对口合作办", "--role", "coordinator"); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "", "admin", "create-org", "--database-url", dbURL, "--name", "上杭县蜜柚合作社", "--role", "base"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SUILONG_ADMIN_PASSWORD", "")
	os.Unsetenv("SUILONG_ADMIN_PASSWORD")
	out, err = run(t, "龙岩 password 2026\n", "admin", "create-user", "--database-url", dbURL, "--org", "龙岩市对口合作办", "--name", "Lin", "--city", "longyan")
	if err != nil || !strings.Contains(out, `created user "lin"`) {
		t.Fatalf("create-user from stdin: %q %v", out, err)
	}
	if _, err := run(t, "", "admin", "create-user", "--database-url", dbURL, "--org", "龙岩市对口合作办", "--name", "nopw", "--city", "longyan"); err == nil {
		t.Fatal("create-user without a password succeeded")
	}
	t.Setenv("SUILONG_ADMIN_PASSWORD", "from the environment")
	if _, err := run(t, "ignored\n", "admin", "create-user", "--database-url", dbURL, "--org", "龙岩市对口合作办", "--name", "zhou", "--city", "longyan"); err != nil {
		t.Fatal(err)
	}
	// A base's people sign in to the market pages; a gateway's organisation gets no account.
	if out, err := run(t, "", "admin", "create-user", "--database-url", dbURL, "--org", "上杭县蜜柚合作社", "--name", "farmer", "--city", "longyan"); err != nil ||
		!strings.Contains(out, `created user "farmer" (base`) {
		t.Fatalf("user of a base organisation: %q %v", out, err)
	}
	if _, err := run(t, "", "admin", "create-org", "--database-url", dbURL, "--name", "网关厂商", "--role", "gateway"); err != nil {
		t.Fatal(err)
	}
	_, err = run(t, "", "admin", "create-user", "--database-url", dbURL, "--org", "网关厂商", "--name", "vendor", "--city", "longyan")
	if e := errs.As(err); e == nil || len(e.Fields) != 1 || e.Fields[0].Field != "org" {
		t.Fatalf("user of a gateway organisation: %v", err)
	}
	as := auth.NewStore(pool)
	if _, err := as.CheckPassword(ctx, "lin", "龙岩 password 2026"); err != nil {
		t.Fatalf("lin: %v", err)
	}
	if _, err := as.CheckPassword(ctx, "zhou", "from the environment"); err != nil {
		t.Fatalf("zhou: %v", err)
	}
}

// The coordinators' dashboard in real Chromium: `suilong serve` with the demo data loaded (twice, to show it
// is idempotent); the demo coordinator signs in through the form; the dashboard shows the domains, the live
// KPIs and the overdue item at laptop and tablet width; an update posted through the item page appears; the
// report prints without the navigation.
func TestPlanDashboardInChromium(t *testing.T) {
	ts := startServe(t)
	ctx := context.Background()
	pool, err := pg.Open(ctx, ts.Cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var audits [2]int
	for i := range 2 {
		if _, err := run(t, "", "demo", "--database-url", ts.Cfg.DatabaseURL, "--influx-url", ts.Cfg.InfluxURL,
			"--influx-bucket", ts.Cfg.InfluxBucket, "--data-dir", t.TempDir()); err != nil {
			t.Fatal(err)
		}
		if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM plan_audit) + (SELECT count(*) FROM plan_updates) + (SELECT count(*) FROM plan_annual)`).Scan(&audits[i]); err != nil {
			t.Fatal(err)
		}
	}
	if audits[0] == 0 || audits[0] != audits[1] {
		t.Fatalf("demo is not idempotent: %d then %d audit entries, updates and annual entries", audits[0], audits[1])
	}

	br := browsertest.New(t, 1280, 900)
	br.Open(t, ts.URL+"/plan")
	if got := browsertest.Get(t, br, chromedp.Location()); !strings.Contains(got, "/login?next=%2Fplan") {
		t.Fatalf("an anonymous visitor was not sent to sign in: %s", got)
	}
	br.Screenshot(t, "login")
	br.Do(t, chromedp.SendKeys(chromedp.CSS("#username"), demoUser), chromedp.SendKeys(chromedp.CSS("#password"), demoPassword),
		chromedp.Click(chromedp.CSS("#signin")), chromedp.WaitVisible(chromedp.CSS("#domains")))
	text := br.Text(t, "body")
	for _, want := range []string{"演示协调员", "广州", "总体进度", "工作目标", "到2027年", "红色文化教育合作", "基础设施合作", "拓宽农产品消费渠道",
		"乡村振兴和生态环境合作", "干部人才交流", "完善工作推进机制", "菜篮子撮合量", "注册生产基地", "冷链合规率", "监测冷链设施",
		"计算方法", "逾期事项", "存在风险", "滞后", "最新进展", "龙岩新认定 6 个"} {
		if !strings.Contains(text, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	if overdue := br.Text(t, "#overdue"); !strings.Contains(overdue, "T4.6") {
		t.Errorf("the overdue cold-chain measure is not listed: %s", overdue)
	}
	if n := br.Count(t, "#domains .card"); n != 10 {
		t.Errorf("%d domain cards", n)
	}
	if n := br.Count(t, "script"); n != 0 {
		t.Errorf("%d scripts on the dashboard", n)
	}
	// The KPIs the demo data feeds are measured, not "no data".
	for _, k := range []string{"注册生产基地", "监测冷链设施"} {
		card := browsertest.Get(t, br, chromedp.Evaluate[string](`[...document.querySelectorAll('#kpis .card')].find(c => c.textContent.includes('`+k+`')).className`))
		if !strings.Contains(card, "measured") {
			t.Errorf("KPI %s is %q", k, card)
		}
	}
	br.Screenshot(t, "dashboard-laptop")

	// Tablet: nothing wider than the screen.
	br.Do(t, chromedp.EmulateViewport(820, 1180))
	br.Open(t, ts.URL+"/plan")
	if w := browsertest.Get(t, br, chromedp.Evaluate[int]("document.documentElement.scrollWidth")); w > 820 {
		t.Errorf("dashboard is %d px wide on an 820 px tablet", w)
	}
	br.Screenshot(t, "dashboard-tablet")

	// A domain page, then an item page: post an update through its form.
	br.Do(t, chromedp.EmulateViewport(1280, 900))
	br.Open(t, ts.URL+"/plan/domains/D3")
	if text := br.Text(t, "body"); !strings.Contains(text, "推动互联互通便捷高效") || !strings.Contains(text, "冷链物流体系") {
		t.Errorf("domain page: %.300s", text)
	}
	br.Screenshot(t, "domain")
	br.Open(t, ts.URL+"/plan/items/T4.6")
	br.Do(t, chromedp.SetValue(chromedp.CSS("#note"), "新罗冷链集配中心用地已落实 <b>不是标记</b>"),
		chromedp.SetValue(chromedp.CSS("#links"), "https://www.longyan.gov.cn/cold-chain"),
		chromedp.Click(chromedp.CSS("#update-form button")), chromedp.WaitVisible(chromedp.CSS("#saved")))
	text = br.Text(t, "#updates")
	if !strings.Contains(text, "新罗冷链集配中心用地已落实 <b>不是标记</b>") || !strings.Contains(text, "demo@") {
		t.Errorf("posted update not shown: %s", text)
	}
	if audit := br.Text(t, "#audit"); !strings.Contains(audit, "进展更新") || !strings.Contains(audit, "存在风险") && !strings.Contains(audit, "at_risk") {
		t.Errorf("audit log: %.400s", audit)
	}
	br.Screenshot(t, "item")

	// The report, on screen and as printed.
	br.Open(t, ts.URL+"/plan/report?year=2026")
	text = br.Text(t, "body")
	for _, want := range []string{"2026 年度总结通报", "阶段性通报", "基础设施合作", "年度计划", "建成产地预冷库 3 座", "逾期与未完成", "T4.6",
		"菜篮子撮合量", "冷链合规率", "强化统筹协调推进"} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	br.Screenshot(t, "report")
	br.Do(t, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"})
		return err
	}))
	if n := browsertest.Get(t, br, chromedp.Evaluate[int](`[...document.querySelectorAll('header.top, form')].filter(e => getComputedStyle(e).display !== 'none').length`)); n != 0 {
		t.Errorf("%d navigation elements or forms are printed", n)
	}
	br.Screenshot(t, "report-print")
}
