package main

import (
	"context"
	"fmt"
	"time"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/matching"
	"github.com/suilong/suilong/trace"
)

func f64(v float64) *float64 { return &v }

// demoProducts are Longyan's produce that goes to Guangzhou, with shelf lives and cold-chain bands after the
// usual handling guidance for each (leafy greens 0–4 °C; passion fruit 7–10 °C; sweet potato 12–16 °C; frozen
// poultry −18 °C or colder).
var demoProducts = []matching.Product{
	{Name: "choy-sum", NameZH: "菜心", ShelfLifeHours: 72, TempMinC: f64(0), TempMaxC: f64(4)},
	{Name: "gai-lan", NameZH: "芥蓝", ShelfLifeHours: 120, TempMinC: f64(0), TempMaxC: f64(4)},
	{Name: "lettuce", NameZH: "生菜", ShelfLifeHours: 72, TempMinC: f64(0), TempMaxC: f64(4)},
	{Name: "shiitake", NameZH: "鲜香菇", ShelfLifeHours: 240, TempMinC: f64(1), TempMaxC: f64(4)},
	{Name: "passion-fruit", NameZH: "百香果", ShelfLifeHours: 336, TempMinC: f64(7), TempMaxC: f64(10)},
	{Name: "sweet-potato", NameZH: "连城红心地瓜", ShelfLifeHours: 720, TempMinC: f64(12), TempMaxC: f64(16)},
	{Name: "hetian-chicken", NameZH: "河田鸡（冰鲜）", ShelfLifeHours: 168, TempMinC: f64(0), TempMaxC: f64(4)},
	{Name: "hetian-chicken-frozen", NameZH: "河田鸡（冷冻）", ShelfLifeHours: 4320, TempMaxC: f64(-18)},
}

// demoCounties are Longyan's seven county-level divisions with the truck hours to central Guangzhou (G25/G76
// by way of Meizhou), and demoMarkets Guangzhou's receiving ends; a lane's cost is a base charge plus a charge per
// hour on the road, in fen per kg.
var demoCounties = []struct {
	slug, name string
	hours      int
}{
	{"xinluo", "新罗区 Xinluo", 7}, {"yongding", "永定区 Yongding", 6}, {"shanghang", "上杭县 Shanghang", 6},
	{"wuping", "武平县 Wuping", 6}, {"changting", "长汀县 Changting", 7}, {"liancheng", "连城县 Liancheng", 8},
	{"zhangping", "漳平市 Zhangping", 8},
}

var demoMarkets = []struct {
	slug, name string
	extraHours int
}{
	{"jiangnan-market", "江南果菜批发市场 Jiangnan fruit & vegetable market", 0},
	{"dongsheng-market", "东升农产品批发市场 Dongsheng farm produce market", 0},
	{"nansha-hub", "南沙“菜篮子”集配中心 Nansha Vegetable Basket hub", 1},
	{"tianhe-canteens", "天河区机关食堂配送中心 Tianhe canteen supply centre", 0},
}

const (
	demoBaseJiaoyang  = "上杭县蛟洋蔬菜专业合作社 Shanghang Jiaoyang vegetable co-op" // also trace's demo base
	demoBaseXiangdong = "武平县象洞蔬菜合作社 Wuping Xiangdong vegetable co-op"
	demoBaseHetian    = "长汀县河田鸡养殖专业合作社 Changting Hetian chicken co-op"
	demoBaseLiancheng = "连城县红心地瓜专业合作社 Liancheng sweet potato co-op"
	demoBaseYongding  = "永定区高山蔬菜基地 Yongding highland vegetable base"
	demoBuyerDongsh   = "广州东升农产品批发市场 Guangzhou Dongsheng market"
	demoBuyerCanteen  = "天河区机关食堂配送中心 Tianhe canteen supply centre"
)

type demoOffer struct {
	base string
	n    matching.NewOffer
	// harvest and available, in hours after the demo's reference morning
	harvestH, availH int
}

type demoDemand struct {
	buyer    string
	n        matching.NewDemand
	deliverH int
}

func cny(v float64) *matching.Fen { f := matching.Fen(v*100 + 0.5); return &f }

