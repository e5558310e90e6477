package solve

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/suilong/suilong/internal/errs"
)

// FuzzDecodeInstance: any input is either refused with a classified error or solved without error, and a
// solved instance's result is consistent.
func FuzzDecodeInstance(f *testing.F) {
	paths, _ := filepath.Glob("testdata/*/instance.json")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"products":[{"name":"a","shelf_life_hours":1}],"offers":[{"id":"o","product":"a"}]}`))
	f.Add([]byte(`{"products":[{"name":"菜心","shelf_life_hours":72}],"lanes":[],"offers":[{"id":"o\u0031","base":"b","product":"菜心","grade":1,` +
		`"quantity_kg":0,"min_price_per_kg":3.2,"origin":"x","harvested_at":"2026-11-20T06:00:00+08:00","available_from":"2026-11-29T06:00:00.5Z",` +
		`"certifications":[],"priority_bonus_per_kg":null}],"demands":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		// The fast path reads a subset of what the general decoder reads, into the same instance.
		if fast, ok := fastDecode(string(data)); ok {
			general, err := decodeGeneral(data)
			switch {
			case err == nil && !reflect.DeepEqual(fast, general):
				t.Fatalf("the fast path read another instance:\nfast    %+v\ngeneral %+v", fast, general)
			case err != nil && fast.Validate() == nil:
				t.Fatalf("the fast path accepted what the general decoder refuses: %v", err)
			}
		}
		// So does reading it in two halves, wherever the cut falls.
		if text := string(data); !strings.Contains(text, "\\") {
			for _, near := range []int{0, len(text) / 3, len(text) / 2} {
				split, ok := fastDecodeSplit(text, near)
				if !ok {
					continue
				}
				if general, err := decodeGeneral(data); err == nil && !reflect.DeepEqual(split, general) {
					t.Fatalf("the two halves read another instance (cut near %d)", near)
				} else if err != nil && split.Validate() == nil {
					t.Fatalf("the two halves accepted what the general decoder refuses: %v", err)
				}
			}
		}
		in, err := DecodeInstance(bytes.NewReader(data))
		if err != nil {
			if c := errs.CodeOf(err); c != errs.Invalid && c != errs.Unprocessable {
				t.Fatalf("code %s: %v", c, err)
			}
			return
		}
		r, err := Solve(in)
		if err != nil {
			t.Fatalf("a valid instance failed to solve: %v", err)
		}
		if len(in.Offers)*len(in.Demands) <= 400 {
			checkResult(t, in, r)
		}
	})
}

// TestLimitsDoNotOverflow solves the largest instance validation allows in money and kg: the objective is
// exact at 2·10^18 fen.
func TestLimitsDoNotOverflow(t *testing.T) {
	p, l, o, d := designPair()
	l.CostPerKg = 0
	o.MinPricePerKg, o.PriorityBonusPerKg, o.QuantityKg = 0, MaxMoney, MaxQuantityKg
	d.MaxPricePerKg, d.QuantityKg = MaxMoney, MaxQuantityKg
	in := &Instance{Products: []Product{p}, Lanes: []Lane{*l}}
	for k := range MaxTotalKg / MaxQuantityKg {
		o.ID, d.ID = "o"+string(rune('a'+k)), "d"+string(rune('a'+k))
		in.Offers = append(in.Offers, o)
		in.Demands = append(in.Demands, d)
	}
	r, err := Solve(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := Fen(MaxTotalKg) * 2 * MaxMoney; r.Objective != want || want != 2_000_000_000_000_000_000 {
		t.Errorf("objective %d, want %d", r.Objective, want)
	}
	in.Offers = append(in.Offers, o) // one more record over the total
	in.Offers[len(in.Offers)-1].ID = "o-extra"
	if err := in.Validate(); errs.CodeOf(err) != errs.Unprocessable {
		t.Errorf("a total over %d kg was accepted: %v", MaxTotalKg, err)
	}
}
