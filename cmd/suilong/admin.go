package main

import (
	"fmt"

	"github.com/suilong/suilong/internal/auth"
)

// CreateOrgCmd creates an organisation.
type CreateOrgCmd struct {
	Name string    `required:"" help:"Organisation name (unique)."`
	Role auth.Role `required:"" enum:"admin,coordinator,base,buyer,gateway" help:"Role: admin, coordinator, base, buyer or gateway."`
}

// Run creates the organisation.
func (c *CreateOrgCmd) Run(g *Globals) error {
	a, err := openApp(g.Ctx, g)
	if err != nil {
		return err
	}
	defer a.Close()
	o, err := a.Auth.CreateOrg(g.Ctx, c.Name, c.Role)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(g.Stdout, "created organisation %d %q (%s)\n", o.ID, o.Name, o.Role)
	return err
}

// CreateKeyCmd issues an API key.
type CreateKeyCmd struct {
	Org   string `required:"" help:"Organisation name."`
	Label string `help:"What the key is for (shown in key lists)."`
}

// Run prints the new key on stdout, alone on its line, so that scripts can capture it; it is never shown again.
func (c *CreateKeyCmd) Run(g *Globals) error {
	a, err := openApp(g.Ctx, g)
	if err != nil {
		return err
	}
	defer a.Close()
	o, err := a.Auth.OrgByName(g.Ctx, c.Org)
	if err != nil {
		return err
	}
	key, info, err := a.Auth.CreateKey(g.Ctx, o.ID, c.Label)
	if err != nil {
		return err
	}
	g.Log.Info("API key created; it is printed once and cannot be shown again", "org", o.Name, "key_id", info.ID, "prefix", info.Prefix)
	_, err = fmt.Fprintln(g.Stdout, key)
	return err
}
