package main

// MatchCmd solves an instance file.
type MatchCmd struct{}

// Run solves the instance.
func (c *MatchCmd) Run(g *Globals) error { return errNotYet("match") }
