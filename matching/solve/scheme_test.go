package solve

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/suilong/suilong/internal/errs"
)

// clzCert is base b1's certificate for choy-sum, valid through DESIGN.md's example's delivery day (deliver_by
// 2026-11-21T04:00Z is noon of 2026-11-21 in China).
func clzCert() BaseCertificate {
	return BaseCertificate{Base: "b1", Number: "GZCLZ-2026-001", Products: []string{"choy-sum"},
		ValidFrom: DayOf(2026, 1, 1), ValidUntil: DayOf(2026, 11, 21)}
}

func TestSchemeRules(t *testing.T) {
	tests := []struct {
		name   string
		certs  []BaseCertificate
		change func(o *Offer, d *Demand)
		codes  []string
	}{
		{"certificate valid on the delivery day", []BaseCertificate{clzCert()}, func(o *Offer, d *Demand) {
			d.RequiredCertifications = append(d.RequiredCertifications, CailanziBase)
		}, nil},
		{"no certificate", []BaseCertificate{}, func(o *Offer, d *Demand) {
			d.RequiredCertifications = []string{CailanziBase}
		}, []string{ReasonNoCertificate}},
		{"the offer's own claim does not count once certificates are listed", []BaseCertificate{}, func(o *Offer, d *Demand) {
			o.Certifications = []string{"green-food", CailanziBase}
			d.RequiredCertifications = []string{CailanziBase}
		}, []string{ReasonNoCertificate}},
		{"without certificates cailanzi-base is an ordinary certification", nil, func(o *Offer, d *Demand) {
			o.Certifications = []string{"green-food", CailanziBase}
			d.RequiredCertifications = []string{CailanziBase}
		}, nil},
		{"another base's certificate", []BaseCertificate{{Base: "b2", Number: "X", Products: []string{"choy-sum"}, ValidUntil: DayOf(2027, 1, 1)}},
			func(o *Offer, d *Demand) { d.RequiredCertifications = []string{CailanziBase} }, []string{ReasonNoCertificate}},
		{"expired the day before delivery", []BaseCertificate{clzCert()}, func(o *Offer, d *Demand) {
			d.RequiredCertifications = []string{CailanziBase}
			d.DeliverBy = at("2026-11-22T04:00:00Z")
		}, []string{ReasonCertificateExpired}},
		{"the delivery day is China's: 00:00 on the 22nd in Beijing", []BaseCertificate{clzCert()}, func(o *Offer, d *Demand) {
			d.RequiredCertifications = []string{CailanziBase}
			d.DeliverBy = at("2026-11-21T16:00:00Z")
		}, []string{ReasonCertificateExpired}},
		{"23:59 on the 21st in Beijing is still covered", []BaseCertificate{clzCert()}, func(o *Offer, d *Demand) {
			d.RequiredCertifications = []string{CailanziBase}
			d.DeliverBy = at("2026-11-21T15:59:00Z")
		}, nil},
		{"not yet valid", []BaseCertificate{{Base: "b1", Number: "N", Products: []string{"choy-sum"}, ValidFrom: DayOf(2026, 11, 22), ValidUntil: DayOf(2027, 11, 21)}},
			func(o *Offer, d *Demand) { d.RequiredCertifications = []string{CailanziBase} }, []string{ReasonCertificateNotYet}},
		{"the certificate covers other products", []BaseCertificate{{Base: "b1", Number: "P", Products: []string{"pomelo"}, ValidUntil: DayOf(2027, 1, 1)}},
			func(o *Offer, d *Demand) { d.RequiredCertifications = []string{CailanziBase} }, []string{ReasonCertificateProduct}},
		{"a second certificate covers the product", []BaseCertificate{{Base: "b1", Number: "P", Products: []string{"pomelo"}, ValidUntil: DayOf(2027, 1, 1)}, clzCert()},
			func(o *Offer, d *Demand) { d.RequiredCertifications = []string{CailanziBase} }, nil},
		{"a demand without cailanzi-base ignores certificates", []BaseCertificate{}, func(*Offer, *Demand) {}, nil},
		{"inspection passed", nil, func(o *Offer, d *Demand) {
			o.Lot, o.Inspection, d.RequireInspection = "LY20261120A", InspectionPass, true
		}, nil},
		{"no lot", nil, func(o *Offer, d *Demand) { d.RequireInspection = true }, []string{ReasonInspectionMissing}},
		{"a lot without inspection", nil, func(o *Offer, d *Demand) { o.Lot, d.RequireInspection = "LY20261120A", true }, []string{ReasonInspectionMissing}},
		{"inspection failed", nil, func(o *Offer, d *Demand) {
			o.Lot, o.Inspection, d.RequireInspection = "LY20261120A", InspectionFail, true
		}, []string{ReasonInspectionFailed}},
		{"a failed lot is fine for a demand that does not ask", nil, func(o *Offer, d *Demand) {
			o.Lot, o.Inspection = "LY20261120A", InspectionFail
		}, nil},
		{"every rule at once, in order", []BaseCertificate{}, func(o *Offer, d *Demand) {
			o.Grade, o.Lot, o.Inspection = 3, "L", InspectionFail
			d.RequiredCertifications = []string{"organic", CailanziBase}
			d.RequireInspection, d.MaxPricePerKg = true, 100
		}, []string{ReasonGrade, ReasonCertification, ReasonNoCertificate, ReasonInspectionFailed, ReasonPriceGap}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, l, o, d := designPair()
			tc.change(&o, &d)
			s, why := FeasibleUnder(tc.certs, p, l, o, d)
			var codes []string
			for _, r := range why {
				codes = append(codes, r.Code)
				if !strings.Contains(r.Message, " / ") || !strings.Contains(r.Message, o.ID) {
					t.Errorf("%s: %q is not a sentence in Chinese and English naming the offer", r.Code, r.Message)
				}
			}
			if !reflect.DeepEqual(codes, tc.codes) {
				t.Fatalf("codes %v, want %v (%v)", codes, tc.codes, why)
			}
			if s != Fen(150) && tc.codes == nil {
				t.Errorf("surplus %s", s)
			}
			in := &Instance{Products: []Product{p}, Lanes: []Lane{*l}, Offers: []Offer{o}, Demands: []Demand{d}, BaseCertificates: tc.certs}
			r, err := Solve(in)
			if err != nil {
				t.Fatal(err)
			}
			if (len(r.Allocations) == 1) != (len(tc.codes) == 0) {
				t.Fatalf("allocated %v with reasons %v", r.Allocations, tc.codes)
			}
			if len(tc.codes) > 0 {
				for _, u := range r.Unmatched {
					if u.Reasons[0].Code != tc.codes[0] {
						t.Errorf("%s %s explained by %s, want %s", u.Side, u.ID, u.Reasons[0].Code, tc.codes[0])
					}
				}
			}
		})
	}
}

