package solve

import (
	"fmt"
	"slices"
	"strconv"
	"time"
)

// The sentences of the explanations, appended to a byte buffer: a pool of 30,000 × 30,000 explains tens of
// thousands of records with several reasons each, and fmt.Sprintf took most of the time of explaining them.
// TestWordingMatchesReference holds these functions to the text of the fmt-based originals.

// The instants in the sentences are written by hand rather than with time.Format: a large pool words
// hundreds of thousands of them. civil gives the calendar fields of Unix nanoseconds ns shifted by off
// seconds (Validate keeps times in 2000–2199, where ns is positive).
type civil struct {
	year, month, day, hour, min, sec, nsec int64
}

func civilOf(ns int64, off int64) civil {
	secs := ns/1e9 + off
	c := civil{nsec: ns % 1e9}
	days := secs / 86400
	rest := secs % 86400
	c.hour, c.min, c.sec = rest/3600, rest%3600/60, rest%60
	// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant, "chrono-Compatible Low-Level Date
	// Algorithms").
	z := days + 719468
	era := z / 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	c.day = doy - (153*mp+2)/5 + 1
	c.month = mp + 3
	if c.month > 12 {
		c.month -= 12
	}
	c.year = yoe + era*400
	if c.month <= 2 {
		c.year++
	}
	return c
}

// appendDate writes 2006-01-02 followed by sep.
func (c civil) appendDate(b []byte, sep byte) []byte {
	b = strconv.AppendInt(b, c.year, 10)
	b = append2(append(b, '-'), c.month)
	return append(append2(append(b, '-'), c.day), sep)
}

// appendClock writes the time of day, with seconds only when there are any: a second can decide a rule.
// It is time.Format's "15:04" or "15:04:05.999999999".
func (c civil) appendClock(b []byte) []byte {
	b = append2(append(append2(b, c.hour), ':'), c.min)
	if c.sec == 0 && c.nsec == 0 {
		return b
	}
	b = append2(append(b, ':'), c.sec)
	if c.nsec == 0 {
		return b
	}
	var frac [9]byte
	n := c.nsec
	for k := 8; k >= 0; k-- {
		frac[k] = byte('0' + n%10)
		n /= 10
	}
	end := 9
	for frac[end-1] == '0' {
		end--
	}
	return append(append(b, '.'), frac[:end]...)
}

const beijingOffset = 8 * 3600 // seconds; China has no daylight saving time

func appendZhTime(b []byte, ns int64) []byte {
	c := civilOf(ns, beijingOffset)
	return c.appendClock(c.appendDate(b, ' '))
}

// appendZhTimeNear writes t, dropping the date when it is the same Beijing day as ref.
func appendZhTimeNear(b []byte, ns, ref int64) []byte {
	t, r := civilOf(ns, beijingOffset), civilOf(ref, beijingOffset)
	if t.year == r.year && t.month == r.month && t.day == r.day {
		return t.appendClock(b)
	}
	return t.appendClock(t.appendDate(b, ' '))
}

func appendEnTime(b []byte, ns int64) []byte {
	c := civilOf(ns, 0)
	return append(c.appendClock(c.appendDate(b, 'T')), 'Z')
}

// appendHours writes a duration in hours, exactly: minutes and seconds appear when they are not zero, so
// that "9h00m01s" is not shown as a misleading "9h".
func appendHours(b []byte, ns int64) []byte {
	h := ns / hour
	rest := time.Duration(ns % hour)
	m, sec := int64(rest/time.Minute), rest%time.Minute
	switch {
	case sec%time.Second != 0:
		return fmt.Appendf(b, "%dh%02dm%gs", h, m, sec.Seconds())
	case sec != 0:
		b = append2(append(append2(append(strconv.AppendInt(b, h, 10), 'h'), m), 'm'), int64(sec/time.Second))
		return append(b, 's')
	case m != 0:
		return append(append2(append(strconv.AppendInt(b, h, 10), 'h'), m), 'm')
	}
	return append(strconv.AppendInt(b, h, 10), 'h')
}

// append2 writes n, 0–99, in two digits.
func append2(b []byte, n int64) []byte { return append(b, byte('0'+n/10), byte('0'+n%10)) }

func appendInt(b []byte, n int) []byte { return strconv.AppendInt(b, int64(n), 10) }

func appendJoin(b []byte, items []string, sep string) []byte {
	for i, s := range items {
		if i > 0 {
			b = append(b, sep...)
		}
		b = append(b, s...)
	}
	return b
}

// appendMissing writes the certifications d requires and o lacks, in d's order (missingCerts, without a list),
// but for skip, which the base certificates judge when the instance lists them.
func appendMissing(b []byte, o *Offer, d *Demand, sep, skip string) []byte {
	n := 0
	for _, r := range d.RequiredCertifications {
		if !slices.Contains(o.Certifications, r) && (r != skip || skip == "") {
			if n > 0 {
				b = append(b, sep...)
			}
			b = append(b, r...)
			n++
		}
	}
	return b
}