// The demo pool: enough to show a run that allocates most kilograms at the optimum and leaves a few for reasons
// a coordinator can read (a demand wanting organic produce nobody offers, a price no base accepts, a far county
// whose lettuce cannot arrive in time).
var (
	demoOffers = []demoOffer{
		{demoBaseJiaoyang, matching.NewOffer{Product: "choy-sum", Grade: 1, QuantityKg: 5000, MinPricePerKg: cny(3.20), Origin: "shanghang",
			Certifications: []string{"green-food", "cailanzi-base"}, Note: "油青甜菜心"}, 0, 2},
		{demoBaseXiangdong, matching.NewOffer{Product: "choy-sum", Grade: 2, QuantityKg: 3000, MinPricePerKg: cny(2.60), Origin: "wuping",
			Certifications: []string{"cailanzi-base"}, Note: "四九菜心"}, 0, 3},
		{demoBaseYongding, matching.NewOffer{Product: "gai-lan", Grade: 1, QuantityKg: 2500, MinPricePerKg: cny(3.50), Origin: "yongding",
			Certifications: []string{"green-food"}}, 1, 3},
		{demoBaseYongding, matching.NewOffer{Product: "lettuce", Grade: 2, QuantityKg: 1800, MinPricePerKg: cny(2.20), Origin: "yongding"}, 1, 2},
		{demoBaseXiangdong, matching.NewOffer{Product: "passion-fruit", Grade: 1, QuantityKg: 4000, MinPricePerKg: cny(6.80), Origin: "wuping",
			Certifications: []string{"geographical-indication"}}, 0, 6},
		{demoBaseLiancheng, matching.NewOffer{Product: "sweet-potato", Grade: 1, QuantityKg: 8000, MinPricePerKg: cny(2.40), Origin: "liancheng",
			Certifications: []string{"geographical-indication", "green-food"}}, -24, 2},
		{demoBaseHetian, matching.NewOffer{Product: "hetian-chicken", Grade: 1, QuantityKg: 1200, MinPricePerKg: cny(38.00), Origin: "changting",
			Certifications: []string{"geographical-indication"}}, 0, 4},
	}
	demoDemands = []demoDemand{
		{demoBuyer, matching.NewDemand{Product: "choy-sum", MinGrade: 2, QuantityKg: 4000, MaxPricePerKg: cny(5.00),
			Destination: "jiangnan-market"}, 22},
		{demoBuyerCanteen, matching.NewDemand{Product: "choy-sum", MinGrade: 1, QuantityKg: 2500, MaxPricePerKg: cny(5.40),
			Destination: "tianhe-canteens", RequiredCertifications: []string{"green-food"}}, 20},
		{demoBuyerDongsh, matching.NewDemand{Product: "choy-sum", MinGrade: 3, QuantityKg: 3000, MaxPricePerKg: cny(4.20),
			Destination: "dongsheng-market"}, 26},
		{demoBuyer, matching.NewDemand{Product: "gai-lan", MinGrade: 1, QuantityKg: 1500, MaxPricePerKg: cny(5.60),
			Destination: "jiangnan-market", RequiredCertifications: []string{"organic"}}, 24},
		{demoBuyerDongsh, matching.NewDemand{Product: "lettuce", MinGrade: 2, QuantityKg: 1000, MaxPricePerKg: cny(4.00),
			Destination: "dongsheng-market"}, 6},
		{demoBuyer, matching.NewDemand{Product: "passion-fruit", MinGrade: 1, QuantityKg: 3000, MaxPricePerKg: cny(9.50),
			Destination: "jiangnan-market"}, 48},
		{demoBuyerCanteen, matching.NewDemand{Product: "sweet-potato", MinGrade: 2, QuantityKg: 5000, MaxPricePerKg: cny(3.80),
			Destination: "tianhe-canteens"}, 48},
		{demoBuyerDongsh, matching.NewDemand{Product: "hetian-chicken", MinGrade: 1, QuantityKg: 800, MaxPricePerKg: cny(36.00),
			Destination: "dongsheng-market"}, 30},
	}
)

