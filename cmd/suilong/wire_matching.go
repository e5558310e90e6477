package main

// Owned by the matching area: register the matching part here (see app.go's part), fill MatchingConfig,
// implement MatchCmd.

// MatchingConfig is matching's configuration (flags prefixed "matching-", variables SUILONG_MATCHING_*).
type MatchingConfig struct{}

// MatchCmd solves an instance file.
type MatchCmd struct{}

// Run solves the instance.
func (c *MatchCmd) Run(g *Globals) error { return errNotYet("match") }
