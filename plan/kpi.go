package plan

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// The KPI sources are the small views of other areas that the plan needs. cmd/suilong plugs in adapters; a
// nil source leaves its KPIs "not measured yet" rather than failing the dashboard.

// MatchingTotals are the 菜篮子 scheme's quantities over a period.
type MatchingTotals struct {
	MatchedKg       int64 // allocated by matching runs
	OrderedKg       int64 // accepted allocations, now orders
	DeliveredKg     int64 // of orders delivered
	Orders          int
	DeliveredOrders int
}

// MatchingSource gives the 菜篮子 matching totals over [from, to).
type MatchingSource interface {
	Totals(ctx context.Context, from, to time.Time) (MatchingTotals, error)
}

// Participants counts the organisations registered on the platform.
type Participants struct {
	Bases  int // produce bases, cooperatives, farmers (role base)
	Buyers int // wholesalers, supermarkets, canteens (role buyer)
}

// ParticipantSource counts registered organisations now.
type ParticipantSource interface {
	Participants(ctx context.Context) (Participants, error)
}

// Compliance counts delivered lots and how their cold chain fared.
type Compliance struct {
	Delivered int // lots received by their buyer in the period
	Assessed  int // of those, lots whose readings have been assessed
	Compliant int // of those, lots kept within their band throughout
}

// ComplianceSource gives the cold-chain compliance of lots delivered in [from, to).
type ComplianceSource interface {
	Compliance(ctx context.Context, from, to time.Time) (Compliance, error)
}

// Assets counts the monitored cold-chain equipment.
type Assets struct {
	Trucks     int
	ColdStores int
	Sensors    int
}

// AssetSource counts registered cold-chain assets now.
type AssetSource interface {
	Assets(ctx context.Context) (Assets, error)
}

// Sources are the KPI sources; any may be nil.
type Sources struct {
	Matching     MatchingSource
	Participants ParticipantSource
	Compliance   ComplianceSource
	Assets       AssetSource
}

// KPIState says whether a KPI has a value.
type KPIState string

// The states.
const (
	Measured    KPIState = "measured"
	NotMeasured KPIState = "not_measured" // no source is wired in yet
	Failed      KPIState = "error"        // the source failed this time
)