// pairMessage is the sentence for one pair and one rule, e.g. "晚于交货期限：预计 … 到达，晚于 12:00 / late:
// would arrive …, after deliver-by … (offer o1 from xinluo, demand d7 at jiangnan-market)".
func (e example) pairMessage(code string) string {
	t := titles[code]
	b := append([]byte(t[0]), "："...)
	b = e.appendZh(b, code)
	b = append(append(append(b, " / "...), t[1]...), ": "...)
	return string(e.appendEn(b, code))
}

func (e example) appendZhPair(b []byte) []byte {
	return append(append(append(append(b, "供应 "...), e.o.ID...), "，需求 "...), e.d.ID...)
}

func (e example) appendEnPair(b []byte) []byte {
	b = append(append(append(b, "offer "...), e.o.ID...), " from "...)
	b = append(append(append(b, e.o.Origin...), ", demand "...), e.d.ID...)
	return append(append(b, " at "...), e.d.Destination...)
}

func (e example) laneCost() Fen {
	if e.lane != nil {
		return e.lane.CostPerKg
	}
	return 0
}

// appendZh words one rule for this pair in Chinese, naming the figures.
func (e example) appendZh(b []byte, code string) []byte {
	o, d := e.o, e.d
	switch code {
	case ReasonNoLane:
		b = append(append(append(append(b, "没有从 "...), o.Origin...), " 到 "...), d.Destination...)
		return append(e.appendZhPair(append(b, " 的线路（"...)), "）"...)
	case ReasonShelfLife:
		b = append(appendZhTime(append(b, "预计 "...), e.v.arrival), " 到达，距采收 "...)
		b = append(appendHours(b, e.v.arrival-o.HarvestedAt.UnixNano()), "，超过保质期 "...)
		b = append(appendInt(b, e.product.ShelfLifeHours), "h（"...)
		return append(append(append(e.appendZhPair(b), "，"...), o.Product...), "）"...)
	case ReasonLate:
		b = append(appendZhTime(append(b, "预计 "...), e.v.arrival), " 到达，晚于 "...)
		b = append(appendZhTimeNear(b, d.DeliverBy.UnixNano(), e.v.arrival), "（"...)
		return append(append(append(e.appendZhPair(b), "，"...), d.Destination...), "）"...)
	case ReasonGrade:
		b = append(append(append(b, "供应 "...), o.ID...), " 为 "...)
		b = append(append(append(appendInt(b, o.Grade), " 级，需求 "...), d.ID...), " 只接受 "...)
		return append(appendInt(b, d.MinGrade), " 级及以上"...)
	case ReasonCertification:
		b = append(append(append(b, "需求 "...), d.ID...), " 要求 "...)
		b = append(append(append(appendMissing(b, o, d, "、", e.skipCert), "，供应 "...), o.ID...), " 持有 "...)
		if len(o.Certifications) == 0 {
			return append(b, "无"...)
		}
		return appendJoin(b, o.Certifications, "、")
	case ReasonPriceGap:
		b = append(d.MaxPricePerKg.append(append(b, "最高价 "...)), " − 最低价 "...)
		b = append(o.MinPricePerKg.append(b), " − 运费 "...)
		b = append(e.laneCost().append(b), " + 补贴 "...)
		b = append(o.PriorityBonusPerKg.append(b), " = "...)
		b = append(e.v.surplus.append(b), " 元/公斤，不为正（"...)
		return append(e.appendZhPair(b), "）"...)
	case ReasonNoCertificate, ReasonCertificateNotYet, ReasonCertificateExpired, ReasonCertificateProduct,
		ReasonInspectionMissing, ReasonInspectionFailed:
		return e.appendScheme(b, code, true)
	}
	return append(b, code...)
}

