package solve

import (
	"fmt"
	"time"
)

// A pair's rules, in the order its reasons are listed and in which the first failing one is attributed
// when unmatched offers and demands are explained: a pair that cannot get there at all (no lane), arrives
// spoilt or late, is of the wrong quality, or fails only on price.
const (
	ruleNoLane ruleSet = 1 << iota
	ruleShelfLife
	ruleLate
	ruleGrade
	ruleCertification
	ruleNoCertificate
	ruleCertificateNotYetValid
	ruleCertificateExpired
	ruleCertificateProduct
	ruleInspectionMissing
	ruleInspectionFailed
	rulePriceGap
)

// ruleSet is the set of rules a pair fails.
type ruleSet uint16

var ruleOrder = []struct {
	rule ruleSet
	code string
}{
	{ruleNoLane, ReasonNoLane},
	{ruleShelfLife, ReasonShelfLife},
	{ruleLate, ReasonLate},
	{ruleGrade, ReasonGrade},
	{ruleCertification, ReasonCertification},
	{ruleNoCertificate, ReasonNoCertificate},
	{ruleCertificateNotYetValid, ReasonCertificateNotYet},
	{ruleCertificateExpired, ReasonCertificateExpired},
	{ruleCertificateProduct, ReasonCertificateProduct},
	{ruleInspectionMissing, ReasonInspectionMissing},
	{ruleInspectionFailed, ReasonInspectionFailed},
	{rulePriceGap, ReasonPriceGap},
}

// pOffer and pDemand are records prepared for the rules: times as Unix nanoseconds (Validate keeps them in
// 2000–2199, so they fit), money folded into the separable parts of the surplus, and certifications as bit
// sets over one universe, so that the subset test is a few word operations.
type pOffer struct {
	o       *Offer
	origin  int32 // index into the instance's origins
	rank    int32 // position among all offers in id order
	grade   int
	harvest int64
	avail   int64
	a       Fen        // priority bonus − min price: the offer's part of the surplus
	certs   []uint64   // bit set of certifications held
	insp    int8       // the lot's inspection: inspNone, inspPass, inspFail
	cover   *certCover // the base's certificates for the product; set only when the instance lists them
}

type pDemand struct {
	d    *Demand
	dest int32 // index into the instance's destinations
	rank int32 // position among all demands in id order
	// grade is the worst grade accepted.
	grade int
	due   int64
	b     Fen      // max price: the demand's part of the surplus
	req   []uint64 // bit set of certifications required
	// The scheme's rules: a certificate valid on day (needCert), a passed inspection (inspect).
	needCert, inspect bool
	day               Date
}

// pLane is a lane prepared for the rules.
type pLane struct {
	l       *Lane
	transit int64 // nanoseconds
}

// verdict is what the rules say about one pair.
type verdict struct {
	fails   ruleSet
	surplus Fen   // per kg; meaningful only with a lane
	arrival int64 // Unix nanoseconds; meaningful only with a lane
}

// judge applies DESIGN.md's rules to one pair of the same product. It is the single definition of
// feasibility: the explanation and Feasible call it, and the solver's network encodes the same tests
// (tests check that the two agree).
func judge(shelf int64, l *pLane, o *pOffer, d *pDemand) verdict {
	var v verdict
	if l == nil {
		v.fails |= ruleNoLane
	} else {
		v.arrival = o.avail + l.transit
		if v.arrival-o.harvest > shelf {
			v.fails |= ruleShelfLife
		}
		if v.arrival > d.due {
			v.fails |= ruleLate
		}
		v.surplus = o.a + d.b - l.l.CostPerKg
		if v.surplus <= 0 {
			v.fails |= rulePriceGap
		}
	}
	if o.grade > d.grade {
		v.fails |= ruleGrade
	}
	if !subset(d.req, o.certs) {
		v.fails |= ruleCertification
	}
	v.fails |= o.schemeFails(d.needCert, d.day, d.inspect)
	return v
}

// subset reports whether every bit of a is in b.
func subset(a, b []uint64) bool {
	for w, x := range a {
		if x&^b[w] != 0 {
			return false
		}
	}
	return true
}

// certUniverse numbers certification names so that sets of them become bit sets.
type certUniverse map[string]int

func (u certUniverse) add(names []string) {
	for _, n := range names {
		if _, ok := u[n]; !ok {
			u[n] = len(u)
		}
	}
}

func (u certUniverse) words() int { return (len(u) + 63) / 64 }

// set puts names other than skip into the bit set into.
func (u certUniverse) set(names []string, into []uint64, skip string) []uint64 {
	for _, n := range names {
		if n == skip && skip != "" {
			continue
		}
		i := u[n]
		into[i/64] |= 1 << (i % 64)
	}
	return into
}

const hour = int64(time.Hour)

