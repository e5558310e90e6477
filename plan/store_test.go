package plan_test

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
	"github.com/suilong/suilong/internal/pg/pgtest"
	"github.com/suilong/suilong/plan"
	"github.com/suilong/suilong/plan/tree"
)

type fixture struct {
	db    *pgxpool.Pool
	svc   *plan.Service
	now   time.Time
	coord auth.Principal
	buyer auth.Principal
}

// newFixture loads the real plan into a fresh database; the clock stands at 1 July 2025, 10:00 in China.
func newFixture(t testing.TB, kpis plan.Sources) *fixture {
	t.Helper()
	db := pgtest.New(t)
	f := &fixture{db: db, now: time.Date(2025, 7, 1, 10, 0, 0, 0, plan.CST)}
	st := plan.NewStore(db)
	st.Now = func() time.Time { return f.now }
	f.svc = plan.NewService(st, kpis, nil)
	if _, err := f.svc.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	as := auth.NewStore(db)
	ctx := context.Background()
	org, err := as.CreateOrg(ctx, "广州市对口支援协作办", auth.RoleCoordinator)
	if err != nil {
		t.Fatal(err)
	}
	u, err := as.CreateUser(ctx, auth.NewUser{OrgID: org.ID, Username: "chen", City: auth.CityGuangzhou, Password: "a long enough password"})
	if err != nil {
		t.Fatal(err)
	}
	f.coord = u.Principal()
	b, err := as.CreateOrg(ctx, "江南果菜批发市场", auth.RoleBuyer)
	if err != nil {
		t.Fatal(err)
	}
	f.buyer = auth.Principal{OrgID: b.ID, OrgName: b.Name, Role: auth.RoleBuyer}
	return f
}

func fieldsOf(err error) []string {
	var out []string
	if e := errs.As(err); e != nil {
		for _, fe := range e.Fields {
			out = append(out, fe.Field)
		}
	}
	return out
}

// snapshot is every row of plan_items as text; content leaves out when rows were loaded.
func snapshot(t *testing.T, db *pgxpool.Pool) string { return rowsText(t, db, `p::text`) }

func content(t *testing.T, db *pgxpool.Pool) string {
	return rowsText(t, db, `concat_ws('|', code, kind, parent, position, number, title, title_en, body, retired_at IS NULL)`)
}