// matchingDemo registers the product profiles, the lanes from Longyan's counties to Guangzhou's markets, demo
// bases and buyers with a pool of offers and demands (once), and, when no run exists yet, runs the matching and
// has the Jiaoyang co-op and the Jiangnan market accept their allocation, so that a new user finds a run, its
// explanations and an order. Running it again changes nothing.
func matchingDemo(ctx context.Context, m *Main) error {
	s := m.Matching
	for _, p := range demoProducts {
		if _, err := s.PutProduct(ctx, p); err != nil {
			return fmt.Errorf("product %s: %w", p.Name, err)
		}
	}
	for _, c := range demoCounties {
		for _, m := range demoMarkets {
			h := c.hours + m.extraHours
			cost := matching.Fen(25 + 3*h) // 0.25 CNY/kg + 0.03 per hour on the road
			if _, err := s.PutLane(ctx, matching.NewLane{Origin: c.slug, OriginName: c.name, Destination: m.slug, DestinationName: m.name,
				CostPerKg: &cost, TransitHours: h}); err != nil {
				return fmt.Errorf("lane %s → %s: %w", c.slug, m.slug, err)
			}
		}
	}
	orgs := m.Auth
	principal := func(name string, role auth.Role) (auth.Principal, error) {
		o, err := orgs.OrgByName(ctx, name)
		if errs.Is(err, errs.NotFound) {
			o, err = orgs.CreateOrg(ctx, name, role)
		}
		return auth.Principal{OrgID: o.ID, OrgName: o.Name, Role: o.Role}, err
	}
	jiaoyang, err := principal(demoBaseJiaoyang, auth.RoleBase)
	if err != nil {
		return err
	}
	// The pool is posted once: the Jiaoyang co-op's first offer marks it.
	if mine, _, err := s.Offers(ctx, jiaoyang, matching.Filter{}); err != nil || len(mine) > 0 {
		return err
	}
	y, mo, d := time.Now().In(trace.CST).Date()
	morning := time.Date(y, mo, d, 6, 0, 0, 0, trace.CST)
	at := func(h int) *time.Time { t := morning.Add(time.Duration(h) * time.Hour); return &t }
	for _, o := range demoOffers {
		p, err := principal(o.base, auth.RoleBase)
		if err != nil {
			return err
		}
		o.n.HarvestedAt, o.n.AvailableFrom = at(o.harvestH), at(o.availH)
		if _, err := s.CreateOffer(ctx, p, o.n); err != nil {
			return fmt.Errorf("demo offer of %s: %w", o.base, err)
		}
	}
	for _, dm := range demoDemands {
		p, err := principal(dm.buyer, auth.RoleBuyer)
		if err != nil {
			return err
		}
		dm.n.DeliverBy = at(dm.deliverH)
		if _, err := s.CreateDemand(ctx, p, dm.n); err != nil {
			return fmt.Errorf("demo demand of %s: %w", dm.buyer, err)
		}
	}
	if !m.Cfg.Matching.DemoRun {
		return nil
	}
	staff := auth.Principal{Role: auth.RoleAdmin, OrgName: "suilong demo"}
	if runs, _, err := s.Runs(ctx, staff, matching.Page{Limit: 1}); err != nil || len(runs) > 0 {
		return err
	}
	run, err := s.StartRun(ctx, staff, matching.RunOptions{})
	if err != nil {
		return err
	}
	m.Log.Info("demo matching run", "run", run.ID, "objective_cny", run.Objective.String(), "matched_kg", run.MatchedKg,
		"unmatched", len(run.Unmatched))
	buyer, err := principal(demoBuyer, auth.RoleBuyer)
	if err != nil {
		return err
	}
	for _, al := range run.Allocations {
		if al.BaseOrgID == jiaoyang.OrgID && al.BuyerOrgID == buyer.OrgID {
			if _, _, err := s.Decide(ctx, jiaoyang, al.ID, matching.Accepted); err != nil {
				return err
			}
			if _, _, err := s.Decide(ctx, buyer, al.ID, matching.Accepted); err != nil {
				return err
			}
			break
		}
	}
	return nil
}
