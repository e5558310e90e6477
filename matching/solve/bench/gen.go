package main

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/suilong/suilong/matching/solve"
)

// shape is one benchmark instance: offers × demands over some products, on 7 Longyan counties × 12
// Guangzhou markets with every lane. The distributions are those of the package's own benchmarks
// (matching/solve/gen_test.go): grades 1–3, green-food/organic/GAP certifications, min prices 2.00–5.00,
// max prices 3.00–7.00, a bonus on 20 % of offers, harvests over three days, deliver-by over four, lanes of
// 0.20–1.20 CNY/kg and 4–16 h, 200–5,000 kg; so about a quarter of the same-product pairs are usable.
type shape struct {
	Name            string
	Offers, Demands int
	Products        int
}

func (s shape) String() string {
	return fmt.Sprintf("%s × %s, %d product%s", thousands(s.Offers), thousands(s.Demands), s.Products, plural(s.Products))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func thousands(n int) string {
	if n < 1000 {
		return fmt.Sprint(n)
	}
	return fmt.Sprintf("%s,%03d", thousands(n/1000), n%1000)
}

var counties = []string{"xinluo", "yongding", "shanghang", "wuping", "changting", "liancheng", "zhangping"}

var markets = []string{"jiangnan-market", "huangsha-market", "lingnan-market", "baiyun-market", "panyu-market",
	"huadu-market", "nansha-market", "zengcheng-market", "conghua-market", "haizhu-market", "tianhe-market", "liwan-market"}

var genBase = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

// generate makes the instance of s, deterministically: the same shape gives the same instance.
func generate(s shape) *solve.Instance {
	rng := rand.New(rand.NewPCG(uint64(s.Offers)*1_000_003+uint64(s.Demands), uint64(s.Products)))
	in := &solve.Instance{}
	shelf := []int{48, 72, 96, 120, 168, 240}
	for p := range s.Products {
		in.Products = append(in.Products, solve.Product{Name: fmt.Sprintf("product-%02d", p), ShelfLifeHours: shelf[rng.IntN(len(shelf))]})
	}
	for _, o := range counties {
		for _, d := range markets {
			in.Lanes = append(in.Lanes, solve.Lane{Origin: o, Destination: d, CostPerKg: solve.Fen(20 + rng.IntN(101)), TransitHours: 4 + rng.IntN(13)})
		}
	}
	rng.Shuffle(len(in.Lanes), func(a, b int) { in.Lanes[a], in.Lanes[b] = in.Lanes[b], in.Lanes[a] })
	pick := func(weights ...float64) int {
		x := rng.Float64()
		for i, w := range weights {
			if x < w {
				return i
			}
			x -= w
		}
		return len(weights) - 1
	}
	kg := func() int64 { return 200 + rng.Int64N(4801) }
	for i := range s.Offers {
		o := solve.Offer{ID: fmt.Sprintf("o%06d", i), Base: fmt.Sprintf("base-%03d", rng.IntN(200)),
			Product: in.Products[rng.IntN(s.Products)].Name, Grade: 1 + pick(0.3, 0.5, 0.2), QuantityKg: kg(),
			Origin: counties[rng.IntN(len(counties))], MinPricePerKg: solve.Fen(200 + rng.IntN(301))}
		o.HarvestedAt = genBase.Add(time.Duration(rng.IntN(72*60)) * time.Minute)
		o.AvailableFrom = o.HarvestedAt.Add(time.Duration(60+rng.IntN(11*60)) * time.Minute)
		if rng.Float64() < 0.5 {
			o.Certifications = append(o.Certifications, "green-food")
		}
		if rng.Float64() < 0.2 {
			o.Certifications = append(o.Certifications, "organic")
		}
		if rng.Float64() < 0.3 {
			o.Certifications = append(o.Certifications, "gap")
		}
		if rng.Float64() < 0.2 {
			o.PriorityBonusPerKg = solve.Fen(5 + rng.IntN(26))
		}
		in.Offers = append(in.Offers, o)
	}
	reqs := [][]string{nil, {"green-food"}, {"organic"}, {"green-food", "organic"}}
	for j := range s.Demands {
		d := solve.Demand{ID: fmt.Sprintf("d%06d", j), Buyer: fmt.Sprintf("buyer-%03d", rng.IntN(100)),
			Product: in.Products[rng.IntN(s.Products)].Name, MinGrade: 1 + pick(0.2, 0.4, 0.4), QuantityKg: kg(),
			MaxPricePerKg: solve.Fen(300 + rng.IntN(401)), Destination: markets[rng.IntN(len(markets))],
			RequiredCertifications: reqs[pick(0.6, 0.25, 0.1, 0.05)]}
		d.DeliverBy = genBase.Add(time.Duration(12*60+rng.IntN(4*24*60)) * time.Minute)
		in.Demands = append(in.Demands, d)
	}
	return in
}
