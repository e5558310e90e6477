package main

// Owned by the ingest area: register the ingest part here (see app.go's part), fill IngestConfig, implement SimCmd.

// IngestConfig is ingest's configuration (flags prefixed "ingest-", variables SUILONG_INGEST_*).
type IngestConfig struct{}

// SimCmd simulates gateways.
type SimCmd struct{}

// Run runs the simulator.
func (c *SimCmd) Run(g *Globals) error { return errNotYet("sim") }
