package ingest

import (
	"slices"
	"testing"
	"time"
)

var f0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func fm(m float64) time.Time { return f0.Add(time.Duration(m * float64(time.Minute))) }

func TestMergeAndClipSpans(t *testing.T) {
	sp := func(a, b float64) Span {
		s := Span{From: fm(a)}
		if b >= 0 {
			s.To = fm(b)
		}
		return s
	}
	tests := []struct {
		name     string
		in       []Span
		merged   []Span
		from, to float64
		clipped  []Span
	}{
		{"apart", []Span{sp(40, 50), sp(10, 20)}, []Span{sp(10, 20), sp(40, 50)}, 0, 60, []Span{sp(10, 20), sp(40, 50)}},
		{"lots loaded together overlap", []Span{sp(10, 30), sp(20, 25), sp(25, 40)}, []Span{sp(10, 40)}, 0, 60, []Span{sp(10, 40)}},
		{"touching", []Span{sp(10, 20), sp(20, 30)}, []Span{sp(10, 30)}, 0, 60, []Span{sp(10, 30)}},
		{"an open one swallows what follows", []Span{sp(10, -1), sp(30, 40)}, []Span{sp(10, -1)}, 0, 60, []Span{sp(10, 60)}},
		{"an open one extends what it overlaps", []Span{sp(10, 20), sp(15, -1)}, []Span{sp(10, -1)}, 0, 60, []Span{sp(10, 60)}},
		{"an open one ends now", []Span{sp(10, -1)}, []Span{sp(10, -1)}, 0, 90, []Span{sp(10, 60)}},
		{"clipped to the request", []Span{sp(10, 20), sp(40, 50), sp(70, 80)}, []Span{sp(10, 20), sp(40, 50), sp(70, 80)}, 15, 45,
			[]Span{sp(15, 20), sp(40, 45)}},
		{"outside the request", []Span{sp(10, 20)}, []Span{sp(10, 20)}, 20, 60, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mergeSpans(tt.in)
			if !slices.Equal(m, tt.merged) {
				t.Fatalf("merged %v, want %v", m, tt.merged)
			}
			if c := clip(m, fm(tt.from), fm(tt.to), fm(60)); !slices.Equal(c, tt.clipped) { // now is 11:00
				t.Fatalf("clipped %v, want %v", c, tt.clipped)
			}
		})
	}
}

// carriage stands in for traceability's adapter: periods per organisation and asset.
