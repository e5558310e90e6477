package plan_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/plan"
	"github.com/suilong/suilong/plan/tree"
)

// The KPI sources are other areas' stores; here they are stand-ins that record the period they were asked
// about (the real adapters are tested end to end in cmd/suilong).
type matchingTotals struct {
	t          plan.MatchingTotals
	from, to   time.Time
	calledWith int
}

func (m *matchingTotals) Totals(_ context.Context, from, to time.Time) (plan.MatchingTotals, error) {
	m.from, m.to = from, to
	m.calledWith++
	return m.t, nil
}

type participants plan.Participants

func (p participants) Participants(context.Context) (plan.Participants, error) {
	return plan.Participants(p), nil
}

type brokenCompliance struct{}

func (brokenCompliance) Compliance(context.Context, time.Time, time.Time) (plan.Compliance, error) {
	return plan.Compliance{}, errors.New("trace is down")
}

func kpi(t *testing.T, ks []plan.KPI, id string) plan.KPI {
	t.Helper()
	for _, k := range ks {
		if k.ID == id {
			return k
		}
	}
	t.Fatalf("no KPI %s", id)
	return plan.KPI{}
}

func codes(ss []plan.Summary) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Code)
	}
	return out
}

func TestDashboardReportAndCSV(t *testing.T) {
	m := &matchingTotals{t: plan.MatchingTotals{MatchedKg: 125500, OrderedKg: 100000, DeliveredKg: 80250, Orders: 12, DeliveredOrders: 9}}
	f := newFixture(t, plan.Sources{Matching: m, Participants: participants{Bases: 7, Buyers: 3}, Compliance: brokenCompliance{}})
	ctx := context.Background()
	patch := func(code string, pt plan.TrackingPatch) {
		t.Helper()
		if _, _, err := f.svc.UpdateTracking(ctx, f.coord, code, pt); err != nil {
			t.Fatal(err)
		}
	}
	// Today is 1 July 2025. The cold-chain measure was due at the end of March; task 13 is at risk, task 5
	// delayed; a lead department typed by someone starts with "=".
	patch("T4.6", plan.TrackingPatch{Status: str("on_track"), Progress: plan.Opt[int]{Set: true, V: 60}, TargetDate: str("2025-03-31"),
		LeadGuangzhou: str("=广州市商务局"), LeadLongyan: str("龙岩市商务局")})
	patch("T13", plan.TrackingPatch{Status: str("at_risk")})
	patch("T5", plan.TrackingPatch{Status: str("delayed"), TargetDate: str("2026-06-30")})
	patch("T13.2", plan.TrackingPatch{Status: str("done")})
	if _, err := f.svc.AddAnnual(ctx, f.coord, "T13.2", plan.NewAnnual{Year: 2025, Planned: "认定“菜篮子”基地 5 个", Done: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AddAnnual(ctx, f.coord, "T4.6", plan.NewAnnual{Year: 2024, Planned: "完成冷链物流体系规划"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AddAnnual(ctx, f.coord, "T4.6", plan.NewAnnual{Year: 2025, Planned: "建成产地预冷库 3 座"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AddUpdate(ctx, f.coord, "T4.6", plan.NewUpdate{Date: "2025-05-10", Note: "上杭预冷库主体完工"}); err != nil {
		t.Fatal(err)
	}

	d, err := f.svc.Dashboard(ctx, f.coord)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Domains) != 10 || len(d.Safeguards) != 4 || len(d.Goals) == 0 || d.Domains[2].Code != "D3" || d.Domains[2].Title != "基础设施合作" {
		t.Fatalf("dashboard sections: %d domains, %d safeguards, %d goals", len(d.Domains), len(d.Safeguards), len(d.Goals))
	}
	if got := codes(d.Overdue); !slices.Equal(got, []string{"T4.6"}) || d.Overdue[0].DaysLate != 92 {
		t.Fatalf("overdue %v (%+v)", got, d.Overdue)
	}
	if !slices.Equal(codes(d.AtRisk), []string{"T13"}) || !slices.Equal(codes(d.Delayed), []string{"T5"}) {
		t.Fatalf("at risk %v, delayed %v", codes(d.AtRisk), codes(d.Delayed))
	}
	if len(d.Recent) != 1 || d.Recent[0].Item.Code != "T4.6" || d.Recent[0].Item.Section != "D3" {
		t.Fatalf("recent updates %+v", d.Recent)
	}
	// T4 has 7 measures, one at 60 %: its progress is 60/7; D3 has two tasks.
	d3 := d.Domains[2]
	if d3.Children[0].Code != "T4" || d3.Children[0].Progress.Source != plan.FromChildren || d3.Children[0].Progress.Percent() != 9 || d3.Overdue != 1 {
		t.Fatalf("D3 %+v", d3)
	}
	// KPIs: this year so far, attached to their tasks and measures; a broken source does not break the rest.
	if m.from != time.Date(2025, 1, 1, 0, 0, 0, 0, plan.CST) || !m.to.Equal(f.now) {
		t.Fatalf("matching asked for %s – %s", m.from, m.to)
	}
	if k := kpi(t, d.KPIs, "cailanzi_matched_t"); k.State != plan.Measured || k.Formatted() != "125.5" || k.Task != "T13" || k.Item != "T13.2" || k.Method == "" {
		t.Fatalf("matched %+v", k)
	}
	if k := kpi(t, d.KPIs, "cailanzi_delivered_t"); *k.Value != 80.25 || !strings.Contains(k.Detail, "交付订单 9 / 下单 12") {
		t.Fatalf("delivered %+v", k)
	}
	if k := kpi(t, d.KPIs, "registered_bases"); k.Formatted() != "7" || !k.Now {
		t.Fatalf("bases %+v", k)
	}
	if k := kpi(t, d.KPIs, "coldchain_compliance_pct"); k.State != plan.Failed || k.Value != nil || k.Item != "T4.6" {
		t.Fatalf("compliance with its source down %+v", k)
	}
	if k := kpi(t, d.KPIs, "coldchain_assets"); k.State != plan.NotMeasured || k.Value != nil {
		t.Fatalf("assets without a source %+v", k)
	}
	if ks := d.Domains[4].KPIs; len(ks) != 4 || ks[0].Task != "T13" {
		t.Fatalf("D5 KPIs %+v", ks)
	}

	// Item pages ask the sources only for items with KPIs attached.
	calls := m.calledWith
	if d, _, err := f.svc.Detail(ctx, f.coord, "T1.1"); err != nil || len(d.KPIs) != 0 || m.calledWith != calls {
		t.Fatalf("T1.1 detail: %v, %d KPIs, %d source calls", err, len(d.KPIs), m.calledWith-calls)
	}
	if d, _, err := f.svc.Detail(ctx, f.coord, "T13.2"); err != nil || len(d.KPIs) != 3 || m.calledWith != calls+1 {
		t.Fatalf("T13.2 detail: %v, %d KPIs, %d source calls", err, len(d.KPIs), m.calledWith-calls)
	}

	// The 2025 report, an interim one: planned and done per domain, late is the overdue measure.
	r, err := f.svc.Report(ctx, f.coord, 2025)
	if err != nil {
		t.Fatal(err)
	}
	sec := func(r *plan.Report, code string) plan.ReportSection {
		for _, s := range r.Sections {
			if s.Code == code {
				return s
			}
		}
		t.Fatalf("no section %s", code)
		return plan.ReportSection{}
	}
	if r.Final || len(r.Sections) != 14 || r.Planned != 2 || r.Done != 1 || r.Late != 1 || r.Updates != 1 {
		t.Fatalf("2025 report: final %v, %d sections, planned %d, done %d, late %d, updates %d", r.Final, len(r.Sections), r.Planned, r.Done, r.Late, r.Updates)
	}
	if s := sec(r, "D3"); len(s.Planned) != 1 || len(s.Late) != 1 || s.Late[0].Item.Code != "T4.6" || len(s.Updates) != 1 || len(s.KPIs) != 2 {
		t.Fatalf("D3 in 2025: %+v", s)
	}
	if s := sec(r, "D5"); len(s.Done) != 1 || s.Done[0].Item.Code != "T13.2" {
		t.Fatalf("D5 in 2025: %+v", s)
	}
	if !m.to.Equal(f.now) {
		t.Fatal("an interim report's KPIs should run to now")
	}
	// 2024 is over: its open entry is late; the measure due in 2025 is not late in 2024's report.
	r, err = f.svc.Report(ctx, f.coord, 2024)
	if err != nil {
		t.Fatal(err)
	}
	if s := sec(r, "D3"); !r.Final || len(s.Late) != 1 || s.Late[0].EntryID == 0 || !strings.Contains(s.Late[0].Reason, "2024 年度计划未完成") {
		t.Fatalf("D3 in 2024: %+v", s)
	}
	if !m.to.Equal(time.Date(2025, 1, 1, 0, 0, 0, 0, plan.CST)) {
		t.Fatalf("2024's KPIs ran to %s", m.to)
	}
	for _, y := range []int{2022, 2026} {
		if _, err := f.svc.Report(ctx, f.coord, y); strings.Join(fieldsOf(err), ",") != "year" {
			t.Fatalf("report of %d: %v", y, err)
		}
	}
	if _, err := f.svc.Report(ctx, f.buyer, 2025); errs.CodeOf(err) != errs.Forbidden {
		t.Fatalf("buyer's report: %v", err)
	}

	// The CSV: BOM, the documented columns, one row per item, Chinese intact, formulas defused.
	var buf bytes.Buffer
	if err := f.svc.WriteCSV(ctx, f.coord, &buf); err != nil {
		t.Fatal(err)
	}
	raw := buf.Bytes()
	if !bytes.HasPrefix(raw, []byte{0xEF, 0xBB, 0xBF}) {
		t.Fatalf("export starts with % x", raw[:3])
	}
	rows, err := csv.NewReader(bytes.NewReader(raw[3:])).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	real, _ := tree.Load()
	if !slices.Equal(rows[0], plan.CSVColumns) || len(rows)-1 != len(real.All()) {
		t.Fatalf("header %v, %d rows for %d items", rows[0], len(rows)-1, len(real.All()))
	}
	col := map[string]int{}
	for i, c := range rows[0] {
		col[c] = i
	}
	for i, it := range real.All() {
		row := rows[i+1]
		if row[col["code"]] != it.Code || row[col["text"]] != it.Text || row[col["title"]] != it.Title || row[col["kind"]] != string(it.Kind) {
			t.Fatalf("row %d: %v, want %s", i+1, row[:8], it.Code)
		}
		if it.Code == "T4.6" {
			want := map[string]string{"status": "on_track", "status_zh": "进展顺利", "progress_set": "60", "target_date": "2025-03-31",
				"overdue": "true", "lead_guangzhou": "'=广州市商务局", "lead_longyan": "龙岩市商务局", "annual_entries": "2",
				"updates": "1", "last_update": "2025-05-10", "section": "D3", "parent": "T4"}
			for c, w := range want {
				if row[col[c]] != w {
					t.Errorf("T4.6 %s = %q, want %q", c, row[col[c]], w)
				}
			}
			if !strings.Contains(row[col["text"]], "冷链物流体系") {
				t.Errorf("T4.6 text %q", row[col["text"]])
			}
		}
	}
}
