package solve

import (
	"slices"
	"strings"
	"sync"
)

// prepared is a validated instance in the solver's terms: products sorted by name, each with its offers
// and demands sorted by id, so that nothing downstream depends on the order of the input.
type prepared struct {
	// Lanes by origin × destination index: a dense matrix (nil where no lane exists) when that is small,
	// as with counties and markets, else a map, so that many distinct places cannot blow up memory.
	lanes    []*pLane
	laneMap  map[int64]*pLane
	nDest    int
	problems []*problem
	offers   int
	demands  int
	// Records of 0 kg take no part in any product's problem (nor in others' explanations); they are listed
	// unmatched with the reason no_quantity.
	zeroOffers, zeroDemands []zeroRecord
}

// zeroRecord is an offer or demand of 0 kg, with its rank in id order.
type zeroRecord struct {
	id   string
	rank int32
}

// problem is one product: offers never meet demands of another product, so each product is solved alone.
type problem struct {
	product *Product
	shelf   int64 // nanoseconds
	offers  []pOffer
	demands []pDemand
	// skipCert is CailanziBase when the instance lists base certificates, which then judge it.
	skipCert string
}

func (pr *prepared) lane(origin, dest int32) *pLane {
	k := int64(origin)*int64(pr.nDest) + int64(dest)
	if pr.laneMap != nil {
		return pr.laneMap[k]
	}
	return pr.lanes[k]
}

// denseLanesLimit is the largest origin × destination matrix kept dense (8 MB of pointers); a variable
// only so that a test can force the map.
var denseLanesLimit int64 = 1 << 20

func prepare(in *Instance) *prepared {
	origins, dests := map[string]int32{}, map[string]int32{}
	u := certUniverse{}
	offers := make([]*Offer, len(in.Offers))
	for i := range in.Offers {
		offers[i] = &in.Offers[i]
	}
	demands := make([]*Demand, len(in.Demands))
	for i := range in.Demands {
		demands[i] = &in.Demands[i]
	}
	var sorting sync.WaitGroup // the two sorts at once
	sorting.Go(func() { slices.SortFunc(demands, func(a, b *Demand) int { return strings.Compare(a.ID, b.ID) }) })
	slices.SortFunc(offers, func(a, b *Offer) int { return strings.Compare(a.ID, b.ID) })
	sorting.Wait()
	// Indices are handed out in id order, so they too are independent of the input's order.
	for _, o := range offers {
		if _, ok := origins[o.Origin]; !ok {
			origins[o.Origin] = int32(len(origins))
		}
		u.add(o.Certifications)
	}
	for _, d := range demands {
		if _, ok := dests[d.Destination]; !ok {
			dests[d.Destination] = int32(len(dests))
		}
		u.add(d.RequiredCertifications)
	}
	pr := &prepared{nDest: len(dests), offers: len(offers), demands: len(demands)}
	if cells := int64(len(origins)) * int64(len(dests)); cells <= denseLanesLimit {
		pr.lanes = make([]*pLane, cells)
	} else {
		pr.laneMap = map[int64]*pLane{}
	}
	for i := range in.Lanes {
		l := &in.Lanes[i]
		oi, ok1 := origins[l.Origin]
		di, ok2 := dests[l.Destination]
		if ok1 && ok2 {
			pl := &pLane{l: l, transit: int64(l.TransitHours) * hour}
			if k := int64(oi)*int64(pr.nDest) + int64(di); pr.laneMap != nil {
				pr.laneMap[k] = pl
			} else {
				pr.lanes[k] = pl
			}
		}
	}
	certified := in.BaseCertificates != nil
	var cov *covers
	skip := ""
	if certified {
		cov, skip = newCovers(in.BaseCertificates), CailanziBase
	}
	byName := map[string]*problem{}
	for i := range in.Products {
		p := &in.Products[i]
		byName[p.Name] = &problem{product: p, shelf: int64(p.ShelfLifeHours) * hour, skipCert: skip}
	}
	w := u.words()
	bitsets := make([]uint64, w*(len(offers)+len(demands)))
	for k, o := range offers {
		if o.QuantityKg == 0 {
			pr.zeroOffers = append(pr.zeroOffers, zeroRecord{o.ID, int32(k)})
			continue
		}
		p := byName[o.Product]
		po := prepOffer(o, origins[o.Origin], u, bitsets[k*w:(k+1)*w:(k+1)*w])
		po.rank = int32(k)
		if certified {
			po.cover = cov.of(o.Base, o.Product)
		}
		p.offers = append(p.offers, po)
	}
	bitsets = bitsets[w*len(offers):]
	for k, d := range demands {
		if d.QuantityKg == 0 {
			pr.zeroDemands = append(pr.zeroDemands, zeroRecord{d.ID, int32(k)})
			continue
		}
		p := byName[d.Product]
		pd := prepDemand(d, dests[d.Destination], u, bitsets[k*w:(k+1)*w:(k+1)*w], certified)
		pd.rank = int32(k)
		p.demands = append(p.demands, pd)
	}
	for _, p := range byName {
		if len(p.offers) > 0 || len(p.demands) > 0 {
			pr.problems = append(pr.problems, p)
		}
	}
	slices.SortFunc(pr.problems, func(a, b *problem) int { return strings.Compare(a.product.Name, b.product.Name) })
	return pr
}