// KPI is one indicator measured from the platform itself, attached to the task it serves (and, when the task
// has one, the measure it speaks to).
type KPI struct {
	ID       string    `json:"id"`
	Task     string    `json:"task"`
	Item     string    `json:"item,omitempty"`
	Name     string    `json:"name"`
	NameEN   string    `json:"name_en"`
	Value    *float64  `json:"value"`
	Unit     string    `json:"unit"`
	UnitEN   string    `json:"unit_en"`
	Detail   string    `json:"detail,omitempty"`
	DetailEN string    `json:"detail_en,omitempty"`
	Method   string    `json:"method"`
	MethodEN string    `json:"method_en"`
	State    KPIState  `json:"state"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	// Now is true for counts of what is registered at the moment, which the period does not bound.
	Now bool `json:"current"`
}

// Formatted is the value for display: "12.5", "96 %", or "" when not measured.
func (k KPI) Formatted() string {
	if k.Value == nil {
		return ""
	}
	v := *k.Value
	switch {
	case k.Unit == "%":
		return fmt.Sprintf("%.1f", v)
	case v == float64(int64(v)):
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%.1f", v)
}

// kpiDef is a KPI's fixed part: what it is, which task it serves, how it is computed.
type kpiDef struct {
	id, task, keyword string // keyword finds the task's measure the KPI speaks to
	name, nameEN      string
	unit, unitEN      string
	method, methodEN  string
	now               bool
}

var kpiDefs = []kpiDef{
	{id: "cailanzi_matched_t", task: "T13", keyword: "菜篮子", name: "菜篮子撮合量", nameEN: "Tonnes matched (菜篮子)",
		unit: "吨", unitEN: "t",
		method:   "期内开始的撮合运行把基地供应分配给采购需求的数量之和（千克）÷ 1000；说明中为期内下单（分配被双方接受后形成订单）的吨数。",
		methodEN: "Sum of the kilograms that matching runs started in the period allocated from bases' offers to buyers' demands, ÷ 1000; the detail gives the tonnes of orders placed in the period (allocations both sides accepted)."},
	{id: "cailanzi_delivered_t", task: "T13", keyword: "菜篮子", name: "菜篮子交付量", nameEN: "Tonnes delivered (菜篮子)",
		unit: "吨", unitEN: "t",
		method:   "期内交付（采购方验收）的订单数量之和（千克）÷ 1000；说明中为期内交付订单数 / 期内下单数。",
		methodEN: "Sum of the kilograms of orders delivered (received by the buyer) in the period, ÷ 1000; the detail gives orders delivered / orders placed in the period."},
	{id: "registered_bases", task: "T13", keyword: "菜篮子", name: "注册生产基地", nameEN: "Registered produce bases",
		unit: "家", unitEN: "orgs", now: true,
		method:   "平台上角色为“基地”（base）的机构数（生产基地、合作社、农户），为当前数，不受统计期限制。",
		methodEN: "Organisations registered on the platform with role base (produce bases, co-operatives, farmers); a current count, not bound by the period."},
	{id: "registered_buyers", task: "T13", keyword: "批发市场", name: "注册采购方", nameEN: "Registered buyers",
		unit: "家", unitEN: "orgs", now: true,
		method:   "平台上角色为“采购方”（buyer）的机构数（批发市场、商超、食堂），为当前数。",
		methodEN: "Organisations registered with role buyer (wholesale markets, supermarkets, canteens); a current count."},
	{id: "coldchain_compliance_pct", task: "T4", keyword: "冷链", name: "冷链合规率", nameEN: "Cold-chain compliance of delivered lots",
		unit: "%", unitEN: "%",
		method:   "期内送达的批次中，全程温度记录经评估、始终保持在该产品允许温度带内（无温度偏离）的批次所占百分比：合规批次 ÷ 已评估批次 × 100。",
		methodEN: "Of the lots received by their buyer in the period whose readings have been assessed, the percentage kept inside their product's band for the whole journey (no excursion): compliant ÷ assessed × 100."},
	{id: "coldchain_assets", task: "T4", keyword: "冷链", name: "监测冷链设施", nameEN: "Monitored cold-chain assets",
		unit: "台/座", unitEN: "assets", now: true,
		method:   "在平台冷链登记册中、其传感器读数接入平台监测的冷藏车与冷库数量，为当前数；括号内为登记的传感器数。",
		methodEN: "Reefer trucks and cold stores in the platform's cold-chain registry, whose sensors report to the platform; a current count; in brackets the registered sensors."},
}

// KPIDefinitions lists every KPI with its method and no value, for documentation and the API.
func KPIDefinitions() []KPI {
	out := make([]KPI, len(kpiDefs))
	for i, d := range kpiDefs {
		out[i] = d.kpi(time.Time{}, time.Time{})
	}
	return out
}

func (d kpiDef) kpi(from, to time.Time) KPI {
	return KPI{ID: d.id, Task: d.task, Name: d.name, NameEN: d.nameEN, Unit: d.unit, UnitEN: d.unitEN,
		Method: d.method, MethodEN: d.methodEN, State: NotMeasured, From: from, To: to, Now: d.now}
}

func num(v float64) *float64 { return &v }

func tonnes(kg int64) float64 { return float64(kg) / 1000 }

// Measure measures every KPI over [from, to). A failing source is logged and its KPIs marked failed; the others
// are still measured. p, when not nil, attaches each KPI to the measure of its task that it speaks to.
func (s Sources) Measure(ctx context.Context, from, to time.Time, p *Plan, log *slog.Logger) []KPI {
	if log == nil {
		log = slog.Default()
	}
	out := make([]KPI, len(kpiDefs))
	idx := map[string]int{}
	for i, d := range kpiDefs {
		out[i] = d.kpi(from, to)
		idx[d.id] = i
		if p != nil {
			out[i].Item = measureOf(p, d.task, d.keyword)
		}
	}
	set := func(id string, v float64, detail, detailEN string) {
		k := &out[idx[id]]
		k.Value, k.State, k.Detail, k.DetailEN = num(v), Measured, detail, detailEN
	}
	fail := func(err error, what string, ids ...string) {
		log.WarnContext(ctx, "plan: a KPI source failed", "source", what, "err", err)
		for _, id := range ids {
			out[idx[id]].State = Failed
		}
	}
	if s.Matching != nil {
		if t, err := s.Matching.Totals(ctx, from, to); err != nil {
			fail(err, "matching", "cailanzi_matched_t", "cailanzi_delivered_t")
		} else {
			set("cailanzi_matched_t", tonnes(t.MatchedKg), fmt.Sprintf("期内下单 %.1f 吨", tonnes(t.OrderedKg)),
				fmt.Sprintf("%.1f t ordered in the period", tonnes(t.OrderedKg)))
			set("cailanzi_delivered_t", tonnes(t.DeliveredKg), fmt.Sprintf("交付订单 %d / 下单 %d", t.DeliveredOrders, t.Orders),
				fmt.Sprintf("%d orders delivered, %d placed", t.DeliveredOrders, t.Orders))
		}
	}
	if s.Participants != nil {
		if n, err := s.Participants.Participants(ctx); err != nil {
			fail(err, "organisations", "registered_bases", "registered_buyers")
		} else {
			set("registered_bases", float64(n.Bases), "", "")
			set("registered_buyers", float64(n.Buyers), "", "")
		}
	}
	if s.Compliance != nil {
		if c, err := s.Compliance.Compliance(ctx, from, to); err != nil {
			fail(err, "traceability", "coldchain_compliance_pct")
		} else if c.Assessed > 0 {
			set("coldchain_compliance_pct", 100*float64(c.Compliant)/float64(c.Assessed),
				fmt.Sprintf("合规 %d / 已评估 %d（送达 %d 批）", c.Compliant, c.Assessed, c.Delivered),
				fmt.Sprintf("%d compliant of %d assessed (%d lots delivered)", c.Compliant, c.Assessed, c.Delivered))
		} else {
			k := &out[idx["coldchain_compliance_pct"]]
			k.State = Measured
			k.Detail = fmt.Sprintf("期内无已评估的送达批次（送达 %d 批）", c.Delivered)
			k.DetailEN = fmt.Sprintf("no assessed lots delivered in the period (%d delivered)", c.Delivered)
		}
	}
	if s.Assets != nil {
		if a, err := s.Assets.Assets(ctx); err != nil {
			fail(err, "ingest", "coldchain_assets")
		} else {
			set("coldchain_assets", float64(a.Trucks+a.ColdStores),
				fmt.Sprintf("冷藏车 %d 台、冷库 %d 座，传感器 %d 个", a.Trucks, a.ColdStores, a.Sensors),
				fmt.Sprintf("%d trucks, %d cold stores, %d sensors", a.Trucks, a.ColdStores, a.Sensors))
		}
	}
	return out
}

// measureOf finds the first measure of a task whose text has the keyword: the cold-chain paragraph of task 4
// (T4.6), the 菜篮子 paragraph of task 13. Searching the text keeps the attachment right if the plan's data is
// renumbered.
func measureOf(p *Plan, task, keyword string) string {
	t, ok := p.Item(task)
	if !ok {
		return ""
	}
	for _, c := range t.Children {
		if strings.Contains(c.Text, keyword) {
			return c.Code
		}
	}
	return ""
}

// KPIsOf returns the KPIs attached to an item: to the task itself or, for a measure, the ones that speak to it;
// for a domain, those of its tasks.
func KPIsOf(kpis []KPI, p *Plan, it *Item) []KPI {
	var out []KPI
	for _, k := range kpis {
		switch {
		case k.Task == it.Code, k.Item != "" && k.Item == it.Code:
			out = append(out, k)
		default:
			if t, ok := p.Item(k.Task); ok && t.Parent == it.Code {
				out = append(out, k)
			}
		}
	}
	return out
}
