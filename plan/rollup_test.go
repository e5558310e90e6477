package plan_test

import (
	"testing"

	"github.com/suilong/suilong/plan"
)

func pct(v int) *int { return &v }

func leaf(code string, st plan.Status, progress *int) *plan.Item {
	return &plan.Item{Code: code, Tracking: plan.Tracking{Status: st, Progress: progress}}
}

func node(code string, t plan.Tracking, kids ...*plan.Item) *plan.Item {
	return &plan.Item{Code: code, Tracking: t, Children: kids}
}

func TestRollup(t *testing.T) {
	none := plan.Tracking{Status: plan.NotStarted}
	tests := []struct {
		name   string
		item   *plan.Item
		want   float64
		source plan.Source
	}{
		{"nothing reported anywhere", node("T1", none, leaf("T1.1", plan.NotStarted, nil), leaf("T1.2", plan.NotStarted, nil)), 0, plan.FromNone},
		{"leaf with a figure", leaf("T1.1", plan.OnTrack, pct(40)), 40, plan.FromExplicit},
		{"leaf done without a figure counts 100", leaf("T1.1", plan.Done, nil), 100, plan.FromDone},
		{"leaf with a status but no figure reports none", leaf("T1.1", plan.AtRisk, nil), 0, plan.FromNone},
		{"figure wins over done", leaf("T1.1", plan.Done, pct(90)), 90, plan.FromExplicit},
		{"mean of all children, unreported ones count 0",
			node("T1", none, leaf("T1.1", plan.Done, nil), leaf("T1.2", plan.OnTrack, pct(50)), leaf("T1.3", plan.NotStarted, nil), leaf("T1.4", plan.NotStarted, nil)),
			37.5, plan.FromChildren},
		{"explicit figure on the parent wins over its children",
			node("T1", plan.Tracking{Status: plan.OnTrack, Progress: pct(10)}, leaf("T1.1", plan.Done, nil)), 10, plan.FromExplicit},
		{"parent done without figure is 100 whatever its children say",
			node("T1", plan.Tracking{Status: plan.Done}, leaf("T1.1", plan.NotStarted, nil)), 100, plan.FromDone},
		{"explicit 0 on a child is a report",
			node("T1", none, leaf("T1.1", plan.OnTrack, pct(0)), leaf("T1.2", plan.NotStarted, nil)), 0, plan.FromChildren},
		{"two levels: domain from tasks from measures",
			node("D1", none,
				node("T1", none, leaf("T1.1", plan.Done, nil), leaf("T1.2", plan.NotStarted, nil)), // 50
				node("T2", none, leaf("T2.1", plan.OnTrack, pct(20))),                              // 20
				node("T3", plan.Tracking{Progress: pct(80)}, leaf("T3.1", plan.NotStarted, nil)),   // 80
			), 50, plan.FromChildren},
		{"one finished task of three is a third",
			node("D2", none, node("T4", plan.Tracking{Status: plan.Done}), node("T5", none), node("T6", none)), 100.0 / 3, plan.FromChildren},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan.Rollup([]*plan.Item{tt.item}, plan.NewDate(2025, 6, 1))
			if got := tt.item.Rollup; got.Source != tt.source || got.Value != tt.want {
				t.Fatalf("rollup = %+v, want %v from %s", got, tt.want, tt.source)
			}
		})
	}
}

func TestOverdue(t *testing.T) {
	today := plan.NewDate(2025, 6, 15)
	tests := []struct {
		name   string
		status plan.Status
		target plan.Date
		want   bool
	}{
		{"no target date", plan.Delayed, plan.Date{}, false},
		{"target yesterday, on track", plan.OnTrack, plan.NewDate(2025, 6, 14), true},
		{"target today is still in time", plan.OnTrack, plan.NewDate(2025, 6, 15), false},
		{"target tomorrow", plan.NotStarted, plan.NewDate(2025, 6, 16), false},
		{"target long passed, not started", plan.NotStarted, plan.NewDate(2024, 12, 31), true},
		{"target passed but done", plan.Done, plan.NewDate(2025, 1, 1), false},
		{"target passed, at risk", plan.AtRisk, plan.NewDate(2025, 3, 1), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			it := &plan.Item{Code: "T1", Tracking: plan.Tracking{Status: tt.status, TargetDate: tt.target}}
			plan.Rollup([]*plan.Item{it}, today)
			if it.Overdue != tt.want {
				t.Fatalf("overdue = %v, want %v", it.Overdue, tt.want)
			}
		})
	}
	// 100 % by hand is not done: the status is the record of completion.
	it := &plan.Item{Code: "T1", Tracking: plan.Tracking{Status: plan.OnTrack, Progress: pct(100), TargetDate: plan.NewDate(2025, 1, 1)}}
	plan.Rollup([]*plan.Item{it}, today)
	if !it.Overdue {
		t.Fatal("100 % but not done and past its date should be overdue")
	}
}

func TestDateAndLinks(t *testing.T) {
	if d := plan.DateOf(plan.NewDate(2025, 12, 31).Start().Add(23*3600e9 + 30*60e9)); d.String() != "2025-12-31" {
		t.Fatalf("23:30 CST on 31 December is %s", d)
	}
	for link, ok := range map[string]bool{
		"https://www.gz.gov.cn/xw/2025/0612.html": true,
		"http://www.longyan.gov.cn/a?b=1#c":       true,
		"https://zh.wikipedia.org/wiki/龙岩市":       true,
		"javascript:alert(1)":                     false,
		"ftp://example.com/x":                     false,
		"https://":                                false,
		"//example.com/x":                         false,
		"https://user:pw@example.com/":            false,
		"https://example.com/a b":                 false,
		"":                                        false,
	} {
		if _, got := plan.ValidLink(link); got != ok {
			t.Errorf("ValidLink(%q) = %v, want %v", link, got, ok)
		}
	}
}
