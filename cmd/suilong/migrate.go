package main

import "fmt"

// MigrateCmd applies pending migrations.
type MigrateCmd struct{}

// Run migrates the database, then loads the data shipped in the binary (the plan's structure), so that a
// migrated database is ready to serve.
func (MigrateCmd) Run(g *Globals) error {
	m, err := openCommand(g, true)
	if err != nil {
		return err
	}
	defer m.Close()
	res, err := m.Plan.Load(g.Ctx)
	if err != nil {
		return fmt.Errorf("load the plan: %w", err)
	}
	g.Log.Info("plan loaded", "added", res.Added, "changed", res.Changed, "retired", res.Retired, "unchanged", res.Unchanged)
	g.Log.Info("database is up to date")
	return nil
}
