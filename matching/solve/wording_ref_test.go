package solve

// The fmt-based wording the explanations had before they were appended to buffers (wording.go), kept as
// the reference that TestWordingMatchesReference holds the new text to.

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// Beijing time for the Chinese text; a fixed zone, so that no time zone database is needed.
var beijing = time.FixedZone("CST", 8*3600)

// clock is the time of day, with seconds only when there are any: a second can decide a rule.
func refClock(t time.Time) string {
	if t.Second() != 0 || t.Nanosecond() != 0 {
		return t.Format("15:04:05.999999999")
	}
	return t.Format("15:04")
}

func refZhTime(ns int64) string {
	t := time.Unix(0, ns).In(beijing)
	return t.Format("2006-01-02 ") + refClock(t)
}

// zhTimeNear writes t, dropping the date when it is the same Beijing day as ref.
func refZhTimeNear(ns, ref int64) string {
	t, r := time.Unix(0, ns).In(beijing), time.Unix(0, ref).In(beijing)
	if t.Format("2006-01-02") == r.Format("2006-01-02") {
		return refClock(t)
	}
	return refZhTime(ns)
}

func refEnTime(ns int64) string {
	t := time.Unix(0, ns).UTC()
	return t.Format("2006-01-02T") + refClock(t) + "Z"
}

// hoursText writes a duration in hours, exactly: minutes and seconds appear when they are not zero, so
// that "9h00m01s" is not shown as a misleading "9h".
func refHoursText(ns int64) string {
	h := ns / hour
	rest := time.Duration(ns % hour)
	m, sec := int64(rest/time.Minute), rest%time.Minute
	switch {
	case sec%time.Second != 0:
		return fmt.Sprintf("%dh%02dm%gs", h, m, sec.Seconds())
	case sec != 0:
		return fmt.Sprintf("%dh%02dm%02ds", h, m, sec/time.Second)
	case m != 0:
		return fmt.Sprintf("%dh%02dm", h, m)
	}
	return fmt.Sprintf("%dh", h)
}

// pairMessage is the sentence for one pair and one rule, e.g. "晚于交货期限：预计 … 到达，晚于 12:00 / late:
// would arrive …, after deliver-by … (offer o1 from xinluo, demand d7 at jiangnan-market)".
func (e example) refPairMessage(code string) string {
	zh, en := e.refDetail(code)
	t := titles[code]
	return fmt.Sprintf("%s：%s / %s: %s", t[0], zh, t[1], en)
}

// detail words one rule for this pair, in Chinese and English, naming the figures.
func (e example) refDetail(code string) (zh, en string) {
	o, d := e.o, e.d
	pair := fmt.Sprintf("供应 %s，需求 %s", o.ID, d.ID)
	pairEn := fmt.Sprintf("offer %s from %s, demand %s at %s", o.ID, o.Origin, d.ID, d.Destination)
	switch code {
	case ReasonNoLane:
		return fmt.Sprintf("没有从 %s 到 %s 的线路（%s）", o.Origin, d.Destination, pair),
			fmt.Sprintf("no lane from %s to %s (offer %s, demand %s)", o.Origin, d.Destination, o.ID, d.ID)
	case ReasonShelfLife:
		age := e.v.arrival - o.HarvestedAt.UnixNano()
		return fmt.Sprintf("预计 %s 到达，距采收 %s，超过保质期 %dh（%s，%s）", refZhTime(e.v.arrival), refHoursText(age), e.product.ShelfLifeHours, pair, o.Product),
			fmt.Sprintf("would arrive %s, %s after harvest, beyond the shelf life of %dh (%s, %s)", refEnTime(e.v.arrival), refHoursText(age), e.product.ShelfLifeHours, pairEn, o.Product)
	case ReasonLate:
		due := d.DeliverBy.UnixNano()
		return fmt.Sprintf("预计 %s 到达，晚于 %s（%s，%s）", refZhTime(e.v.arrival), refZhTimeNear(due, e.v.arrival), pair, d.Destination),
			fmt.Sprintf("would arrive %s, after deliver-by %s (%s)", refEnTime(e.v.arrival), refEnTime(due), pairEn)
	case ReasonGrade:
		return fmt.Sprintf("供应 %s 为 %d 级，需求 %s 只接受 %d 级及以上", o.ID, o.Grade, d.ID, d.MinGrade),
			fmt.Sprintf("offer %s is grade %d, demand %s accepts grade %d or better", o.ID, o.Grade, d.ID, d.MinGrade)
	case ReasonNoCertificate, ReasonCertificateNotYet, ReasonCertificateExpired, ReasonCertificateProduct,
		ReasonInspectionMissing, ReasonInspectionFailed:
		return e.refScheme(code)
	case ReasonCertification:
		missing := missingCerts(o, d, e.skipCert)
		held := "无"
		heldEn := "none"
		if len(o.Certifications) > 0 {
			held = strings.Join(o.Certifications, "、")
			heldEn = strings.Join(o.Certifications, ", ")
		}
		return fmt.Sprintf("需求 %s 要求 %s，供应 %s 持有 %s", d.ID, strings.Join(missing, "、"), o.ID, held),
			fmt.Sprintf("demand %s requires certification %s, offer %s has %s", d.ID, strings.Join(missing, ", "), o.ID, heldEn)
	case ReasonPriceGap:
		var cost Fen
		if e.lane != nil {
			cost = e.lane.CostPerKg
		}
		return fmt.Sprintf("最高价 %s − 最低价 %s − 运费 %s + 补贴 %s = %s 元/公斤，不为正（%s）", d.MaxPricePerKg, o.MinPricePerKg, cost, o.PriorityBonusPerKg, e.v.surplus, pair),
			fmt.Sprintf("max price %s − min price %s − lane cost %s + bonus %s = %s CNY/kg, not positive (%s)", d.MaxPricePerKg, o.MinPricePerKg, cost, o.PriorityBonusPerKg, e.v.surplus, pairEn)
	}
	return code, code
}