func TestSchemeMessages(t *testing.T) {
	p, l, o, d := designPair()
	d.RequiredCertifications = []string{CailanziBase}
	d.DeliverBy = at("2026-11-23T04:00:00Z")
	old := clzCert()
	old.Number, old.ValidUntil = "OLD-1", DayOf(2026, 11, 1)
	_, why := FeasibleUnder([]BaseCertificate{old, clzCert()}, p, l, o, d)
	want := "基地证书已过期：基地 b1 的菜篮子基地证书 GZCLZ-2026-001 有效期至 2026-11-21，早于需求 d1 的交货日 2026-11-23（供应 o1） / " +
		"base certificate expired: cailanzi base certificate GZCLZ-2026-001 of base b1 was valid until 2026-11-21, before demand d1's delivery day 2026-11-23 (offer o1)"
	if len(why) != 1 || why[0].Message != want {
		t.Errorf("got %v\nwant %q (the certificate nearest the day is named)", why, want)
	}
	d.RequiredCertifications = []string{"organic", CailanziBase}
	d.DeliverBy = at("2026-11-21T04:00:00Z")
	_, why = FeasibleUnder([]BaseCertificate{clzCert()}, p, l, o, d)
	if len(why) != 1 || why[0].Code != ReasonCertification || strings.Contains(why[0].Message, CailanziBase) {
		t.Errorf("the certification reason names what the certificates judge: %v", why)
	}
}

