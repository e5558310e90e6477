package main

// MigrateCmd applies pending migrations.
type MigrateCmd struct{}

// Run migrates the database, then loads the data shipped in the binary (the plan's structure), so that a
// migrated database is ready to serve.
func (MigrateCmd) Run(g *Globals) error {
	if _, err := migrateAndLoadPlan(g); err != nil {
		return err
	}
	g.Log.Info("database is up to date")
	return nil
}
