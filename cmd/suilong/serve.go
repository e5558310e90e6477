package main

import "time"

// ServeCmd runs the platform.
type ServeCmd struct {
	Only         []string      `help:"Run only these parts (comma-separated: api, matching, ingest, trace, plan, ops); default all. api serves every area's HTTP routes; ingest runs the pipeline, e.g. --only ingest for extra ingest workers on a shared subscription." env:"SUILONG_ONLY"`
	Sim          bool          `help:"Also run the gateway simulator against the demo gateways, so readings keep arriving (make run)." env:"SUILONG_SIM"`
	NoMigrate    bool          `help:"Do not apply migrations at start." env:"SUILONG_NO_MIGRATE"`
	DrainTimeout time.Duration `default:"20s" help:"How long a stop may take: HTTP requests drain and ingest makes durable what it took, at the same time (what is not durable by then stays unacknowledged at the broker)." env:"SUILONG_DRAIN_TIMEOUT"`
}

// Run serves until SIGINT or SIGTERM.
func (s *ServeCmd) Run(g *Globals) error {
	g.logConfig()
	m := NewMain(g.Cfg, g.Log, Options{Only: s.Only, Sim: s.Sim, NoMigrate: s.NoMigrate, DrainTimeout: s.DrainTimeout})
	defer m.Close()
	if err := m.Open(g.Ctx); err != nil {
		return err
	}
	return m.Run(g.Ctx)
}