// TestSchemeKeepsOptimum: each rule stops its own pair, the reason names it, and the rest is matched at the
// optimum (checked against the LP).
func TestSchemeKeepsOptimum(t *testing.T) {
	p, l, base, dem := designPair()
	offer := func(id, b string, kg int64, lot, insp string) Offer {
		o := base
		o.ID, o.Base, o.QuantityKg, o.Lot, o.Inspection = id, b, kg, lot, insp
		return o
	}
	demand := func(id string, kg int64, price Fen, req []string, inspect bool) Demand {
		d := dem
		d.ID, d.QuantityKg, d.MaxPricePerKg, d.RequiredCertifications, d.RequireInspection = id, kg, price, req, inspect
		return d
	}
	in := &Instance{Products: []Product{p}, Lanes: []Lane{*l},
		Offers: []Offer{
			offer("o-good", "b1", 1000, "L1", InspectionPass), // certified, passed
			offer("o-nocert", "b2", 1000, "L2", InspectionPass),
			offer("o-expired", "b3", 1000, "L3", InspectionPass),
			offer("o-failed", "b1", 1000, "L4", InspectionFail),
			offer("o-nolot", "b1", 1000, "", ""),
		},
		Demands: []Demand{
			demand("d-clz", 3000, 600, []string{"green-food", CailanziBase}, false),
			demand("d-insp", 3000, 550, []string{"green-food"}, true),
			demand("d-any", 500, 500, nil, false),
		},
		BaseCertificates: []BaseCertificate{clzCert(),
			{Base: "b3", Number: "B3-OLD", Products: []string{"choy-sum"}, ValidUntil: DayOf(2026, 11, 20)}},
	}
	r, err := Solve(in)
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, in, r)
	if want := lpOptimum(t, in); r.Objective != want {
		t.Fatalf("objective %s, LP %s", r.Objective, want)
	}
	got := map[[2]string]int64{}
	for _, a := range r.Allocations {
		got[[2]string{a.OfferID, a.DemandID}] = a.QuantityKg
	}
	// d-clz (the best price) may only take b1's offers: o-good, o-failed, o-nolot. d-insp only o-good,
	// o-nocert and o-expired; o-good goes where it earns most (d-clz), so d-insp gets o-nocert and o-expired.
	want := map[[2]string]int64{
		{"o-good", "d-clz"}: 1000, {"o-failed", "d-clz"}: 1000, {"o-nolot", "d-clz"}: 1000,
		{"o-nocert", "d-insp"}: 1000, {"o-expired", "d-insp"}: 1000,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("allocations %v, want %v", got, want)
	}
	// d-insp is 1000 kg short: the offers it could not take say why, one code each.
	var codes []string
	for _, u := range r.Unmatched {
		if u.ID == "d-insp" {
			for _, x := range u.Reasons {
				codes = append(codes, x.Code)
			}
		}
	}
	if want := []string{ReasonCapacity, ReasonInspectionMissing, ReasonInspectionFailed}; !reflect.DeepEqual(sortedCodes(codes), sortedCodes(want)) {
		t.Errorf("d-insp reasons %v, want %v", codes, want)
	}
	// Without b1's offers, d-clz meets o-nocert and o-expired, each stopped by its rule (a tie of one each: the
	// demand is explained by the first in rule order).
	in.Offers = in.Offers[1:3]
	in.Demands = in.Demands[:1]
	r, err = Solve(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Allocations) != 0 {
		t.Fatalf("allocated %v", r.Allocations)
	}
	byID := map[string]string{}
	for _, u := range r.Unmatched {
		byID[u.ID] = u.Reasons[0].Code
	}
	if byID["o-nocert"] != ReasonNoCertificate || byID["o-expired"] != ReasonCertificateExpired || r.Summary.UnmatchedByReason[ReasonNoCertificate] != 2 || byID["d-clz"] != ReasonNoCertificate {
		t.Errorf("reasons %v, summary %v", byID, r.Summary.UnmatchedByReason)
	}
}

