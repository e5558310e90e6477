package main

// Owned by the plan area: the plan part (HTTP routes and pages, demo data), PlanConfig, `suilong plan load`,
// `suilong admin create-user`, the hook that makes `suilong migrate` load the plan, and the adapters from other
// areas to the KPI sources package plan declares.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/suilong/suilong/api"
	"github.com/suilong/suilong/api/planapi"
	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/matching"
	"github.com/suilong/suilong/plan"
)

// PlanConfig is plan tracking's configuration (flags prefixed "plan-", variables SUILONG_PLAN_*). Cookies are
// Secure when SUILONG_PUBLIC_BASE_URL is https.
type PlanConfig struct {
	SessionIdle time.Duration `name:"plan-session-idle" env:"SUILONG_PLAN_SESSION_IDLE" default:"1h" help:"A dashboard session ends after this long without a request."`
	SessionMax  time.Duration `name:"plan-session-max" env:"SUILONG_PLAN_SESSION_MAX" default:"12h" help:"A dashboard session ends this long after sign-in, whatever happens."`
}

func init() {
	registerPart(part{Name: "plan", Module: planModule, Demo: planDemo})
	afterMigrate = append(afterMigrate, func(ctx context.Context, a *App) error {
		res, err := planFor(a).Load(ctx)
		if err != nil {
			return fmt.Errorf("load the plan: %w", err)
		}
		a.Log.Info("plan loaded", "added", res.Added, "changed", res.Changed, "retired", res.Retired, "unchanged", res.Unchanged)
		return nil
	})
}

var planServices sync.Map // *App → *plan.Service

// planFor returns the App's one plan service, with the KPI sources of the other areas plugged in.
func planFor(a *App) *plan.Service {
	if s, ok := planServices.Load(a); ok {
		return s.(*plan.Service)
	}
	kpis := plan.Sources{
		Matching:     matchingTotals{matching.NewStore(a.DB)},
		Participants: participantsAdapter{a.Auth},
		Compliance:   complianceAdapter{a},
		Assets:       assetsCount{ingest.NewStore(a.DB)},
	}
	s := plan.NewService(plan.NewStore(a.DB), kpis, a.Log.With("area", "plan"))
	actual, _ := planServices.LoadOrStore(a, s)
	return actual.(*plan.Service)
}

func planModule(a *App) (api.Module, error) {
	svc := planFor(a)
	// A server started on a database that `suilong migrate` has not seen since this binary was built still
	// shows the current plan. A failure is not fatal: the pages say the plan is not loaded.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if res, err := svc.Load(ctx); err != nil {
		a.Log.Warn("plan: could not load the plan at start; run `suilong plan load`", "err", err)
	} else if res.Changes() {
		a.Log.Info("plan loaded", "added", res.Added, "changed", res.Changed, "retired", res.Retired)
	}
	return planapi.New(planapi.Deps{Plan: svc, Site: a.web()}), nil
}

// --- KPI sources

type matchingTotals struct{ s *matching.Store }

func (m matchingTotals) Totals(ctx context.Context, from, to time.Time) (plan.MatchingTotals, error) {
	t, err := m.s.Totals(ctx, from, to)
	return plan.MatchingTotals{MatchedKg: t.MatchedKg, OrderedKg: t.OrderedKg, DeliveredKg: t.DeliveredKg,
		Orders: t.Orders, DeliveredOrders: t.DeliveredOrders}, err
}

type participantsAdapter struct{ s *auth.Store }

func (p participantsAdapter) Participants(ctx context.Context) (plan.Participants, error) {
	n, err := p.s.CountOrgsByRole(ctx)
	return plan.Participants{Bases: n[auth.RoleBase], Buyers: n[auth.RoleBuyer]}, err
}

type complianceAdapter struct{ a *App }

func (c complianceAdapter) Compliance(ctx context.Context, from, to time.Time) (plan.Compliance, error) {
	st, err := traceFor(c.a).ComplianceBetween(ctx, from, to)
	return plan.Compliance{Delivered: st.Delivered, Assessed: st.Assessed, Compliant: st.Compliant}, err
}

type assetsCount struct{ s *ingest.Store }

func (a assetsCount) Assets(ctx context.Context) (plan.Assets, error) {
	st, err := a.s.AssetStats(ctx)
	return plan.Assets{Trucks: st.Trucks, ColdStores: st.ColdStores, Sensors: st.Sensors}, err
}

// --- commands

// PlanCmd groups plan tasks.
type PlanCmd struct {
	Load PlanLoadCmd `cmd:"" help:"Load or refresh the plan's structure from the data shipped in this binary (idempotent; coordinators' work is kept)."`
}

// PlanLoadCmd loads the plan.
type PlanLoadCmd struct{}

