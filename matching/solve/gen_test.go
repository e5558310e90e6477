package solve

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// genConfig shapes a generated instance. Generation is deterministic in (seed, config).
type genConfig struct {
	Offers, Demands int
	Products        int
	Origins, Dests  int
	LaneShare       float64 // share of origin × destination pairs with a lane
	MinKg, MaxKg    int64
	// Coarse makes prices, times and quantities take few values, so that ties and rule boundaries
	// (arrival exactly at deliver-by, exactly at the end of shelf life, zero surplus) are common.
	Coarse bool
	// Scheme adds the 菜篮子 scheme's parts: base certificates around the delivery days, lots with passed,
	// failed or no inspections, and demands requiring cailanzi-base or a passed inspection.
	Scheme bool
}

var counties = []string{"xinluo", "yongding", "shanghang", "wuping", "changting", "liancheng", "zhangping"}

var markets = []string{"jiangnan-market", "huangsha-market", "lingnan-market", "baiyun-market", "panyu-market",
	"huadu-market", "nansha-market", "zengcheng-market", "conghua-market", "haizhu-market", "tianhe-market", "liwan-market"}

var genBase = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

func place(names []string, i int) string {
	if i < len(names) {
		return names[i]
	}
	return fmt.Sprintf("%s-%d", names[i%len(names)], i/len(names))
}

// genInstance makes a realistic instance: grades 1–3, a few certifications, prices of a few CNY per kg,
// lanes of 4–16 hours and times over a few days, so that a real share of pairs is feasible.
func genInstance(seed uint64, c genConfig) *Instance {
	rng := rand.New(rand.NewPCG(seed, 0x5ebe11))
	in := &Instance{}
	shelf := []int{48, 72, 96, 120, 168, 240}
	if c.Coarse {
		shelf = []int{10, 14, 20}
	}
	for p := range c.Products {
		in.Products = append(in.Products, Product{Name: fmt.Sprintf("product-%02d", p), ShelfLifeHours: shelf[rng.IntN(len(shelf))]})
	}
	for o := range c.Origins {
		for d := range c.Dests {
			if rng.Float64() >= c.LaneShare {
				continue
			}
			l := Lane{Origin: place(counties, o), Destination: place(markets, d),
				CostPerKg: Fen(20 + rng.IntN(101)), TransitHours: 4 + rng.IntN(13)}
			if c.Coarse {
				l.CostPerKg = Fen(20 * rng.IntN(4))
				l.TransitHours = 2 + 2*rng.IntN(3)
			}
			in.Lanes = append(in.Lanes, l)
		}
	}
	// A lane list in a fixed but unsorted order, as a coordinator's file would have it.
	rng.Shuffle(len(in.Lanes), func(a, b int) { in.Lanes[a], in.Lanes[b] = in.Lanes[b], in.Lanes[a] })
	kg := func() int64 {
		if c.Coarse {
			return c.MinKg + (c.MaxKg-c.MinKg)*int64(rng.IntN(3))/2
		}
		return c.MinKg + rng.Int64N(c.MaxKg-c.MinKg+1)
	}
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
	for i := range c.Offers {
		o := Offer{ID: fmt.Sprintf("o%05d", i), Base: fmt.Sprintf("base-%03d", rng.IntN(200)),
			Product: in.Products[rng.IntN(c.Products)].Name, Grade: 1 + pick(0.3, 0.5, 0.2), QuantityKg: kg(),
			Origin: place(counties, rng.IntN(c.Origins))}
		if c.Coarse {
			o.MinPricePerKg = Fen(200 + 50*rng.IntN(3))
			o.HarvestedAt = genBase.Add(time.Duration(rng.IntN(4)) * 2 * time.Hour)
			o.AvailableFrom = o.HarvestedAt.Add(time.Duration(rng.IntN(3)) * 2 * time.Hour)
		} else {
			o.MinPricePerKg = Fen(200 + rng.IntN(301))
			o.HarvestedAt = genBase.Add(time.Duration(rng.IntN(72*60)) * time.Minute)
			o.AvailableFrom = o.HarvestedAt.Add(time.Duration(60+rng.IntN(11*60)) * time.Minute)
		}
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
			o.PriorityBonusPerKg = Fen(5 + rng.IntN(26))
			if c.Coarse {
				o.PriorityBonusPerKg = 50
			}
		}
		in.Offers = append(in.Offers, o)
	}
	reqs := [][]string{nil, {"green-food"}, {"organic"}, {"green-food", "organic"}}
	for j := range c.Demands {
		d := Demand{ID: fmt.Sprintf("d%05d", j), Buyer: fmt.Sprintf("buyer-%03d", rng.IntN(100)),
			Product: in.Products[rng.IntN(c.Products)].Name, MinGrade: 1 + pick(0.2, 0.4, 0.4), QuantityKg: kg(),
			Destination:            place(markets, rng.IntN(c.Dests)),
			RequiredCertifications: reqs[pick(0.6, 0.25, 0.1, 0.05)]}
		if c.Coarse {
			d.MaxPricePerKg = Fen(250 + 50*rng.IntN(3))
			d.DeliverBy = genBase.Add(time.Duration(4+2*rng.IntN(6)) * time.Hour)
		} else {
			d.MaxPricePerKg = Fen(300 + rng.IntN(401))
			d.DeliverBy = genBase.Add(time.Duration(12*60+rng.IntN(4*24*60)) * time.Minute)
		}
		in.Demands = append(in.Demands, d)
	}
	if c.Scheme {
		addScheme(in, seed)
	}
	return in
}

