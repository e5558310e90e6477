package trace

import (
	"strings"
	"testing"
	"time"
)

var (
	greens   = Band{MinC: f64(0), MaxC: f64(4)}
	shiitake = Band{MinC: f64(1), MaxC: f64(4)}
	frozen   = Band{MaxC: f64(-18)}
	potato   = Band{MinC: f64(12), MaxC: f64(16)}
)

func TestIntersect(t *testing.T) {
	tests := []struct {
		name  string
		bands []Band
		want  string
		ok    bool
	}{
		{"nothing", nil, "", true},
		{"one", []Band{greens}, "0–4 °C", true},
		{"strictest of each side", []Band{greens, shiitake, {MaxC: f64(3)}}, "1–3 °C", true},
		{"an open band leaves the sides to the others", []Band{{}, frozen}, "≤ -18 °C", true},
		{"touching bands share their bound", []Band{{MaxC: f64(4)}, {MinC: f64(4)}}, "4–4 °C", true},
		{"frozen and leafy greens", []Band{frozen, greens}, "", false},
		{"potatoes and leafy greens", []Band{potato, greens}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, ok := Intersect(tt.bands...)
			if ok != tt.ok || (ok && b.String() != tt.want) {
				t.Fatalf("Intersect = %q %v, want %q %v", b.String(), ok, tt.want, tt.ok)
			}
		})
	}
}

// MixedLoad looks at every moment of the new leg, and only at the lots in the asset at that moment.
func TestMixedLoad(t *testing.T) {
	lot := func(band Band, product string) Occupant {
		return Occupant{LotID: 99, Code: "NEWLOT000000", Product: product, Band: band}
	}
	other := func(code string, mine bool, band Band, product string, from, to time.Time) Occupant {
		return Occupant{LotID: 1, Code: code, Product: product, Band: band, Mine: mine, From: from, To: to}
	}
	open := func(from time.Time) Leg { return Leg{AssetID: "LY-TRK-0001", From: from, Open: true} }
	closed := func(from, to time.Time) Leg { return Leg{AssetID: "LY-TRK-0001", From: from, To: to} }
	tests := []struct {
		name   string
		lot    Occupant
		leg    Leg
		asset  Band
		others []Occupant
		want   []string // substrings of the reason; none: the load fits
		hidden []string // must not be in the reason
	}{
		{name: "an empty truck", lot: lot(frozen, "hetian-chicken-frozen"), leg: open(at(2, 0))},
		{name: "leafy greens with shiitake (a common band: 1–4 °C)", lot: lot(shiitake, "shiitake"), leg: open(at(2, 0)), asset: greens,
			others: []Occupant{other("GREENS000001", true, greens, "choy-sum", at(1, 0), time.Time{})}},
		{name: "a lot without a band goes with anything", lot: lot(Band{}, "rice"), leg: open(at(2, 0)),
			others: []Occupant{other("FROZEN000001", false, frozen, "hetian-chicken-frozen", at(1, 0), time.Time{})}},
		{name: "frozen chicken onto a truck with another base's greens", lot: lot(frozen, "hetian-chicken-frozen"), leg: open(at(2, 0)),
			others: []Occupant{other("GREENS000001", false, greens, "choy-sum", at(1, 0), time.Time{})},
			want:   []string{"this lot (hetian-chicken-frozen), which needs ≤ -18 °C", "another organisation's lot of choy-sum, in it since 2026-11-20 07:00 CST, which needs 0–4 °C"},
			hidden: []string{"GREENS000001"}},
		{name: "our own greens are named by their code", lot: lot(frozen, "hetian-chicken-frozen"), leg: open(at(2, 0)), asset: greens,
			others: []Occupant{other("GREENS000001", true, greens, "choy-sum", at(1, 0), time.Time{})},
			want:   []string{"lot GREENS000001 (choy-sum), in it since"}},
		{name: "the truck's own setting", lot: lot(potato, "sweet-potato"), leg: open(at(2, 0)), asset: greens,
			want: []string{"this lot (sweet-potato), which needs 12–16 °C", "LY-TRK-0001's own setting, which needs 0–4 °C"}},
		{name: "greens that left before the load", lot: lot(frozen, "hetian-chicken-frozen"), leg: open(at(2, 0)),
			others: []Occupant{other("GREENS000001", false, greens, "choy-sum", at(1, 0), at(2, 0))}},
		{name: "greens loaded after a back-dated leg had ended", lot: lot(frozen, "hetian-chicken-frozen"), leg: closed(at(2, 0), at(3, 0)),
			others: []Occupant{other("GREENS000001", false, greens, "choy-sum", at(3, 0), time.Time{})}},
		{name: "greens loaded during a back-dated leg", lot: lot(frozen, "hetian-chicken-frozen"), leg: closed(at(2, 0), at(5, 0)),
			others: []Occupant{other("GREENS000001", false, greens, "choy-sum", at(3, 0), at(4, 0))},
			want:   []string{"loaded 2026-11-20 09:00 CST, which needs 0–4 °C"}},
		{name: "greens loaded later while the lot is still in the truck", lot: lot(frozen, "hetian-chicken-frozen"), leg: open(at(2, 0)),
			others: []Occupant{other("GREENS000001", false, greens, "choy-sum", at(6, 0), time.Time{})},
			want:   []string{"another organisation's lot of choy-sum, loaded"}},
		{name: "two lots that never met do not clash with each other", lot: lot(Band{}, "rice"), leg: open(at(2, 0)),
			others: []Occupant{other("GREENS000001", false, greens, "choy-sum", at(1, 0), at(3, 0)),
				other("FROZEN000001", false, frozen, "hetian-chicken-frozen", at(3, 0), time.Time{})}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := MixedLoad(tt.lot, tt.leg, tt.asset, tt.others)
			if len(tt.want) == 0 {
				if got != "" {
					t.Fatalf("refused: %s", got)
				}
				return
			}
			if got == "" {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("reason %q lacks %q", got, w)
				}
			}
			for _, h := range tt.hidden {
				if strings.Contains(got, h) {
					t.Errorf("reason %q shows %q", got, h)
				}
			}
		})
	}
}