// Run applies pending migrations (the plan's tables may be new) and loads the plan.
func (PlanLoadCmd) Run(g *Globals) error {
	a, err := openMigrated(g)
	if err != nil {
		return err
	}
	defer a.Close()
	res, err := planFor(a).Load(g.Ctx)
	if err != nil {
		return err
	}
	g.Log.Info("plan loaded", "added", res.Added, "changed", res.Changed, "retired", res.Retired, "unchanged", res.Unchanged)
	_, err = fmt.Fprintf(g.Stdout, "plan: %d added, %d changed, %d retired, %d unchanged\n", res.Added, res.Changed, res.Retired, res.Unchanged)
	return err
}

// CreateUserCmd creates a coordinator account.
type CreateUserCmd struct {
	Org         string    `required:"" help:"Organisation name (an organisation with role coordinator or admin)."`
	Name        string    `required:"" help:"Username to sign in with (letters, digits, '.', '_', '-'; case-insensitive)."`
	City        auth.City `required:"" enum:"guangzhou,longyan" help:"The coordinator's city: guangzhou or longyan."`
	DisplayName string    `help:"Name shown on the dashboard, e.g. 陈伟."`
}

// Run creates the account. The password comes from SUILONG_ADMIN_PASSWORD or, when that is unset, from the
// first line of standard input, never from a flag (flags show in the process list and the shell's history).
func (c *CreateUserCmd) Run(g *Globals) error {
	pw, err := readPassword(g.Stdin)
	if err != nil {
		return err
	}
	a, err := openApp(g.Ctx, g)
	if err != nil {
		return err
	}
	defer a.Close()
	o, err := a.Auth.OrgByName(g.Ctx, c.Org)
	if err != nil {
		return err
	}
	u, err := a.Auth.CreateUser(g.Ctx, auth.NewUser{OrgID: o.ID, Username: c.Name, DisplayName: c.DisplayName, City: c.City, Password: pw})
	if err != nil {
		return err
	}
	g.Log.Info("dashboard account created", "user", u.Username, "org", u.OrgName, "city", u.City)
	_, err = fmt.Fprintf(g.Stdout, "created user %q (%s, %s) of %q; sign in at %s/login\n", u.Username, u.Role, u.City.ZH(), u.OrgName,
		strings.TrimSuffix(g.Cfg.PublicBaseURL, "/"))
	return err
}

func readPassword(stdin io.Reader) (string, error) {
	if pw, ok := os.LookupEnv("SUILONG_ADMIN_PASSWORD"); ok {
		return pw, nil
	}
	if stdin == nil {
		return "", errors.New("set SUILONG_ADMIN_PASSWORD or give the password on standard input")
	}
	if f, ok := stdin.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			fmt.Fprint(os.Stderr, "Password (it will be shown as you type; prefer SUILONG_ADMIN_PASSWORD or a pipe): ")
		}
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password from standard input: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password: set SUILONG_ADMIN_PASSWORD or give it on the first line of standard input")
	}
	return line, nil
}

// --- demo

// The demo coordinator account, named in the README and docs/plan.md.
const (
	demoUser     = "demo"
	demoPassword = "suilong-demo-2027"
	demoOrgGZ    = "广州市对口支援协作办（演示） Guangzhou cooperation office (demo)"
)

// demoTracking is what the demo coordinators have recorded: a few tasks and measures under way, one overdue, one
// at risk, one delayed, with updates and annual entries. Dates are fixed so that a second `suilong demo`
// changes nothing.
var demoTracking = []struct {
	code   string
	gz, ly string
	status string
	pct    int // -1: roll up
	target string
}{
	{"T13", "广州市农业农村局", "龙岩市农业农村局", "on_track", -1, "2027-12-31"},
	{"T13.2", "广州市农业农村局", "龙岩市农业农村局", "on_track", 60, "2026-12-31"},
	{"T13.3", "广州市商务局", "龙岩市商务局", "on_track", 45, "2027-06-30"},
	{"T13.7", "广州市商务局", "龙岩市商务局", "at_risk", 25, "2026-12-31"},
	{"T4.6", "广州市商务局", "龙岩市商务局", "at_risk", 35, "2026-09-30"},
	{"T4.1", "广州市交通运输局", "龙岩市交通运输局", "on_track", 70, "2027-06-30"},
	{"T1.1", "广州市委宣传部", "龙岩市委宣传部", "done", -1, "2025-12-31"},
	{"T1.3", "广州市文化广电旅游局", "龙岩市文化和旅游局", "on_track", 50, "2026-12-31"},
	{"T3", "广州市文化广电旅游局", "龙岩市文化和旅游局", "delayed", -1, "2026-06-30"},
	{"T17.1", "广州市教育局", "龙岩市教育局", "on_track", 40, "2027-08-31"},
	{"T22.1", "中共广州市委组织部", "中共龙岩市委组织部", "done", -1, "2025-12-31"},
	{"G2.1", "广州市协作办", "龙岩市发展和改革委员会", "on_track", 80, "2026-12-31"},
}

