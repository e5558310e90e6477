package main

import (
	"fmt"

	"github.com/suilong/suilong/plan"
)

// PlanCmd groups plan tasks.
type PlanCmd struct {
	Load PlanLoadCmd `cmd:"" help:"Load or refresh the plan's structure from the data shipped in this binary (idempotent; coordinators' work is kept)."`
}

// PlanLoadCmd loads the plan.
type PlanLoadCmd struct{}

// Run applies pending migrations (the plan's tables may be new) and loads the plan.
func (PlanLoadCmd) Run(g *Globals) error {
	res, err := migrateAndLoadPlan(g)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(g.Stdout, "plan: %d added, %d changed, %d retired, %d unchanged\n", res.Added, res.Changed, res.Retired, res.Unchanged)
	return err
}

// migrateAndLoadPlan applies pending migrations and loads the plan's structure shipped in the binary.
func migrateAndLoadPlan(g *Globals) (plan.LoadResult, error) {
	m, err := openCommand(g, true)
	if err != nil {
		return plan.LoadResult{}, err
	}
	defer m.Close()
	res, err := m.Plan.Load(g.Ctx)
	if err != nil {
		return res, fmt.Errorf("load the plan: %w", err)
	}
	g.Log.Info("plan loaded", "added", res.Added, "changed", res.Changed, "retired", res.Retired, "unchanged", res.Unchanged)
	return res, nil
}