func (t *tally) refMessage(p *problem, side string, k int) string {
	n := t.count[k]
	zhNoun, enNoun := "需求", "demand"
	if side == SideDemand {
		zhNoun, enNoun = "供应", "offer"
	}
	if n != 1 {
		enNoun += "s"
	}
	code := codesInOrder[k]
	title := titles[code]
	if code == ReasonCapacity {
		var zh, en []string
		for _, c := range t.top[:t.nTop] {
			id := c.d.d.ID
			if side == SideDemand {
				id = c.o.o.ID
			}
			zh = append(zh, fmt.Sprintf("%s（%s 元/公斤）", id, c.v.surplus))
			en = append(en, fmt.Sprintf("%s (surplus %s CNY/kg)", id, c.v.surplus))
		}
		more, moreEn := "", ""
		if n > t.nTop {
			more, moreEn = "等", " and others"
		}
		if side == SideOffer {
			return fmt.Sprintf("%s（%d 个%s）：可行需求 %s%s已全部满足 / %s (%d %s): the feasible %s %s%s %s already fully served",
				title[0], n, zhNoun, strings.Join(zh, "、"), more, title[1], n, enNoun, enNoun, strings.Join(en, ", "), moreEn, isAre(n))
		}
		return fmt.Sprintf("%s（%d 个%s）：可行供应 %s%s已全部分配 / %s (%d %s): the feasible %s %s%s %s already fully allocated",
			title[0], n, zhNoun, strings.Join(zh, "、"), more, title[1], n, enNoun, enNoun, strings.Join(en, ", "), moreEn, isAre(n))
	}
	c := t.best[k]
	var l *Lane
	if c.lane != nil {
		l = c.lane.l
	}
	ex := example{o: c.o.o, d: c.d.d, lane: l, product: p.product, v: c.v, cover: c.o.cover, skipCert: p.skipCert}
	zh, en := ex.refDetail(code)
	if n == 1 {
		return fmt.Sprintf("%s（1 个%s）：%s / %s (1 %s): %s", title[0], zhNoun, zh, title[1], enNoun, en)
	}
	return fmt.Sprintf("%s（%d 个%s）：例如 %s / %s (%d %s): e.g. %s", title[0], n, zhNoun, zh, title[1], n, enNoun, en)
}

