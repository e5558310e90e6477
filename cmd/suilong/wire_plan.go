package main

// Owned by the plan area: register the plan part here (see app.go's part), fill PlanConfig, implement PlanCmd
// and CreateUserCmd.

// PlanConfig is plan tracking's configuration (flags prefixed "plan-", variables SUILONG_PLAN_*).
type PlanConfig struct{}

// PlanCmd groups plan tasks.
type PlanCmd struct{}

// Run runs a plan task.
func (c *PlanCmd) Run(g *Globals) error { return errNotYet("plan") }

// CreateUserCmd creates a coordinator account.
type CreateUserCmd struct{}

// Run creates the account.
func (c *CreateUserCmd) Run(g *Globals) error { return errNotYet("admin create-user") }
