package solve

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// referenceEncoding is the result document as encoding/json writes it, which EncodeResult must match to the
// byte.
func referenceEncoding(t *testing.T, r *Result) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r.wire()); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func checkEncoding(t *testing.T, name string, r *Result) {
	t.Helper()
	var got bytes.Buffer
	if err := EncodeResult(&got, r); err != nil {
		t.Fatal(err)
	}
	if want := referenceEncoding(t, r); !bytes.Equal(got.Bytes(), want) {
		t.Errorf("%s: EncodeResult differs from encoding/json\n--- got ---\n%s\n--- want ---\n%s", name, got.Bytes(), want)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, got.Bytes()); err != nil {
		t.Fatalf("%s: not JSON: %v", name, err)
	}
	// json.Marshal, as the API uses it, escapes <, > and & everywhere; otherwise it is the same document.
	var escaped bytes.Buffer
	json.HTMLEscape(&escaped, compact.Bytes())
	if m, err := json.Marshal(r); err != nil || !bytes.Equal(m, escaped.Bytes()) {
		t.Errorf("%s: json.Marshal of the Result is another document (%v):\n%s\n%s", name, err, m, escaped.Bytes())
	}
}

// TestEncodeResultIsEncodingJSON: the hand-written encoder writes exactly what encoding/json writes, on the
// golden cases, on random instances large enough to cross its 64 KB blocks, and on text that needs escapes.
func TestEncodeResultIsEncodingJSON(t *testing.T) {
	paths, _ := filepath.Glob("testdata/*/instance.json")
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		in, err := DecodeInstance(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		r, err := Solve(in)
		if err != nil {
			t.Fatal(err)
		}
		checkEncoding(t, p, r)
	}
	for seed := range uint64(5) {
		in := genInstance(seed, genConfig{Offers: 300, Demands: 300, Products: 3, Origins: 4, Dests: 5, LaneShare: 0.7, MinKg: 1, MaxKg: 900, Coarse: seed%2 == 0})
		r, err := Solve(in)
		if err != nil {
			t.Fatal(err)
		}
		checkEncoding(t, "random", r)
	}
	odd := []string{`quote " and \ backslash`, "tab\tnew line\nreturn\rbell\a\b\f", "<html> & 'apostrophes'", "line\u2028paragraph\u2029",
		"bad \xff utf-8", "菜心 ünïcode", "\x7f", ""}
	r := &Result{Objective: -5, Summary: Summary{UnmatchedByReason: map[string]int{"b": 1, "a": 2}}}
	for _, s := range odd {
		r.Allocations = append(r.Allocations, Allocation{OfferID: s, DemandID: s, Product: s, QuantityKg: 1, SurplusPerKg: 1})
		r.Unmatched = append(r.Unmatched, Unmatched{ID: s, Side: SideOffer, Reasons: []Reason{{Code: s, Message: s}}})
	}
	r.Unmatched = append(r.Unmatched, Unmatched{ID: "no reasons", Side: SideDemand})
	checkEncoding(t, "escapes", r)
	checkEncoding(t, "empty", &Result{})
}