// TestWordingMatchesReference holds the appended sentences to the fmt-based text they replaced: every rule's
// wording for every pair of random instances (times moved by odd seconds and nanoseconds, so that clocks
// with seconds, fractions and Beijing dates across midnight all occur), every tally's sentences on both sides,
// and durations of every shape.
func TestWordingMatchesReference(t *testing.T) {
	for _, ns := range []int64{0, hour, 9*hour + int64(time.Second), 9*hour + 30*int64(time.Minute), 47*hour + 59*int64(time.Minute) + 59*int64(time.Second),
		hour + 500*int64(time.Millisecond), 3*hour + 7*int64(time.Minute) + 1, 100000 * hour} {
		if got, want := string(appendHours(nil, ns)), refHoursText(ns); got != want {
			t.Errorf("hours(%d) = %q, want %q", ns, got, want)
		}
	}
	rng := rand.New(rand.NewPCG(11, 12))
	// Instants over the whole range Validate allows, on whole minutes, whole seconds and with fractions.
	lo, hi := minTime.UnixNano(), maxTime.UnixNano()-1
	for k := range 20000 {
		ns := lo + rng.Int64N(hi-lo)
		switch k % 4 {
		case 0:
			ns -= ns % int64(time.Minute)
		case 1:
			ns -= ns % int64(time.Second)
		case 2:
			ns -= ns % int64(time.Millisecond)
		}
		ref := ns + rng.Int64N(int64(48*time.Hour)) - int64(24*time.Hour)
		if got, want := string(appendZhTime(nil, ns)), refZhTime(ns); got != want {
			t.Fatalf("zh time %d = %q, want %q", ns, got, want)
		}
		if got, want := string(appendEnTime(nil, ns)), refEnTime(ns); got != want {
			t.Fatalf("en time %d = %q, want %q", ns, got, want)
		}
		if got, want := string(appendZhTimeNear(nil, ns, ref)), refZhTimeNear(ns, ref); got != want {
			t.Fatalf("zh time %d near %d = %q, want %q", ns, ref, got, want)
		}
	}
	for _, ns := range []int64{lo, hi, time.Date(2000, 2, 29, 23, 59, 59, 999999999, time.UTC).UnixNano(), time.Date(2100, 3, 1, 0, 0, 0, 1, time.UTC).UnixNano()} {
		if got, want := string(appendZhTime(nil, ns)), refZhTime(ns); got != want {
			t.Errorf("zh time %d = %q, want %q", ns, got, want)
		}
		if got, want := string(appendEnTime(nil, ns)), refEnTime(ns); got != want {
			t.Errorf("en time %d = %q, want %q", ns, got, want)
		}
	}
	compared := map[string]int{}
	defer func() {
		if compared[ReasonCapacity] == 0 {
			t.Error("no tally had a capacity reason")
		}
		for _, r := range ruleOrder {
			if compared[r.code] == 0 {
				t.Errorf("no pair failed %s: the instances do not cover it", r.code)
			}
		}
	}()
	for seed := range uint64(10) {
		in := genInstance(seed, genConfig{Offers: 40, Demands: 40, Products: 2, Origins: 3, Dests: 4, LaneShare: 0.7, MinKg: 1, MaxKg: 900, Coarse: seed%2 == 0, Scheme: seed >= 6})
		for i := range in.Offers {
			if rng.IntN(3) == 0 {
				in.Offers[i].AvailableFrom = in.Offers[i].AvailableFrom.Add(time.Duration(rng.IntN(3600)) * time.Second)
			}
			if rng.IntN(4) == 0 {
				in.Offers[i].HarvestedAt = in.Offers[i].HarvestedAt.Add(-time.Duration(rng.Int64N(int64(time.Hour))))
			}
		}
		for j := range in.Demands {
			if rng.IntN(3) == 0 {
				in.Demands[j].DeliverBy = in.Demands[j].DeliverBy.Add(time.Duration(rng.Int64N(int64(24 * time.Hour))))
			}
		}
		if err := in.Validate(); err != nil {
			t.Fatal(err)
		}
		pr := prepare(in)
		for _, p := range pr.problems {
			for i := range p.offers {
				o := &p.offers[i]
				var to tally
				for j := range p.demands {
					d := &p.demands[j]
					l := pr.lane(o.origin, d.dest)
					var lane *Lane
					if l != nil {
						lane = l.l
					}
					ex := example{o: o.o, d: d.d, lane: lane, product: p.product, v: judge(p.shelf, l, o, d), cover: o.cover, skipCert: p.skipCert}
					for _, r := range ruleOrder {
						if ex.v.fails&r.rule == 0 {
							continue // a rule is only ever worded for a pair that fails it
						}
						compared[r.code]++
						zh, en := ex.refDetail(r.code)
						if got := string(ex.appendZh(nil, r.code)); got != zh {
							t.Errorf("zh %s:\n got %q\nwant %q", r.code, got, zh)
						}
						if got := string(ex.appendEn(nil, r.code)); got != en {
							t.Errorf("en %s:\n got %q\nwant %q", r.code, got, en)
						}
						if got, want := ex.pairMessage(r.code), ex.refPairMessage(r.code); got != want {
							t.Errorf("pair %s:\n got %q\nwant %q", r.code, got, want)
						}
					}
					to.add(p, l, o, d)
				}
				checkTally(t, &to, p, SideOffer, compared)
			}
			for j := range p.demands {
				d := &p.demands[j]
				var td tally
				for i := range p.offers {
					o := &p.offers[i]
					td.add(p, pr.lane(o.origin, d.dest), o, d)
				}
				checkTally(t, &td, p, SideDemand, compared)
			}
		}
	}
}

