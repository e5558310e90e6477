package solve

import (
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// designPair is DESIGN.md's example: arrival 2026-11-20T15:00Z (08:00 + 7 h), 9 h after harvest, surplus
// 5.00 − 3.20 − 0.40 + 0.10 = 1.50 per kg.
func designPair() (Product, *Lane, Offer, Demand) {
	return Product{Name: "choy-sum", ShelfLifeHours: 72},
		&Lane{Origin: "xinluo", Destination: "jiangnan-market", CostPerKg: 40, TransitHours: 7},
		Offer{ID: "o1", Base: "b1", Product: "choy-sum", Grade: 1, QuantityKg: 5000, MinPricePerKg: 320, Origin: "xinluo",
			HarvestedAt: at("2026-11-20T06:00:00Z"), AvailableFrom: at("2026-11-20T08:00:00Z"),
			Certifications: []string{"green-food"}, PriorityBonusPerKg: 10},
		Demand{ID: "d1", Buyer: "w1", Product: "choy-sum", MinGrade: 1, QuantityKg: 2000, MaxPricePerKg: 500,
			Destination: "jiangnan-market", DeliverBy: at("2026-11-21T04:00:00Z"), RequiredCertifications: []string{"green-food"}}
}

func TestFeasibleRules(t *testing.T) {
	tests := []struct {
		name    string
		change  func(p *Product, l **Lane, o *Offer, d *Demand)
		codes   []string
		surplus Fen
	}{
		{"design example", func(*Product, **Lane, *Offer, *Demand) {}, nil, 150},
		{"arrival exactly at deliver-by", func(_ *Product, _ **Lane, _ *Offer, d *Demand) { d.DeliverBy = at("2026-11-20T15:00:00Z") }, nil, 150},
		{"arrival one second after deliver-by", func(_ *Product, _ **Lane, _ *Offer, d *Demand) { d.DeliverBy = at("2026-11-20T14:59:59Z") }, []string{ReasonLate}, 150},
		{"deliver-by in another zone, same instant", func(_ *Product, _ **Lane, _ *Offer, d *Demand) { d.DeliverBy = at("2026-11-20T23:00:00+08:00") }, nil, 150},
		{"arrival exactly at the end of shelf life", func(p *Product, _ **Lane, _ *Offer, _ *Demand) { p.ShelfLifeHours = 9 }, nil, 150},
		{"arrival one hour past shelf life", func(p *Product, _ **Lane, _ *Offer, _ *Demand) { p.ShelfLifeHours = 8 }, []string{ReasonShelfLife}, 150},
		{"shelf life counts from harvest, not availability", func(p *Product, _ **Lane, o *Offer, _ *Demand) {
			p.ShelfLifeHours = 9
			o.HarvestedAt = at("2026-11-20T05:59:00Z")
		}, []string{ReasonShelfLife}, 150},
		{"zero surplus is not used", func(_ *Product, _ **Lane, _ *Offer, d *Demand) { d.MaxPricePerKg = 350 }, []string{ReasonPriceGap}, 0},
		{"one fen of surplus is used", func(_ *Product, _ **Lane, _ *Offer, d *Demand) { d.MaxPricePerKg = 351 }, nil, 1},
		{"negative surplus", func(_ *Product, _ **Lane, _ *Offer, d *Demand) { d.MaxPricePerKg = 300 }, []string{ReasonPriceGap}, -50},
		{"zero gap without a priority bonus", func(_ *Product, _ **Lane, o *Offer, d *Demand) {
			d.MaxPricePerKg = 360
			o.PriorityBonusPerKg = 0
		}, []string{ReasonPriceGap}, 0},
		{"the priority bonus closes the gap", func(_ *Product, _ **Lane, _ *Offer, d *Demand) { d.MaxPricePerKg = 360 }, nil, 10},
		{"grade equal to the worst accepted", func(_ *Product, _ **Lane, o *Offer, d *Demand) { o.Grade, d.MinGrade = 2, 2 }, nil, 150},
		{"grade better than required", func(_ *Product, _ **Lane, o *Offer, d *Demand) { o.Grade, d.MinGrade = 1, 3 }, nil, 150},
		{"grade worse than accepted", func(_ *Product, _ **Lane, o *Offer, d *Demand) { o.Grade, d.MinGrade = 3, 2 }, []string{ReasonGrade}, 150},
		{"certifications a superset", func(_ *Product, _ **Lane, o *Offer, _ *Demand) { o.Certifications = []string{"organic", "green-food"} }, nil, 150},
		{"certifications equal", func(_ *Product, _ **Lane, o *Offer, d *Demand) {
			o.Certifications = []string{"organic", "green-food"}
			d.RequiredCertifications = []string{"green-food", "organic"}
		}, nil, 150},
		{"certifications a subset", func(_ *Product, _ **Lane, _ *Offer, d *Demand) {
			d.RequiredCertifications = []string{"green-food", "organic"}
		}, []string{ReasonCertification}, 150},
		{"no certification held", func(_ *Product, _ **Lane, o *Offer, _ *Demand) { o.Certifications = nil }, []string{ReasonCertification}, 150},
		{"none required", func(_ *Product, _ **Lane, o *Offer, d *Demand) { o.Certifications, d.RequiredCertifications = nil, nil }, nil, 150},
		{"no lane", func(_ *Product, l **Lane, _ *Offer, _ *Demand) { *l = nil }, []string{ReasonNoLane}, 0},
		{"a lane from another origin", func(_ *Product, _ **Lane, o *Offer, _ *Demand) { o.Origin = "wuping" }, []string{ReasonNoLane}, 0},
		{"no lane, and grade and certification fail too", func(_ *Product, l **Lane, o *Offer, d *Demand) {
			*l = nil
			o.Grade = 2
			d.RequiredCertifications = []string{"organic"}
		}, []string{ReasonNoLane, ReasonGrade, ReasonCertification}, 0},
		{"every rule fails, in rule order", func(p *Product, _ **Lane, o *Offer, d *Demand) {
			p.ShelfLifeHours = 1
			d.DeliverBy = at("2026-11-20T10:00:00Z")
			o.Grade = 3
			d.RequiredCertifications = []string{"organic"}
			d.MaxPricePerKg = 100
		}, []string{ReasonShelfLife, ReasonLate, ReasonGrade, ReasonCertification, ReasonPriceGap}, -250},
		{"different product", func(_ *Product, _ **Lane, _ *Offer, d *Demand) { d.Product = "pak-choi" }, []string{ReasonProduct}, 0},
		{"transit of zero hours", func(_ *Product, l **Lane, _ *Offer, d *Demand) {
			(*l).TransitHours = 0
			d.DeliverBy = at("2026-11-20T08:00:00Z")
		}, nil, 150},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, l, o, d := designPair()
			lc := *l
			l = &lc
			tt.change(&p, &l, &o, &d)
			s, why := Feasible(p, l, o, d)
			var codes []string
			for _, r := range why {
				codes = append(codes, r.Code)
			}
			if !slices.Equal(codes, tt.codes) {
				t.Errorf("reasons %v, want %v", codes, tt.codes)
			}
			if s != tt.surplus {
				t.Errorf("surplus %s, want %s", s, tt.surplus)
			}
			checkSolverAgrees(t, p, l, o, d, tt.codes)
		})
	}
}