// addScheme draws from its own generator, so that an instance without the scheme is what it always was.
func addScheme(in *Instance, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0xca1a))
	day := DateOf(genBase)
	in.BaseCertificates = []BaseCertificate{}
	bases := map[string]bool{}
	for i := range in.Offers {
		o := &in.Offers[i]
		if !bases[o.Base] {
			bases[o.Base] = true
			for k := range rng.IntN(3) { // none, one or two certificates
				c := BaseCertificate{Base: o.Base, Number: fmt.Sprintf("CLZ-%s-%d", o.Base, k), ValidUntil: day + Date(rng.IntN(6)) - 1}
				for _, p := range in.Products {
					if rng.Float64() < 0.7 {
						c.Products = append(c.Products, p.Name)
					}
				}
				if len(c.Products) == 0 {
					c.Products = []string{"other-product"}
				}
				if rng.IntN(2) == 0 {
					c.ValidFrom = c.ValidUntil - Date(rng.IntN(4))
				}
				in.BaseCertificates = append(in.BaseCertificates, c)
			}
		}
		if rng.Float64() < 0.1 { // a claim of its own, which certificates overrule
			o.Certifications = append(append([]string(nil), o.Certifications...), CailanziBase)
		}
		if rng.Float64() < 0.75 {
			o.Lot = fmt.Sprintf("LOT%05d", i)
			switch x := rng.Float64(); {
			case x < 0.6:
				o.Inspection = InspectionPass
			case x < 0.85:
				o.Inspection = InspectionFail
			}
		}
	}
	for j := range in.Demands {
		d := &in.Demands[j]
		if rng.Float64() < 0.5 {
			d.RequiredCertifications = append(append([]string(nil), d.RequiredCertifications...), CailanziBase)
		}
		d.RequireInspection = rng.Float64() < 0.4
	}
}

// shuffled returns a copy of in with every list in another order.
func shuffled(in *Instance, seed uint64) *Instance {
	rng := rand.New(rand.NewPCG(seed, 7))
	out := &Instance{
		Products: append([]Product(nil), in.Products...),
		Lanes:    append([]Lane(nil), in.Lanes...),
		Offers:   append([]Offer(nil), in.Offers...),
		Demands:  append([]Demand(nil), in.Demands...),
	}
	if in.BaseCertificates != nil {
		out.BaseCertificates = append([]BaseCertificate{}, in.BaseCertificates...)
		rng.Shuffle(len(out.BaseCertificates), func(a, b int) {
			out.BaseCertificates[a], out.BaseCertificates[b] = out.BaseCertificates[b], out.BaseCertificates[a]
		})
	}
	rng.Shuffle(len(out.Products), func(a, b int) { out.Products[a], out.Products[b] = out.Products[b], out.Products[a] })
	rng.Shuffle(len(out.Lanes), func(a, b int) { out.Lanes[a], out.Lanes[b] = out.Lanes[b], out.Lanes[a] })
	rng.Shuffle(len(out.Offers), func(a, b int) { out.Offers[a], out.Offers[b] = out.Offers[b], out.Offers[a] })
	rng.Shuffle(len(out.Demands), func(a, b int) { out.Demands[a], out.Demands[b] = out.Demands[b], out.Demands[a] })
	return out
}