// Feasible applies the matching rules to one pair: p is the pair's product (for its shelf life) and l the
// lane from the offer's origin to the demand's destination, nil when there is none. It returns the surplus
// per kg (max price − min price − lane cost + priority bonus; 0 without a lane) and every rule the pair
// fails, in a fixed order; the pair may be used exactly when reasons is empty.
func Feasible(p Product, l *Lane, o Offer, d Demand) (surplus Fen, reasons []Reason) {
	return FeasibleUnder(nil, p, l, o, d)
}

// FeasibleUnder is Feasible with the base certificates of an instance (Instance.BaseCertificates): nil
// when the instance lists none, and cailanzi-base is then an ordinary certification.
func FeasibleUnder(certs []BaseCertificate, p Product, l *Lane, o Offer, d Demand) (surplus Fen, reasons []Reason) {
	if o.Product != d.Product || p.Name != o.Product {
		return 0, []Reason{{Code: ReasonProduct, Message: productMessage(p, &o, &d)}}
	}
	if l != nil && (l.Origin != o.Origin || l.Destination != d.Destination) {
		l = nil // a lane elsewhere does not join this pair
	}
	u := certUniverse{}
	u.add(o.Certifications)
	u.add(d.RequiredCertifications)
	certified := certs != nil
	po := prepOffer(&o, 0, u, make([]uint64, u.words()))
	pd := prepDemand(&d, 0, u, make([]uint64, u.words()), certified)
	skip := ""
	if certified {
		po.cover = newCovers(certs).of(o.Base, o.Product)
		skip = CailanziBase
	}
	var pl *pLane
	if l != nil {
		pl = &pLane{l: l, transit: int64(l.TransitHours) * hour}
	}
	v := judge(int64(p.ShelfLifeHours)*hour, pl, &po, &pd)
	for _, r := range ruleOrder {
		if v.fails&r.rule != 0 {
			ex := example{o: &o, d: &d, lane: l, product: &p, v: v, cover: po.cover, skipCert: skip}
			reasons = append(reasons, Reason{Code: r.code, Message: ex.pairMessage(r.code)})
		}
	}
	return v.surplus, reasons
}

func prepOffer(o *Offer, origin int32, u certUniverse, certs []uint64) pOffer {
	return pOffer{o: o, origin: origin, grade: o.Grade, harvest: o.HarvestedAt.UnixNano(), avail: o.AvailableFrom.UnixNano(),
		a: o.PriorityBonusPerKg - o.MinPricePerKg, certs: u.set(o.Certifications, certs, ""), insp: inspOf(o)}
}

// prepDemand prepares d; certified: the instance lists base certificates, which then judge cailanzi-base.
func prepDemand(d *Demand, dest int32, u certUniverse, req []uint64, certified bool) pDemand {
	skip := ""
	if certified {
		skip = CailanziBase
	}
	pd := pDemand{d: d, dest: dest, grade: d.MinGrade, due: d.DeliverBy.UnixNano(), b: d.MaxPricePerKg,
		req: u.set(d.RequiredCertifications, req, skip)}
	prepScheme(d, &pd, certified)
	return pd
}

func productMessage(p Product, o *Offer, d *Demand) string {
	if o.Product != d.Product {
		return fmt.Sprintf("产品不同：供应 %s 为 %s，需求 %s 为 %s / different product: offer %s is %s, demand %s wants %s",
			o.ID, o.Product, d.ID, d.Product, o.ID, o.Product, d.ID, d.Product)
	}
	return fmt.Sprintf("产品不同：规则按 %s 判断，但配对为 %s / different product: rules given for %s, but the pair is %s",
		p.Name, o.Product, p.Name, o.Product)
}

// example is one pair, kept to word a reason with its figures.
type example struct {
	o       *Offer
	d       *Demand
	lane    *Lane
	product *Product
	v       verdict
	// The scheme's parts: the base's certificates for the product, and the certification they judge
	// instead of the offer's list ("" when the instance lists no certificates).
	cover    *certCover
	skipCert string
}

var titles = map[string][2]string{
	ReasonNoDemand:      {"无需求", "no demand"},
	ReasonNoOffer:       {"无供应", "no offer"},
	ReasonNoLane:        {"无线路", "no lane"},
	ReasonShelfLife:     {"超过保质期", "shelf life exceeded"},
	ReasonLate:          {"晚于交货期限", "late"},
	ReasonGrade:         {"等级不符", "grade too low"},
	ReasonCertification: {"缺少认证", "certification missing"},
	ReasonPriceGap:      {"价差不足", "price gap"},
	ReasonCapacity:      {"容量已满", "capacity"},
	ReasonNoQuantity:    {"无数量", "no quantity"},

	ReasonNoCertificate:      {"无菜篮子基地证书", "no cailanzi base certificate"},
	ReasonCertificateNotYet:  {"基地证书尚未生效", "base certificate not yet valid"},
	ReasonCertificateExpired: {"基地证书已过期", "base certificate expired"},
	ReasonCertificateProduct: {"基地证书不含该产品", "product not on the base certificate"},
	ReasonInspectionMissing:  {"缺少农残检测", "inspection missing"},
	ReasonInspectionFailed:   {"农残检测不合格", "inspection failed"},
}
