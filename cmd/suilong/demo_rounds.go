package main

import (
	"context"
	"fmt"
	"time"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/matching"
	"github.com/suilong/suilong/trace"
)

// roundsDemo opens a trading round that closes at 18:00 (China time) on the next day at least a day away, with
// an offer of the Jiaoyang co-op in it and a standing demand of the Tianhe canteens that the round's close will
// turn into a demand, so that a new user finds a round to post into and sees it run by itself. It does nothing
// once any round exists.
func roundsDemo(ctx context.Context, m *Main) error {
	s := m.Matching
	staff := auth.Principal{Role: auth.RoleAdmin, OrgName: "suilong demo"}
	if rounds, _, err := s.Rounds(ctx, staff, matching.RoundFilter{Page: matching.Page{Limit: 1}}); err != nil || len(rounds) > 0 {
		return err
	}
	now := time.Now()
	y, mo, d := now.In(trace.CST).Add(24 * time.Hour).Date()
	closes := time.Date(y, mo, d, 18, 0, 0, 0, trace.CST)
	if closes.Sub(now) < 24*time.Hour {
		closes = closes.AddDate(0, 0, 1)
	}
	opens := now.Add(-time.Minute)
	r, err := s.CreateRound(ctx, staff, matching.NewRound{Name: "演示轮次：菜心、芥蓝 / demo round: choy-sum and gai-lan", OpensAt: &opens,
		ClosesAt: &closes, Products: []string{"choy-sum", "gai-lan"}})
	if err != nil {
		return fmt.Errorf("demo round: %w", err)
	}
	principal := func(name string) (auth.Principal, error) {
		o, err := m.Auth.OrgByName(ctx, name)
		return auth.Principal{OrgID: o.ID, OrgName: o.Name, Role: o.Role}, err
	}
	base, err := principal(demoBaseJiaoyang)
	if err != nil {
		return err
	}
	harvest := closes.Add(-6 * time.Hour)
	if _, err := s.CreateOffer(ctx, base, matching.NewOffer{Product: "choy-sum", Grade: 1, QuantityKg: 3000, MinPricePerKg: cny(3.10),
		Origin: "shanghang", HarvestedAt: &harvest, Certifications: []string{"green-food"}, RoundID: &r.ID}); err != nil {
		return fmt.Errorf("demo offer in the round: %w", err)
	}
	canteen, err := principal(demoBuyerCanteen)
	if err != nil {
		return err
	}
	if _, err := s.CreateStandingDemand(ctx, canteen, matching.NewStandingDemand{Product: "choy-sum", MinGrade: 1, QuantityKg: 1200,
		MaxPricePerKg: cny(5.20), Destination: "tianhe-canteens", Note: "每周固定需求 / every week"}); err != nil {
		return fmt.Errorf("demo standing demand: %w", err)
	}
	m.Log.Info("demo trading round", "round", r.ID, "closes_at", r.ClosesAt)
	return nil
}