func rowsText(t *testing.T, db *pgxpool.Pool, expr string) string {
	t.Helper()
	var s string
	err := db.QueryRow(context.Background(), `SELECT string_agg(`+expr+`, E'\n' ORDER BY code) FROM plan_items p`).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func str(s string) plan.Opt[string] { return plan.Opt[string]{Set: true, V: s} }

func TestLoadTwiceChangesNothingAndEditsSurviveReload(t *testing.T) {
	f := newFixture(t, plan.Sources{})
	ctx := context.Background()
	real, err := tree.Load()
	if err != nil {
		t.Fatal(err)
	}
	n := len(real.All())
	var count int
	if err := f.db.QueryRow(ctx, `SELECT count(*) FROM plan_items`).Scan(&count); err != nil || count != n {
		t.Fatalf("%d items stored, the tree has %d (%v)", count, n, err)
	}
	before, beforeContent := snapshot(t, f.db), content(t, f.db)
	f.now = f.now.Add(time.Hour)
	res, err := f.svc.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Changes() || res.Unchanged != n {
		t.Fatalf("second load: %+v", res)
	}
	if after := snapshot(t, f.db); after != before {
		t.Fatal("the second load rewrote plan_items")
	}

	// Coordinators' work on T1.8 and T1.1.
	if _, _, err := f.svc.UpdateTracking(ctx, f.coord, "T1.8", plan.TrackingPatch{Status: str("on_track"), LeadLongyan: str("龙岩市文旅局")}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AddUpdate(ctx, f.coord, "T1.8", plan.NewUpdate{Date: "2025-06-20", Note: "影视拍摄基地选址完成"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AddAnnual(ctx, f.coord, "T1.1", plan.NewAnnual{Year: 2025, Planned: "举办红色文化主题日"}); err != nil {
		t.Fatal(err)
	}

	// A new edition of the data: T1.1's text corrected, T1.8 dropped.
	raw, err := os.ReadFile("tree/plan.yaml")
	if err != nil {
		t.Fatal(err)
	}
	edited := regexp.MustCompile(`(?m)^ +- code: T1\.8\n +text: \|-\n.*\n`).ReplaceAll(raw, nil)
	edited = bytes.Replace(edited, []byte("深度挖掘古田会议"), []byte("深入挖掘古田会议"), 1)
	if bytes.Equal(edited, raw) || bytes.Contains(edited, []byte("code: T1.8\n")) {
		t.Fatal("could not edit the plan data for the test")
	}
	next, err := tree.Parse(edited)
	if err != nil {
		t.Fatal(err)
	}
	// T1.1 changes, and every item after T1.8 moves up one place.
	if res, err = f.svc.Store.Load(ctx, next); err != nil || res.Changed != n-11 || res.Retired != 1 || res.Added != 0 {
		t.Fatalf("load of the edited plan: %+v %v", res, err)
	}
	pl, err := f.svc.Plan(ctx, f.coord)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := pl.Item("T1.8"); ok {
		t.Fatal("a retired item is still shown")
	}
	if t11, _ := pl.Item("T1.1"); !strings.HasPrefix(t11.Text, "深入挖掘") {
		t.Fatalf("T1.1 text not refreshed: %s", t11.Text)
	}

	// Back to the shipped data: T1.8 returns with everything recorded against it.
	if res, err = f.svc.Load(ctx); err != nil || res.Changed != n-10 || res.Added != 0 || res.Retired != 0 {
		t.Fatalf("reload: %+v %v", res, err)
	}
	if content(t, f.db) != beforeContent {
		t.Fatal("reload did not restore the plan")
	}
	d, _, err := f.svc.Detail(ctx, f.coord, "T1.8")
	if err != nil {
		t.Fatal(err)
	}
	if d.Tracking.Status != plan.OnTrack || d.Tracking.LeadLongyan != "龙岩市文旅局" || len(d.Updates) != 1 || len(d.Audit) != 3 {
		t.Fatalf("T1.8 lost its tracking state: %+v, %d updates, %d audit entries", d.Tracking, len(d.Updates), len(d.Audit))
	}
	if a, err := f.svc.Annual(ctx, f.coord, "T1.1"); err != nil || len(a) != 1 {
		t.Fatalf("T1.1's annual entry: %v %v", a, err)
	}
}

func TestEveryKindOfChangeIsAudited(t *testing.T) {
	f := newFixture(t, plan.Sources{})
	ctx := context.Background()
	code := "T13.2"

	// Bad input: every field named, nothing changed.
	_, _, err := f.svc.UpdateTracking(ctx, f.coord, code, plan.TrackingPatch{
		Status: str("finished"), Progress: plan.Opt[int]{Set: true, V: 101}, TargetDate: str("2025-13-01"),
		LeadGuangzhou: str(strings.Repeat("局", 201)), LeadLongyan: str("龙岩\x00市"),
	})
	if got := strings.Join(fieldsOf(err), ","); errs.CodeOf(err) != errs.Unprocessable || got != "lead_guangzhou,lead_longyan,status,progress,target_date" {
		t.Fatalf("bad patch: %v (fields %s)", err, got)
	}
	if tr, err := f.svc.Store.Tracking(ctx, code); err != nil || tr.Status != plan.NotStarted || tr.UpdatedAt != nil {
		t.Fatalf("a refused patch changed %+v (%v)", tr, err)
	}

	// Who may: a buyer may neither change nor read; an unknown code is not found.
	if _, _, err := f.svc.UpdateTracking(ctx, f.buyer, code, plan.TrackingPatch{Status: str("done")}); errs.CodeOf(err) != errs.Forbidden {
		t.Fatalf("buyer changed the plan: %v", err)
	}
	if _, err := f.svc.Plan(ctx, f.buyer); errs.CodeOf(err) != errs.Forbidden {
		t.Fatalf("buyer read the plan: %v", err)
	}
	if _, _, err := f.svc.UpdateTracking(ctx, f.coord, "T99", plan.TrackingPatch{Status: str("done")}); errs.CodeOf(err) != errs.NotFound {
		t.Fatalf("unknown code: %v", err)
	}

	tr, changes, err := f.svc.UpdateTracking(ctx, f.coord, code, plan.TrackingPatch{
		LeadGuangzhou: str(" 广州市农业农村局 "), LeadLongyan: str("龙岩市农业农村局"), Status: str("on_track"),
		Progress: plan.Opt[int]{Set: true, V: 30}, TargetDate: str("2025-12-31"),
	})
	if err != nil || len(changes) != 5 || tr.LeadGuangzhou != "广州市农业农村局" || *tr.Progress != 30 || tr.UpdatedBy != "chen@广州市对口支援协作办" {
		t.Fatalf("patch: %+v %v %v", tr, changes, err)
	}
	// The same patch again changes nothing and logs nothing; clearing progress is a change.
	if _, changes, _ = f.svc.UpdateTracking(ctx, f.coord, code, plan.TrackingPatch{Status: str("on_track"), Progress: plan.Opt[int]{Set: true, V: 30}}); len(changes) != 0 {
		t.Fatalf("no-op patch logged %v", changes)
	}
	f.now = f.now.Add(time.Minute)
	if tr, _, err = f.svc.UpdateTracking(ctx, f.coord, code, plan.TrackingPatch{Progress: plan.Opt[int]{Set: true, Null: true}, Status: str("at_risk")}); err != nil || tr.Progress != nil {
		t.Fatalf("clear progress: %+v %v", tr, err)
	}

	// Updates: date, note and links are checked.
	_, err = f.svc.AddUpdate(ctx, f.coord, code, plan.NewUpdate{Note: "  ", Links: []string{"https://ok.example/x", "javascript:alert(1)"}})
	if got := strings.Join(fieldsOf(err), ","); got != "date,note,links[1]" {
		t.Fatalf("bad update: %v", err)
	}
	if _, err = f.svc.AddUpdate(ctx, f.coord, code, plan.NewUpdate{Date: "2025-07-05", Note: "x"}); strings.Join(fieldsOf(err), ",") != "date" {
		t.Fatalf("update dated next week: %v", err)
	}
	up, err := f.svc.AddUpdate(ctx, f.coord, code, plan.NewUpdate{Date: "2025-06-28", Note: "首批 3 个基地通过“菜篮子”认定",
		Links: []string{"https://www.longyan.gov.cn/news/2025/cailanzi.html"}})
	if err != nil || up.Author != "chen@广州市对口支援协作办" || len(up.Links) != 1 {
		t.Fatalf("update: %+v %v", up, err)
	}

	// Annual entries.
	if _, err := f.svc.AddAnnual(ctx, f.coord, code, plan.NewAnnual{Year: 2031, Planned: ""}); strings.Join(fieldsOf(err), ",") != "year,planned" {
		t.Fatalf("bad annual entry: %v", err)
	}
	a, err := f.svc.AddAnnual(ctx, f.coord, code, plan.NewAnnual{Year: 2025, Planned: "新认定“菜篮子”基地 5 个"})
	if err != nil {
		t.Fatal(err)
	}
	done := true
	note := "已认定 6 个"
	if a, err = f.svc.UpdateAnnual(ctx, f.coord, code, a.ID, plan.AnnualPatch{Done: &done, Note: &note}); err != nil || !a.Done {
		t.Fatalf("mark done: %+v %v", a, err)
	}
	if _, err := f.svc.UpdateAnnual(ctx, f.coord, "T13.1", a.ID, plan.AnnualPatch{Done: &done}); errs.CodeOf(err) != errs.NotFound {
		t.Fatalf("entry through another item: %v", err)
	}

	log, total, err := f.svc.Audit(ctx, f.coord, code, pg.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]plan.AuditEntry{}
	for _, e := range log {
		key := regexp.MustCompile(`\[\d+\]`).ReplaceAllString(e.Field, "[]")
		if _, seen := got[key]; !seen {
			got[key] = e // newest first: the latest change of each field
		}
		if e.Actor != "chen@广州市对口支援协作办" || e.At.IsZero() {
			t.Errorf("entry %+v", e)
		}
	}
	// 5 fields, then progress and status again, an update, an annual entry, then its done and note.
	if total != 11 || len(log) != 11 {
		t.Fatalf("%d audit entries, want 11: %+v", total, log)
	}
	want := map[string][2]string{
		"lead_guangzhou":   {"", "广州市农业农村局"},
		"lead_longyan":     {"", "龙岩市农业农村局"},
		"status":           {"on_track", "at_risk"},
		"progress":         {"30", ""},
		"target_date":      {"", "2025-12-31"},
		"annual[].done":    {"false", "true"},
		"annual[].note":    {"", "已认定 6 个"},
		"annual[].planned": {"", "2025: 新认定“菜篮子”基地 5 个"},
	}
	for field, w := range want {
		if e, ok := got[field]; !ok || e.Old != w[0] || e.New != w[1] {
			t.Errorf("audit of %s: %+v, want %q → %q", field, e, w[0], w[1])
		}
	}
	if e := got["updates[]"]; !strings.HasPrefix(e.New, "2025-06-28 首批 3 个基地") {
		t.Errorf("audit of the update: %+v", e)
	}
}

// Two coordinators making the first edits of an untouched item at the same time both keep their change.
func TestFirstEditsAtOnceBothSurvive(t *testing.T) {
	f := newFixture(t, plan.Sources{})
	st := plan.NewStore(f.db)
	ctx := context.Background()
	for i, code := range []string{"T5", "T6.1", "T7", "G2.1", "T9.3"} {
		done := make(chan error, 2)
		go func() {
			_, _, err := st.UpdateTracking(ctx, f.coord, code, plan.TrackingPatch{LeadGuangzhou: str("广州市商务局")})
			done <- err
		}()
		go func() {
			_, _, err := st.UpdateTracking(ctx, f.coord, code, plan.TrackingPatch{LeadLongyan: str("龙岩市商务局")})
			done <- err
		}()
		for range 2 {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		got, err := st.Tracking(ctx, code)
		if err != nil || got.LeadGuangzhou != "广州市商务局" || got.LeadLongyan != "龙岩市商务局" {
			t.Fatalf("round %d (%s): %+v %v", i, code, got, err)
		}
	}
}
