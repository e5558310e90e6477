package main

import (
	"context"
	"fmt"
	"time"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/matching"
	"github.com/suilong/suilong/matching/solve"
	"github.com/suilong/suilong/trace"
)

// demoCertificates are the demo bases' 菜篮子 certificates, valid for days from the first `suilong demo`:
// Xiangdong's ends within the month, so that the coordinators' and the base's pages have one to warn of.
var demoCertificates = []struct {
	base, number string
	products     []string
	days         int
}{
	{demoBaseJiaoyang, "GZCLZ-2026-0031", []string{"choy-sum", "gai-lan"}, 300},
	{demoBaseXiangdong, "GZCLZ-2025-0107", []string{"choy-sum", "passion-fruit"}, 12},
	{demoBaseYongding, "GZCLZ-2026-0088", []string{"gai-lan", "lettuce"}, 200},
}

// schemeDemo gives the demo bases their certificates and the first demo lot a passed 农残检测, once each.
func schemeDemo(ctx context.Context, m *Main) error {
	staff := auth.Principal{Role: auth.RoleAdmin, OrgName: "suilong demo"}
	today := solve.DateOf(time.Now())
	for _, c := range demoCertificates {
		o, err := m.Auth.OrgByName(ctx, c.base)
		if err != nil {
			return fmt.Errorf("demo certificate of %s (matching's demo creates the base): %w", c.base, err)
		}
		from, until := today-365+matching.Day(c.days), today+matching.Day(c.days)
		_, err = m.Matching.CreateCertificate(ctx, staff, o.ID, matching.NewCertificate{Number: c.number, Products: c.products,
			ValidFrom: &from, ValidUntil: &until, Issuer: "广州市农业农村局 Guangzhou Agriculture and Rural Affairs Bureau"})
		if err != nil && !errs.Is(err, errs.Conflict) { // Conflict: recorded by an earlier run
			return fmt.Errorf("demo certificate %s: %w", c.number, err)
		}
	}
	lot, err := m.Trace.Store.LotByCode(ctx, demoLots[0].code)
	if err != nil {
		return fmt.Errorf("demo inspection (trace's demo registers the lot): %w", err)
	}
	tested := trace.DateOnly{Time: lot.HarvestedAt.In(trace.CST)}
	_, err = m.Trace.Store.AddInspection(ctx, lot.ID, trace.NewInspection{Result: trace.InspectionPass,
		Lab: "龙岩市农产品质量安全检验检测中心 Longyan agricultural product quality testing centre", TestedOn: &tested,
		ReportNumber: "LYJC-DEMO-0001", Note: "有机磷、氨基甲酸酯类农药残留快速检测：未检出"}, 0, "suilong demo")
	if err != nil && !errs.Is(err, errs.Conflict) {
		return fmt.Errorf("demo inspection: %w", err)
	}
	return nil
}