// checkSolverAgrees solves the one-pair instance: the network must allocate exactly when the rules allow,
// and explain the demand's shortfall by the first rule that fails.
func checkSolverAgrees(t *testing.T, p Product, l *Lane, o Offer, d Demand, codes []string) {
	t.Helper()
	in := &Instance{Products: []Product{p}, Offers: []Offer{o}, Demands: []Demand{d}}
	if d.Product != p.Name {
		in.Products = append(in.Products, Product{Name: d.Product, ShelfLifeHours: 72})
	}
	if l != nil {
		in.Lanes = []Lane{*l}
	}
	r, err := Solve(in)
	if err != nil {
		t.Fatal(err)
	}
	if allocated := len(r.Allocations) == 1; allocated != (len(codes) == 0) {
		t.Fatalf("Solve allocated %v with reasons %v: %+v", r.Allocations, codes, r)
	}
	want := ReasonCapacity
	switch {
	case len(codes) == 0:
	case codes[0] == ReasonProduct:
		want = ReasonNoOffer
	default:
		want = codes[0]
	}
	var got string
	for _, u := range r.Unmatched {
		if u.Side == SideDemand {
			got = u.Reasons[0].Code
		}
	}
	if len(codes) == 0 && got == "" {
		return // the demand was served in full
	}
	if got != want {
		t.Errorf("demand explained by %q, want %q", got, want)
	}
}

// TestReasonText checks that each reason is a sentence in Chinese first, English beside, with the rule's
// plain words and the figures a reader needs.
func TestReasonText(t *testing.T) {
	tests := []struct {
		name   string
		change func(p *Product, l **Lane, o *Offer, d *Demand)
		code   string
		want   []string
	}{
		{"late", func(_ *Product, _ **Lane, _ *Offer, d *Demand) { d.DeliverBy = at("2026-11-20T12:00:00Z") }, ReasonLate,
			[]string{"晚于交货期限", "2026-11-20 23:00", "20:00", "would arrive 2026-11-20T15:00Z", "after deliver-by 2026-11-20T12:00Z", "d1", "jiangnan-market"}},
		{"shelf life", func(p *Product, _ **Lane, _ *Offer, _ *Demand) { p.ShelfLifeHours = 8 }, ReasonShelfLife,
			[]string{"超过保质期", "shelf life", "9h after harvest", "8h", "2026-11-20T15:00Z"}},
		{"grade", func(_ *Product, _ **Lane, o *Offer, d *Demand) { o.Grade, d.MinGrade = 3, 2 }, ReasonGrade,
			[]string{"等级不符", "grade 3", "grade 2 or better"}},
		{"certification", func(_ *Product, _ **Lane, _ *Offer, d *Demand) {
			d.RequiredCertifications = []string{"green-food", "organic"}
		}, ReasonCertification,
			[]string{"缺少认证", "certification organic", "has green-food"}},
		{"no lane", func(_ *Product, l **Lane, _ *Offer, _ *Demand) { *l = nil }, ReasonNoLane,
			[]string{"无线路", "no lane from xinluo to jiangnan-market"}},
		{"price gap", func(_ *Product, _ **Lane, _ *Offer, d *Demand) { d.MaxPricePerKg = 340 }, ReasonPriceGap,
			[]string{"价差不足", "price gap", "max price 3.40 − min price 3.20 − lane cost 0.40 + bonus 0.10 = -0.10 CNY/kg"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, l, o, d := designPair()
			lc := *l
			l = &lc
			tt.change(&p, &l, &o, &d)
			_, why := Feasible(p, l, o, d)
			if len(why) != 1 || why[0].Code != tt.code {
				t.Fatalf("reasons %+v, want one %s", why, tt.code)
			}
			msg := why[0].Message
			zh, en, ok := strings.Cut(msg, " / ")
			if !ok || !unicode.Is(unicode.Han, []rune(zh)[0]) || strings.ContainsFunc(en, func(r rune) bool { return unicode.Is(unicode.Han, r) }) {
				t.Errorf("want Chinese, then \" / \" and English: %q", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("%q does not contain %q", msg, w)
				}
			}
		})
	}
}
