package solve

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/suilong/suilong/internal/errs"
)

// designJSON returns DESIGN.md's example instance as generic JSON, to be spoilt by a test.
func designJSON(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile("testdata/design-example/instance.json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func rec(m map[string]any, list string, i int) map[string]any {
	return m[list].([]any)[i].(map[string]any)
}

func appendCopy(m map[string]any, list string, i int) map[string]any {
	c := map[string]any{}
	for k, v := range rec(m, list, i) {
		c[k] = v
	}
	m[list] = append(m[list].([]any), c)
	return c
}

func decodeMap(t *testing.T, m map[string]any) (*Instance, error) {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return DecodeInstance(bytes.NewReader(b))
}

type wantField struct{ field, contains string }

func TestDecodeValidation(t *testing.T) {
	n := func(s string) json.Number { return json.Number(s) }
	tests := []struct {
		name  string
		spoil func(m map[string]any)
		want  []wantField
	}{
		{"unknown product", func(m map[string]any) { rec(m, "offers", 0)["product"] = "kale" },
			[]wantField{{"offers[0].product", `unknown product "kale" (known: choy-sum) (offer o1)`}}},
		{"negative kg", func(m map[string]any) { rec(m, "offers", 0)["quantity_kg"] = n("-5") },
			[]wantField{{"offers[0].quantity_kg", "must be between 0 and 1000000000 kg, got -5 (offer o1)"}}},
		{"negative demand kg", func(m map[string]any) { rec(m, "demands", 0)["quantity_kg"] = n("-1") },
			[]wantField{{"demands[0].quantity_kg", "got -1 (demand d1)"}}},
		{"fractional kg", func(m map[string]any) { rec(m, "offers", 0)["quantity_kg"] = n("12.5") },
			[]wantField{{"offers[0].quantity_kg", "must be a whole number of kg, not 12.5"}}},
		{"kg as a string", func(m map[string]any) { rec(m, "offers", 0)["quantity_kg"] = "5000" },
			[]wantField{{"offers[0].quantity_kg", `must be a whole number of kg, not "5000"`}}},
		{"negative price", func(m map[string]any) { rec(m, "offers", 0)["min_price_per_kg"] = n("-3.20") },
			[]wantField{{"offers[0].min_price_per_kg", "got -3.20 (offer o1)"}}},
		{"negative lane cost", func(m map[string]any) { rec(m, "lanes", 0)["cost_per_kg"] = n("-0.40") },
			[]wantField{{"lanes[0].cost_per_kg", "got -0.40"}}},
		{"negative bonus", func(m map[string]any) { rec(m, "offers", 0)["priority_bonus_per_kg"] = n("-0.10") },
			[]wantField{{"offers[0].priority_bonus_per_kg", "got -0.10"}}},
		{"three decimals", func(m map[string]any) { rec(m, "demands", 0)["max_price_per_kg"] = n("5.001") },
			[]wantField{{"demands[0].max_price_per_kg", "more than two decimals (5.001)"}}},
		{"exponent", func(m map[string]any) { rec(m, "demands", 0)["max_price_per_kg"] = n("5e2") },
			[]wantField{{"demands[0].max_price_per_kg", "plain decimal such as 3.20"}}},
		{"absurd price", func(m map[string]any) { rec(m, "demands", 0)["max_price_per_kg"] = n("99999999999999999999.00") },
			[]wantField{{"demands[0].max_price_per_kg", "out of range"}}},
		{"price above the limit", func(m map[string]any) { rec(m, "demands", 0)["max_price_per_kg"] = n("1000000.01") },
			[]wantField{{"demands[0].max_price_per_kg", "must be between 0.00 and 1000000.00 CNY per kg"}}},
		{"absurd kg", func(m map[string]any) { rec(m, "offers", 0)["quantity_kg"] = n("99999999999999999999") },
			[]wantField{{"offers[0].quantity_kg", "out of range"}}},
		{"grade zero", func(m map[string]any) { rec(m, "offers", 0)["grade"] = n("0") },
			[]wantField{{"offers[0].grade", "between 1 (best) and 1000, got 0"}}},
		{"min grade zero", func(m map[string]any) { rec(m, "demands", 0)["min_grade"] = n("0") },
			[]wantField{{"demands[0].min_grade", "got 0 (demand d1)"}}},
		{"malformed time", func(m map[string]any) { rec(m, "offers", 0)["harvested_at"] = "2026-11-20 06:00" },
			[]wantField{{"offers[0].harvested_at", `RFC 3339 time such as 2026-11-20T06:00:00Z or 2026-11-20T14:00:00+08:00, not "2026-11-20 06:00" (offer o1)`}}},
		{"time as a number", func(m map[string]any) { rec(m, "demands", 0)["deliver_by"] = n("1763700000") },
			[]wantField{{"demands[0].deliver_by", "RFC 3339 time string"}}},
		{"missing time", func(m map[string]any) { delete(rec(m, "demands", 0), "deliver_by") },
			[]wantField{{"demands[0].deliver_by", "is required (demand d1)"}}},
		{"time out of range", func(m map[string]any) { rec(m, "demands", 0)["deliver_by"] = "1999-12-31T23:59:59Z" },
			[]wantField{{"demands[0].deliver_by", "between 2000 and 2199"}}},
		{"available before harvest", func(m map[string]any) { rec(m, "offers", 0)["available_from"] = "2026-11-20T05:00:00Z" },
			[]wantField{{"offers[0].available_from", "is before harvested_at (2026-11-20T05:00:00Z < 2026-11-20T06:00:00Z) (offer o1)"}}},
		{"duplicate offer id", func(m map[string]any) { appendCopy(m, "offers", 0) },
			[]wantField{{"offers[1].id", `duplicate id "o1" (also offers[0])`}}},
		{"duplicate demand id", func(m map[string]any) { appendCopy(m, "demands", 0) },
			[]wantField{{"demands[1].id", `duplicate id "d1" (also demands[0])`}}},
		{"duplicate product", func(m map[string]any) { appendCopy(m, "products", 0)["shelf_life_hours"] = n("10") },
			[]wantField{{"products[1].name", `duplicate product "choy-sum" (also products[0])`}}},
		{"duplicate lane", func(m map[string]any) { appendCopy(m, "lanes", 0)["cost_per_kg"] = n("0.50") },
			[]wantField{{"lanes[1].destination", "duplicate lane xinluo → jiangnan-market (also lanes[0])"}}},
		{"missing fields", func(m map[string]any) {
			delete(rec(m, "offers", 0), "base")
			delete(rec(m, "offers", 0), "min_price_per_kg")
			delete(rec(m, "lanes", 0), "transit_hours")
		}, []wantField{{"lanes[0].transit_hours", "is required"}, {"offers[0].base", "is required (offer o1)"}, {"offers[0].min_price_per_kg", "is required (offer o1)"}}},
		{"empty id", func(m map[string]any) { rec(m, "demands", 0)["id"] = "" },
			[]wantField{{"demands[0].id", "is required"}}},
		{"null id", func(m map[string]any) { rec(m, "demands", 0)["id"] = nil },
			[]wantField{{"demands[0].id", "is required"}}},
		{"zero shelf life", func(m map[string]any) { rec(m, "products", 0)["shelf_life_hours"] = n("0") },
			[]wantField{{"products[0].shelf_life_hours", "must be between 1 and 87840 hours, got 0 (product choy-sum)"}}},
		{"fractional shelf life", func(m map[string]any) { rec(m, "products", 0)["shelf_life_hours"] = n("71.5") },
			[]wantField{{"products[0].shelf_life_hours", "whole number of hours; fractions such as 71.5 are not supported"}}},
		{"negative transit", func(m map[string]any) { rec(m, "lanes", 0)["transit_hours"] = n("-1") },
			[]wantField{{"lanes[0].transit_hours", "must be between 0 and 87840 hours, got -1 (lane xinluo → jiangnan-market)"}}},
		{"fractional transit", func(m map[string]any) { rec(m, "lanes", 0)["transit_hours"] = n("7.5") },
			[]wantField{{"lanes[0].transit_hours", "whole number of hours"}}},
		{"unknown field", func(m map[string]any) { rec(m, "offers", 0)["colour"] = "green" },
			[]wantField{{"offers[0].colour", "unknown field (offer o1) (known: id, base, product"}}},
		{"unknown top-level field", func(m map[string]any) { m["orders"] = []any{} },
			[]wantField{{"orders", "unknown field"}}},
		{"list not an array", func(m map[string]any) { m["lanes"] = map[string]any{} },
			[]wantField{{"lanes", "must be an array of objects"}, {"offers", ""}}}, // without lanes... only the list error
		{"record not an object", func(m map[string]any) { m["demands"] = []any{"d1"} },
			[]wantField{{"demands[0]", "must be an object"}}},
		{"certification not a string", func(m map[string]any) { rec(m, "offers", 0)["certifications"] = []any{n("1")} },
			[]wantField{{"offers[0].certifications", "must be an array of strings"}}},
		{"empty certification", func(m map[string]any) { rec(m, "demands", 0)["required_certifications"] = []any{""} },
			[]wantField{{"demands[0].required_certifications[0]", "is required"}}},
		{"total kg would overflow", func(m map[string]any) {
			rec(m, "offers", 0)["quantity_kg"] = n("1000000000")
			for range 10 {
				c := appendCopy(m, "offers", 0)
				c["id"] = "o" + strings.Repeat("x", len(m["offers"].([]any)))
			}
		}, []wantField{{"offers", "total quantity 11000000000 kg exceeds 10000000000 kg"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := designJSON(t)
			tt.spoil(m)
			in, err := decodeMap(t, m)
			if err == nil {
				t.Fatalf("accepted: %+v", in)
			}
			if errs.CodeOf(err) != errs.Unprocessable {
				t.Fatalf("code %s, want unprocessable: %v", errs.CodeOf(err), err)
			}
			fields := errs.As(err).Fields
			for _, w := range tt.want {
				if w.contains == "" {
					continue
				}
				found := false
				for _, f := range fields {
					if f.Field == w.field && strings.Contains(f.Message, w.contains) {
						found = true
					}
				}
				if !found {
					t.Errorf("no error on %s containing %q; got %+v", w.field, w.contains, fields)
				}
			}
			if n := len(nonEmpty(tt.want)); len(fields) != n {
				t.Errorf("%d errors, want %d (each bad field once): %+v", len(fields), n, fields)
			}
		})
	}
}

func nonEmpty(ws []wantField) []wantField {
	var out []wantField
	for _, w := range ws {
		if w.contains != "" {
			out = append(out, w)
		}
	}
	return out
}

// TestDecodeCollectsAll spoils many records at once: every problem is reported, in record order.
func TestDecodeCollectsAll(t *testing.T) {
	m := designJSON(t)
	rec(m, "products", 0)["shelf_life_hours"] = json.Number("-1")
	rec(m, "offers", 0)["quantity_kg"] = json.Number("-1")
	rec(m, "offers", 0)["grade"] = json.Number("0")
	rec(m, "offers", 0)["min_price_per_kg"] = json.Number("1.234")
	c := appendCopy(m, "offers", 0)
	c["product"] = "kale"
	rec(m, "demands", 0)["deliver_by"] = "tomorrow"
	_, err := decodeMap(t, m)
	var got []string
	for _, f := range errs.As(err).Fields {
		got = append(got, f.Field)
	}
	want := []string{"products[0].shelf_life_hours", "offers[0].grade", "offers[0].quantity_kg", "offers[0].min_price_per_kg",
		"offers[1].id", "offers[1].product", "offers[1].grade", "offers[1].quantity_kg", "offers[1].min_price_per_kg", "demands[0].deliver_by"}
	// Decoding errors (the bad decimal, the bad time) and semantic ones are merged in record and field order.
	if !slices.Equal(got, want) {
		t.Errorf("fields %v\nwant      %v", got, want)
	}
}

func TestDecodeNotJSON(t *testing.T) {
	for _, text := range []string{"{\"products\": [\n  {\"name\": }", "[1, 2]", "null", `{"offers": []} trailing`} {
		_, err := DecodeInstance(strings.NewReader(text))
		if errs.CodeOf(err) != errs.Invalid {
			t.Errorf("%q: %v (code %s), want invalid", text, err, errs.CodeOf(err))
		}
	}
	_, err := DecodeInstance(strings.NewReader("{\"products\": [\n  {\"name\": }"))
	if !strings.Contains(err.Error(), "line 2, column 13") {
		t.Errorf("the syntax error does not say where: %v", err)
	}
}

// TestValidateGoValues checks the instance a program builds (as matching does from the database).
func TestValidateGoValues(t *testing.T) {
	p, l, o, d := designPair()
	in := &Instance{Products: []Product{p}, Lanes: []Lane{*l}, Offers: []Offer{o, o}, Demands: []Demand{d}}
	if err := (&Instance{Products: []Product{p}, Lanes: []Lane{*l}, Offers: []Offer{o}, Demands: []Demand{d}}).Validate(); err != nil {
		t.Fatalf("the design example is invalid: %v", err)
	}
	in.Offers[1].QuantityKg = -3
	in.Demands[0].DeliverBy = at("0001-01-01T00:00:00Z")
	in.Demands[0].Product = ""
	err := in.Validate()
	var got []string
	for _, f := range errs.As(err).Fields {
		got = append(got, f.Field+": "+f.Message)
	}
	want := []string{
		`offers[1].id: duplicate id "o1" (also offers[0])`,
		"offers[1].quantity_kg: must be between 0 and 1000000000 kg, got -3 (offer o1)",
		"demands[0].product: is required (demand d1)",
		"demands[0].deliver_by: is required (RFC 3339, e.g. 2026-11-20T06:00:00Z) (demand d1)",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if _, err := Solve(in); errs.CodeOf(err) != errs.Unprocessable {
		t.Errorf("Solve did not validate: %v", err)
	}
}

func TestInstanceRoundTrip(t *testing.T) {
	in := genInstance(3, genConfig{Offers: 30, Demands: 30, Products: 3, Origins: 3, Dests: 4, LaneShare: 0.8, MinKg: 1, MaxKg: 900})
	var b bytes.Buffer
	if err := EncodeInstance(&b, in); err != nil {
		t.Fatal(err)
	}
	back, err := DecodeInstance(&b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, back) {
		t.Errorf("round trip changed the instance")
	}
}

func TestFen(t *testing.T) {
	good := map[string]Fen{"0": 0, "3": 300, "3.2": 320, "3.20": 320, "0.05": 5, "-0.05": -5, "1000000.00": 100_000_000, "12.34": 1234}
	for s, want := range good {
		if got, err := ParseFen(s); err != nil || got != want {
			t.Errorf("ParseFen(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "3.201", "3.", ".5", "1e2", "03.20", "+3", "3,20", `"3.20"`, "1234567890123456"} {
		if _, err := ParseFen(s); err == nil {
			t.Errorf("ParseFen(%q) accepted", s)
		}
	}
	for f, want := range map[Fen]string{0: "0.00", 5: "0.05", -5: "-0.05", 300000: "3000.00", 150: "1.50", -12345: "-123.45"} {
		if got := f.String(); got != want {
			t.Errorf("Fen(%d) = %q, want %q", int64(f), got, want)
		}
	}
	var v struct{ P Fen }
	if err := json.Unmarshal([]byte(`{"P": 3.201}`), &v); err == nil {
		t.Error("json accepted 3.201 into Fen")
	}
	if err := json.Unmarshal([]byte(`{"P": 3.2}`), &v); err != nil || v.P != 320 {
		t.Errorf("json 3.2 → %d, %v", v.P, err)
	}
}

// TestDecodeZeroKg: 0 kg is a valid quantity (DESIGN.md), on both decoding paths; only a negative one is refused.
func TestDecodeZeroKg(t *testing.T) {
	m := designJSON(t)
	rec(m, "offers", 0)["quantity_kg"] = json.Number("0")
	rec(m, "demands", 0)["quantity_kg"] = json.Number("0")
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	in, err := DecodeInstance(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("0 kg refused: %v", err)
	}
	general, err := decodeGeneral(b)
	if err != nil || !reflect.DeepEqual(in, general) {
		t.Fatalf("the general decoder reads %+v, %v", general, err)
	}
	if in.Offers[0].QuantityKg != 0 || in.Demands[0].QuantityKg != 0 {
		t.Errorf("quantities %d, %d", in.Offers[0].QuantityKg, in.Demands[0].QuantityKg)
	}
}

// TestDecodeInTwoHalves: a large text read in two halves gives the instance the one-pass read gives,
// wherever the cut falls (in every list, next to strings holding "}", "},{" and field names); and a cut in
// the wrong list is refused rather than read wrongly.
func TestDecodeInTwoHalves(t *testing.T) {
	in := genInstance(5, genConfig{Offers: 400, Demands: 400, Products: 3, Origins: 3, Dests: 4, LaneShare: 1, MinKg: 1, MaxKg: 900})
	for i := range in.Offers {
		if i%7 == 0 {
			in.Offers[i].Base = "b},{buyer: x}" // no quote: that would need an escape, which the fast path leaves alone
		}
	}
	for j := range in.Demands {
		if j%5 == 0 {
			in.Demands[j].Buyer = "base:} , {"
		}
	}
	compact, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var indented bytes.Buffer
	if err := EncodeInstance(&indented, in); err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{string(compact), indented.String()} {
		whole, ok := fastDecode(text)
		if !ok || !reflect.DeepEqual(whole, in) {
			t.Fatal("the one-pass read failed")
		}
		read := 0
		for near := 0; near < len(text); near += len(text)/300 + 1 {
			split, ok := fastDecodeSplit(text, near)
			if !ok {
				continue
			}
			read++
			if !reflect.DeepEqual(split, in) {
				t.Fatalf("cut near %d: another instance", near)
			}
		}
		if read < 250 {
			t.Errorf("only %d of 300 cuts were read in two halves", read)
		}
	}
	// The demands' fields in a list called offers: the one-pass read refuses the text, and so must the split.
	bad := strings.Replace(string(compact), `"demands":`, `"offers":`, 1)
	if _, ok := fastDecode(bad); ok {
		t.Fatal("a repeated list was read")
	}
	for near := len(bad) / 2; near < len(bad); near += 997 {
		if _, ok := fastDecodeSplit(bad, near); ok {
			t.Fatalf("cut near %d: a text the one-pass read refuses was read", near)
		}
	}
}

// TestDecodeAndSolve: one call gives what DecodeInstance and Solve give, and the same errors.
func TestDecodeAndSolve(t *testing.T) {
	b, err := os.ReadFile("testdata/reasons/instance.json")
	if err != nil {
		t.Fatal(err)
	}
	in, r, err := DecodeAndSolve(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	want, err := Solve(in)
	if err != nil {
		t.Fatal(err)
	}
	r.Stats.Elapsed, want.Stats.Elapsed = 0, 0
	if !reflect.DeepEqual(r, want) {
		t.Error("DecodeAndSolve and Solve differ")
	}
	if _, _, err := DecodeAndSolve(strings.NewReader(`{"offers": [{"id": 1}]}`)); errs.CodeOf(err) != errs.Unprocessable || len(errs.As(err).Fields) == 0 {
		t.Errorf("an invalid instance: %v", err)
	}
}

// TestValidateLargeAtOnce: a large instance, checked offers and demands at once, reports exactly the errors of
// one pass, in the same order.
func TestValidateLargeAtOnce(t *testing.T) {
	in := genInstance(9, genConfig{Offers: 3000, Demands: 3000, Products: 4, Origins: 3, Dests: 4, LaneShare: 1, MinKg: 1, MaxKg: 900})
	for k := 0; k < 3000; k += 97 {
		in.Offers[k].QuantityKg = -int64(k)
		in.Offers[k].Grade = 0
		in.Demands[k].Product = "kale"
		in.Demands[(k+5)%3000].ID = in.Demands[k].ID
	}
	in.Offers[17].ID = in.Offers[3].ID
	at := errs.As(in.Validate())
	old := parallelValidateFrom
	parallelValidateFrom = 1 << 30
	defer func() { parallelValidateFrom = old }()
	one := errs.As(in.Validate())
	if at == nil || one == nil {
		t.Fatal("the spoilt instance was accepted")
	}
	if len(at.Fields) < 100 || !reflect.DeepEqual(at.Fields, one.Fields) {
		t.Fatalf("checked at once: %d errors; in one pass: %d", len(at.Fields), len(one.Fields))
	}
}