// appendEn words one rule for this pair in English, naming the figures.
func (e example) appendEn(b []byte, code string) []byte {
	o, d := e.o, e.d
	switch code {
	case ReasonNoLane:
		b = append(append(append(append(b, "no lane from "...), o.Origin...), " to "...), d.Destination...)
		b = append(append(append(append(b, " (offer "...), o.ID...), ", demand "...), d.ID...)
		return append(b, ')')
	case ReasonShelfLife:
		b = append(appendEnTime(append(b, "would arrive "...), e.v.arrival), ", "...)
		b = append(appendHours(b, e.v.arrival-o.HarvestedAt.UnixNano()), " after harvest, beyond the shelf life of "...)
		b = append(appendInt(b, e.product.ShelfLifeHours), "h ("...)
		return append(append(append(e.appendEnPair(b), ", "...), o.Product...), ')')
	case ReasonLate:
		b = append(appendEnTime(append(b, "would arrive "...), e.v.arrival), ", after deliver-by "...)
		b = append(appendEnTime(b, d.DeliverBy.UnixNano()), " ("...)
		return append(e.appendEnPair(b), ')')
	case ReasonGrade:
		b = append(append(append(b, "offer "...), o.ID...), " is grade "...)
		b = append(append(append(appendInt(b, o.Grade), ", demand "...), d.ID...), " accepts grade "...)
		return append(appendInt(b, d.MinGrade), " or better"...)
	case ReasonCertification:
		b = append(append(append(b, "demand "...), d.ID...), " requires certification "...)
		b = append(append(append(appendMissing(b, o, d, ", ", e.skipCert), ", offer "...), o.ID...), " has "...)
		if len(o.Certifications) == 0 {
			return append(b, "none"...)
		}
		return appendJoin(b, o.Certifications, ", ")
	case ReasonPriceGap:
		b = append(d.MaxPricePerKg.append(append(b, "max price "...)), " − min price "...)
		b = append(o.MinPricePerKg.append(b), " − lane cost "...)
		b = append(e.laneCost().append(b), " + bonus "...)
		b = append(o.PriorityBonusPerKg.append(b), " = "...)
		b = append(e.v.surplus.append(b), " CNY/kg, not positive ("...)
		return append(e.appendEnPair(b), ')')
	case ReasonNoCertificate, ReasonCertificateNotYet, ReasonCertificateExpired, ReasonCertificateProduct,
		ReasonInspectionMissing, ReasonInspectionFailed:
		return e.appendScheme(b, code, false)
	}
	return append(b, code...)
}

// message is the sentence for reason k of one record's tally, e.g. "晚于交货期限（3 个需求）：例如 … / late (3
// demands): e.g. …"; b is scratch space, returned for the next message.
func (t *tally) message(b []byte, p *problem, side string, k int) (string, []byte) {
	b = t.appendMessage(b[:0], p, side, k)
	return string(b), b
}

// appendMessage appends the sentence of message to b.
func (t *tally) appendMessage(b []byte, p *problem, side string, k int) []byte {
	n := t.count[k]
	zhNoun, enNoun := "需求", "demand"
	if side == SideDemand {
		zhNoun, enNoun = "供应", "offer"
	}
	code := codesInOrder[k]
	title := titles[code]
	b = append(append(b, title[0]...), "（"...)
	b = append(append(append(appendInt(b, n), " 个"...), zhNoun...), "）："...)
	head := func(b []byte) []byte {
		b = append(append(append(b, " / "...), title[1]...), " ("...)
		b = append(append(append(appendInt(b, n), ' '), enNoun...), plural(n)...)
		return append(b, "): "...)
	}
	if code == ReasonCapacity {
		feasible, done := "可行需求 ", "已全部满足"
		if side == SideDemand {
			feasible, done = "可行供应 ", "已全部分配"
		}
		b = append(b, feasible...)
		for q, c := range t.top[:t.nTop] {
			if q > 0 {
				b = append(b, "、"...)
			}
			b = c.v.surplus.append(append(append(b, c.partner(side)...), "（"...))
			b = append(b, " 元/公斤）"...)
		}
		if n > t.nTop {
			b = append(b, "等"...)
		}
		b = append(append(append(append(head(append(b, done...)), "the feasible "...), enNoun...), plural(n)...), ' ')
		for q, c := range t.top[:t.nTop] {
			if q > 0 {
				b = append(b, ", "...)
			}
			b = c.v.surplus.append(append(append(b, c.partner(side)...), " (surplus "...))
			b = append(b, " CNY/kg)"...)
		}
		if n > t.nTop {
			b = append(b, " and others"...)
		}
		if side == SideOffer {
			b = append(append(b, ' '), isAre(n)...)
			b = append(b, " already fully served"...)
		} else {
			b = append(append(b, ' '), isAre(n)...)
			b = append(b, " already fully allocated"...)
		}
		return b
	}
	c := t.best[k]
	var l *Lane
	if c.lane != nil {
		l = c.lane.l
	}
	ex := example{o: c.o.o, d: c.d.d, lane: l, product: p.product, v: c.v, cover: c.o.cover, skipCert: p.skipCert}
	if n != 1 {
		b = append(b, "例如 "...)
	}
	b = head(ex.appendZh(b, code))
	if n != 1 {
		b = append(b, "e.g. "...)
	}
	return ex.appendEn(b, code)
}

// partner is the id of the candidate on the other side from side.
func (c *candidate) partner(side string) string {
	if side == SideDemand {
		return c.o.o.ID
	}
	return c.d.d.ID
}

func plural(n int) string {
	if n != 1 {
		return "s"
	}
	return ""
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}
