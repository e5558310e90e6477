package trace_test

import (
	"context"
	"testing"
	"time"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/auth/authtest"
	"github.com/suilong/suilong/internal/pg/pgtest"
	"github.com/suilong/suilong/trace"
)

// Lots count in the period of their delivery, not of their harvest; undelivered lots do not count.
func TestComplianceBetweenCountsLotsDeliveredInThePeriod(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	base, _ := authtest.Org(t, db, "上杭县蛟洋蔬菜合作社", auth.RoleBase)
	s := trace.NewStore(db)
	y2025 := time.Date(2025, 1, 1, 0, 0, 0, 0, trace.CST)
	y2026 := time.Date(2026, 1, 1, 0, 0, 0, 0, trace.CST)
	lot := func(kg int64, harvest time.Time, received *time.Time, compliant *bool) {
		t.Helper()
		l, err := s.CreateLot(ctx, trace.LotRecord{NewLot: trace.NewLot{Product: "choy-sum", Grade: 1, QuantityKg: kg, BaseName: "蛟洋基地",
			County: "上杭县", HarvestedAt: harvest}, OrgID: base.ID, Recorder: base.Name})
		if err != nil {
			t.Fatal(err)
		}
		if received != nil {
			if _, _, err := s.AddEvent(ctx, trace.Event{LotID: l.ID, Kind: trace.Receive, At: *received, Location: "广州江南果菜批发市场",
				RecordedBy: base.ID, RecorderOrg: base.Name}, trace.Band{}); err != nil {
				t.Fatal(err)
			}
		}
		if compliant != nil {
			code := trace.VerdictCode("ok")
			if !*compliant {
				code = "excursion"
			}
			if err := s.SetVerdict(ctx, l.ID, trace.Verdict{Code: code, Compliant: *compliant}); err != nil {
				t.Fatal(err)
			}
		}
	}
	yes, no := true, false
	at := func(t time.Time) *time.Time { return &t }
	lot(1000, y2025.Add(-30*time.Hour), at(y2025.Add(-6*time.Hour)), &yes)    // harvested and delivered in 2024
	lot(2000, y2025.Add(-20*time.Hour), at(y2025.Add(2*time.Hour)), &yes)     // harvested 2024, delivered 2025
	lot(3000, y2025.Add(48*time.Hour), at(y2025.Add(60*time.Hour)), &no)      // delivered 2025, an excursion
	lot(500, y2025.Add(90*24*time.Hour), at(y2025.Add(91*24*time.Hour)), nil) // delivered 2025, not assessed
	lot(800, y2025.Add(100*24*time.Hour), nil, nil)                           // still on its way
	lot(900, y2026.Add(-2*time.Hour), at(y2026.Add(time.Hour)), &yes)         // delivered 2026

	st, err := s.ComplianceBetween(ctx, y2025, y2026)
	if err != nil {
		t.Fatal(err)
	}
	want := trace.ComplianceStats{Delivered: 3, Assessed: 2, Compliant: 1, DeliveredKg: 5500, CompliantKg: 2000}
	if st != want {
		t.Fatalf("2025: %+v, want %+v", st, want)
	}
	all, err := s.ComplianceStats(ctx)
	if err != nil || all.Delivered != 5 {
		t.Fatalf("all time: %+v %v", all, err)
	}
}
