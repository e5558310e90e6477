package main

// ServeCmd runs the platform.
type ServeCmd struct {
	Options `embed:""`
}

// Run serves until SIGINT or SIGTERM.
func (s *ServeCmd) Run(g *Globals) error {
	g.logConfig()
	m := NewMain(g.Cfg, g.Log, s.Options)
	defer m.Close()
	if err := m.Open(g.Ctx); err != nil {
		return err
	}
	return m.Run(g.Ctx)
}