func checkTally(t *testing.T, tl *tally, p *problem, side string, tallied map[string]int) {
	t.Helper()
	for k := range codesInOrder {
		if tl.count[k] == 0 {
			continue
		}
		tallied[codesInOrder[k]]++
		got, _ := tl.message([]byte("scratch left from before"), p, side, k)
		if want := tl.refMessage(p, side, k); got != want {
			t.Errorf("%s tally %s:\n got %q\nwant %q", side, codesInOrder[k], got, want)
		}
	}
}

func missingCerts(o *Offer, d *Demand, skip string) []string {
	var out []string
	for _, r := range d.RequiredCertifications {
		if skip != "" && r == skip {
			continue
		}
		found := false
		for _, c := range o.Certifications {
			if c == r {
				found = true
				break
			}
		}
		if !found {
			out = append(out, r)
		}
	}
	return out
}

// refScheme words the scheme's rules with fmt, naming the certificate nearest to the delivery day.
func (e example) refScheme(code string) (zh, en string) {
	o, d := e.o, e.d
	day := DateOf(d.DeliverBy)
	near := func(expired bool) certSpan {
		var best certSpan
		found := false
		for _, s := range e.cover.cover {
			switch {
			case expired && s.until < day && (!found || s.until > best.until):
			case !expired && s.from > day && (!found || s.from < best.from):
			default:
				continue
			}
			best, found = s, true
		}
		return best
	}
	switch code {
	case ReasonNoCertificate:
		return fmt.Sprintf("需求 %s 要求菜篮子基地，供应 %s 的基地 %s 没有菜篮子基地证书", d.ID, o.ID, o.Base),
			fmt.Sprintf("demand %s requires a cailanzi base, base %s of offer %s holds no cailanzi base certificate", d.ID, o.Base, o.ID)
	case ReasonCertificateProduct:
		return fmt.Sprintf("基地 %s 的菜篮子基地证书不含 %s（供应 %s，需求 %s）", o.Base, o.Product, o.ID, d.ID),
			fmt.Sprintf("the cailanzi base certificates of base %s do not cover %s (offer %s, demand %s)", o.Base, o.Product, o.ID, d.ID)
	case ReasonCertificateExpired:
		s := near(true)
		return fmt.Sprintf("基地 %s 的菜篮子基地证书 %s 有效期至 %s，早于需求 %s 的交货日 %s（供应 %s）", o.Base, s.c.Number, s.until, d.ID, day, o.ID),
			fmt.Sprintf("cailanzi base certificate %s of base %s was valid until %s, before demand %s's delivery day %s (offer %s)", s.c.Number, o.Base, s.until, d.ID, day, o.ID)
	case ReasonCertificateNotYet:
		s := near(false)
		return fmt.Sprintf("基地 %s 的菜篮子基地证书 %s 自 %s 起生效，晚于需求 %s 的交货日 %s（供应 %s）", o.Base, s.c.Number, s.from, d.ID, day, o.ID),
			fmt.Sprintf("cailanzi base certificate %s of base %s is valid from %s, after demand %s's delivery day %s (offer %s)", s.c.Number, o.Base, s.from, d.ID, day, o.ID)
	case ReasonInspectionMissing:
		if o.Lot == "" {
			return fmt.Sprintf("需求 %s 要求农残检测合格，供应 %s 未注明批次", d.ID, o.ID),
				fmt.Sprintf("demand %s requires a passed residue inspection, offer %s names no lot", d.ID, o.ID)
		}
		return fmt.Sprintf("需求 %s 要求农残检测合格，供应 %s 的批次 %s 没有检测记录", d.ID, o.ID, o.Lot),
			fmt.Sprintf("demand %s requires a passed residue inspection, lot %s of offer %s has none", d.ID, o.Lot, o.ID)
	}
	return fmt.Sprintf("供应 %s 的批次 %s 最近一次农残检测不合格，需求 %s 要求合格", o.ID, o.Lot, d.ID),
		fmt.Sprintf("the latest residue inspection of lot %s (offer %s) failed, demand %s requires a pass", o.Lot, o.ID, d.ID)
}
