package main

import (
	"context"
	"fmt"

	"github.com/suilong/suilong/ingest/sim"
)

// DemoCmd loads every area's demo data.
type DemoCmd struct{}

// demos load the demo data of each area in order: matching first (the products are everyone's) with a trading
// round, then ingest's fleet, trace's lots on it, the scheme's certificates and an inspection (of matching's bases
// and trace's lots), the plan, the market pages' people. Each is idempotent, so running the command twice changes
// nothing.
var demos = []struct {
	area string
	load func(ctx context.Context, m *Main) error
}{
	{"matching", matchingDemo},
	{"rounds", roundsDemo},
	{"ingest", func(ctx context.Context, m *Main) error { return sim.Ensure(ctx, m.IngestStore, sim.Demo) }},
	{"trace", traceDemo},
	{"scheme", schemeDemo},
	{"plan", planDemo},
	{"market", marketDemo},
}

// Run loads the demo data.
func (DemoCmd) Run(g *Globals) error {
	m, err := openCommand(g, true)
	if err != nil {
		return err
	}
	defer m.Close()
	for _, d := range demos {
		if err := d.load(g.Ctx, m); err != nil {
			return fmt.Errorf("%s demo data: %w", d.area, err)
		}
		g.Log.Info("demo data loaded", "area", d.area)
	}
	return nil
}