var demoUpdates = []struct{ code, date, note, link string }{
	{"T13.2", "2026-11-20", "龙岩新认定 6 个粤港澳大湾区“菜篮子”生产基地，累计 38 个；上杭、武平蔬菜经冷链直供广州江南市场。", "https://www.longyan.gov.cn/"},
	{"T4.6", "2026-10-15", "上杭、武平两座产地预冷库建成投用，冷链追溯平台在 3 条线路试运行；新罗冷链集配中心用地仍待落实，进度滞后于计划。", "https://www.gz.gov.cn/"},
	{"T1.3", "2026-09-28", "两市联合举办红色文化主题日暨革命文物精品展，展期两个月。", ""},
	{"T3", "2026-08-02", "“百万老广游龙岩”专列因线路调整推迟，改于四季度开行。", ""},
}

var demoAnnual = []struct {
	code    string
	year    int
	planned string
	done    bool
}{
	{"T13.2", 2025, "新认定粤港澳大湾区“菜篮子”生产基地 5 个", true},
	{"T13.2", 2026, "新认定“菜篮子”生产基地 8 个，供穗蔬菜 3 万吨", false},
	{"T4.6", 2025, "完成两市农产品冷链物流体系建设规划", true},
	{"T4.6", 2026, "建成产地预冷库 3 座、冷链集配中心 1 个", false},
	{"G2.1", 2026, "梳理印发 2026 年两市对口合作年度工作计划", true},
	{"T22.1", 2025, "互派干部 20 名开展交流锻炼", true},
}

// planDemo loads the plan, creates the demo coordinator (user "demo", password SUILONG_DEMO_PASSWORD or the
// fixed demo password), and records the demo tracking state, updates and annual entries once.
func planDemo(ctx context.Context, a *App) error {
	svc := planFor(a)
	if _, err := svc.Load(ctx); err != nil {
		return err
	}
	org, err := a.Auth.OrgByName(ctx, demoOrgGZ)
	if errs.Is(err, errs.NotFound) {
		org, err = a.Auth.CreateOrg(ctx, demoOrgGZ, auth.RoleCoordinator)
	}
	if err != nil {
		return err
	}
	pw := os.Getenv("SUILONG_DEMO_PASSWORD")
	if pw == "" {
		pw = demoPassword
	}
	u, err := a.Auth.UserByName(ctx, demoUser)
	switch {
	case errs.Is(err, errs.NotFound):
		u, err = a.Auth.CreateUser(ctx, auth.NewUser{OrgID: org.ID, Username: demoUser, DisplayName: "演示协调员", City: auth.CityGuangzhou, Password: pw})
	case err == nil:
		// The account exists: its password is whatever its owner last set; a demo run never resets it.
	}
	if err != nil {
		return fmt.Errorf("demo coordinator: %w", err)
	}
	p := u.Principal()
	for _, d := range demoTracking {
		pt := plan.TrackingPatch{LeadGuangzhou: plan.Opt[string]{Set: true, V: d.gz}, LeadLongyan: plan.Opt[string]{Set: true, V: d.ly},
			Status: plan.Opt[string]{Set: true, V: d.status}, TargetDate: plan.Opt[string]{Set: true, V: d.target}}
		if d.pct >= 0 {
			pt.Progress = plan.Opt[int]{Set: true, V: d.pct}
		}
		if _, _, err := svc.UpdateTracking(ctx, p, d.code, pt); err != nil {
			return fmt.Errorf("demo tracking of %s: %w", d.code, err)
		}
	}
	for _, d := range demoUpdates {
		have, _, err := svc.Updates(ctx, p, d.code, 100, 0)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(have, func(x plan.Update) bool { return x.Note == d.note }) {
			continue
		}
		n := plan.NewUpdate{Date: d.date, Note: d.note}
		if d.link != "" {
			n.Links = []string{d.link}
		}
		if _, err := svc.AddUpdate(ctx, p, d.code, n); err != nil {
			return fmt.Errorf("demo update of %s: %w", d.code, err)
		}
	}
	for _, d := range demoAnnual {
		have, err := svc.Annual(ctx, p, d.code)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(have, func(x plan.Annual) bool { return x.Year == d.year && x.Planned == d.planned }) {
			continue
		}
		if _, err := svc.AddAnnual(ctx, p, d.code, plan.NewAnnual{Year: d.year, Planned: d.planned, Done: d.done}); err != nil {
			return fmt.Errorf("demo annual entry of %s: %w", d.code, err)
		}
	}
	shown := "(as set in SUILONG_DEMO_PASSWORD)" // an operator's own secret stays out of the logs
	if pw == demoPassword {
		shown = demoPassword // the documented, public demo password
	}
	a.Log.Info("plan demo: sign in to the dashboard", "url", strings.TrimSuffix(a.Cfg.PublicBaseURL, "/")+"/login",
		"user", demoUser, "password", shown)
	return nil
}
