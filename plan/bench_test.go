package plan_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/suilong/suilong/plan"
)

// The dashboard reads the whole plan from PostgreSQL and rolls it up on every view. Measured against the
// baseline of one trivial query on the same pool, so that the ratio says what the plan costs beyond a round trip
// on a noisy machine.
func BenchmarkPlan(b *testing.B) {
	f := newFixture(b, plan.Sources{})
	ctx := context.Background()
	for _, code := range []string{"T4.6", "T13.2", "T1.1", "G2.1"} {
		if _, _, err := f.svc.UpdateTracking(ctx, f.coord, code, plan.TrackingPatch{Status: str("on_track"), Progress: plan.Opt[int]{Set: true, V: 40}}); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("baseline-select-1", func(b *testing.B) {
		for b.Loop() {
			var one int
			if err := f.db.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("plan-read-and-rollup", func(b *testing.B) {
		for b.Loop() {
			if _, err := f.svc.Plan(ctx, f.coord); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("dashboard", func(b *testing.B) {
		for b.Loop() {
			if _, err := f.svc.Dashboard(ctx, f.coord); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("csv-export", func(b *testing.B) {
		var buf bytes.Buffer
		for b.Loop() {
			buf.Reset()
			if err := f.svc.WriteCSV(ctx, f.coord, &buf); err != nil {
				b.Fatal(err)
			}
		}
	})
}
