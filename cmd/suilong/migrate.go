package main

import (
	"context"
	"fmt"

	"github.com/suilong/suilong/internal/pg"
)

// MigrateCmd applies pending migrations.
type MigrateCmd struct{}

// afterMigrate runs after `suilong migrate` has applied the migrations, in registration order: areas load the
// data shipped in the binary (the plan's structure), so that a migrated database is ready to serve.
var afterMigrate []func(ctx context.Context, a *App) error

// Run migrates the database.
func (MigrateCmd) Run(g *Globals) error {
	a, err := openMigrated(g)
	if err != nil {
		return err
	}
	defer a.Close()
	for _, hook := range afterMigrate {
		if err := hook(g.Ctx, a); err != nil {
			return err
		}
	}
	g.Log.Info("database is up to date")
	return nil
}

// DemoCmd loads every area's demo data, in wiring order.
type DemoCmd struct{}

// Run loads the demo data. Each area's loader is idempotent, so running it twice changes nothing.
func (DemoCmd) Run(g *Globals) error {
	a, err := openMigrated(g)
	if err != nil {
		return err
	}
	defer a.Close()
	for _, p := range parts {
		if p.Demo == nil {
			continue
		}
		if err := p.Demo(g.Ctx, a); err != nil {
			return fmt.Errorf("%s demo data: %w", p.Name, err)
		}
		g.Log.Info("demo data loaded", "area", p.Name)
	}
	return nil
}

// openMigrated opens the App and applies pending migrations: what every command that writes the database does
// first.
func openMigrated(g *Globals) (*App, error) {
	a, err := openApp(g.Ctx, g)
	if err != nil {
		return nil, err
	}
	if err := pg.Migrate(g.Ctx, a.DB, g.Log); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}
