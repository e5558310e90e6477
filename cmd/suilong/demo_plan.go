package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
	"github.com/suilong/suilong/plan"
)

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
func planDemo(ctx context.Context, m *Main) error {
	svc := m.Plan
	if _, err := svc.Load(ctx); err != nil {
		return err
	}
	org, err := m.Auth.OrgByName(ctx, demoOrgGZ)
	if errs.Is(err, errs.NotFound) {
		org, err = m.Auth.CreateOrg(ctx, demoOrgGZ, auth.RoleCoordinator)
	}
	if err != nil {
		return err
	}
	pw := os.Getenv("SUILONG_DEMO_PASSWORD")
	if pw == "" {
		pw = demoPassword
	}
	u, err := m.Auth.UserByName(ctx, demoUser)
	switch {
	case errs.Is(err, errs.NotFound):
		u, err = m.Auth.CreateUser(ctx, auth.NewUser{OrgID: org.ID, Username: demoUser, DisplayName: "演示协调员", City: auth.CityGuangzhou, Password: pw})
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
		have, _, err := svc.Updates(ctx, p, d.code, pg.Page{Limit: 100})
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
	m.Log.Info("plan demo: sign in to the dashboard", "url", strings.TrimSuffix(m.Cfg.PublicBaseURL, "/")+"/login",
		"user", demoUser, "password", shown)
	return nil
}