func sortedCodes(c []string) []string {
	out := append([]string(nil), c...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// TestSchemeDecode: the optional fields read the same on the fast and the general path, in one pass and in
// two halves, survive a round trip, and an empty certificate list stays a list.
func TestSchemeDecode(t *testing.T) {
	in := genInstance(9, genConfig{Offers: 300, Demands: 300, Products: 3, Origins: 3, Dests: 4, LaneShare: 1, MinKg: 1, MaxKg: 900, Scheme: true})
	var b bytes.Buffer
	if err := EncodeInstance(&b, in); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	if !strings.Contains(text, `"require_inspection": true`) || !strings.Contains(text, `"valid_until": "2026-`) {
		t.Fatalf("the encoding lacks the scheme's fields:\n%.2000s", text)
	}
	fast, ok := fastDecode(text)
	if !ok || !reflect.DeepEqual(fast, in) {
		t.Fatal("the fast path did not read the instance back")
	}
	general, err := decodeGeneral([]byte(text))
	if err != nil || !reflect.DeepEqual(general, in) {
		t.Fatalf("the general decoder did not read the instance back: %v", err)
	}
	read := 0
	for near := 0; near < len(text); near += len(text)/200 + 1 {
		if split, ok := fastDecodeSplit(text, near); ok {
			read++
			if !reflect.DeepEqual(split, in) {
				t.Fatalf("cut near %d: another instance", near)
			}
		}
	}
	if read < 150 {
		t.Errorf("only %d of 200 cuts were read in two halves", read)
	}
	for _, src := range []string{`{"products":[],"base_certificates":[]}`, `{"base_certificates":[],"products":[]}`} {
		for name, dec := range map[string]func(string) (*Instance, bool){
			"fast":    fastDecode,
			"general": func(s string) (*Instance, bool) { in, err := decodeGeneral([]byte(s)); return in, err == nil },
		} {
			got, ok := dec(src)
			if !ok || got.BaseCertificates == nil {
				t.Errorf("%s %s: an empty list read as none", name, src)
			}
		}
	}
	got, err := DecodeInstance(strings.NewReader(`{"products":[],"base_certificates":null}`))
	if err != nil || got.BaseCertificates != nil {
		t.Errorf("null is none: %v %v", got, err)
	}
}

func TestSchemeValidation(t *testing.T) {
	m := designJSON(t)
	o := rec(m, "offers", 0)
	o["inspection"] = "maybe"
	m["demands"].([]any)[0].(map[string]any)["require_inspection"] = "yes"
	m["base_certificates"] = []any{
		map[string]any{"base": "b1", "number": "N1", "products": []any{}, "valid_until": "2026-02-30"},
		map[string]any{"base": "b1", "number": "N2", "products": []any{"choy-sum"}, "valid_from": "2026-12-01", "valid_until": "2026-11-01"},
		map[string]any{"base": "", "products": []any{"choy-sum"}, "valid_until": "1999-12-31", "issuer": "x"},
	}
	_, err := decodeMap(t, m)
	e := errs.As(err)
	if e == nil || e.Code != errs.Unprocessable {
		t.Fatalf("error %v", err)
	}
	fields := map[string]bool{}
	for _, f := range e.Fields {
		fields[f.Field] = true
	}
	for _, f := range []string{"offers[0].inspection", "demands[0].require_inspection", "base_certificates[0].products",
		"base_certificates[0].valid_until", "base_certificates[1].valid_until", "base_certificates[2].base",
		"base_certificates[2].number", "base_certificates[2].valid_until", "base_certificates[2].issuer"} {
		if !fields[f] {
			t.Errorf("no error for %s in %v", f, e.Fields)
		}
	}
	// An inspection is of a lot.
	in := &Instance{Products: []Product{{Name: "a", ShelfLifeHours: 1}}, Offers: []Offer{{ID: "o", Base: "b", Product: "a", Grade: 1,
		Origin: "x", HarvestedAt: genBase, AvailableFrom: genBase, Inspection: InspectionPass}}}
	if err := in.Validate(); err == nil || !strings.Contains(err.Error(), "offers[0].inspection") {
		t.Errorf("an inspection without a lot: %v", err)
	}
}

func TestDate(t *testing.T) {
	d := DayOf(2026, 11, 21)
	if d.String() != "2026-11-21" || DateOf(time.Date(2026, 11, 21, 15, 59, 59, 0, time.UTC)) != d || DateOf(time.Date(2026, 11, 20, 16, 0, 0, 0, time.UTC)) != d {
		t.Errorf("dates: %s", d)
	}
	b, _ := json.Marshal(d)
	var back Date
	if string(b) != `"2026-11-21"` || json.Unmarshal(b, &back) != nil || back != d {
		t.Errorf("json %s → %s", b, back)
	}
}
