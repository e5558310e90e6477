package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/suilong/suilong/internal/auth"
)

// CreateOrgCmd creates an organisation.
type CreateOrgCmd struct {
	Name string    `required:"" help:"Organisation name (unique)."`
	Role auth.Role `required:"" enum:"admin,coordinator,base,buyer,gateway,carrier" help:"Role: admin, coordinator, base, buyer, gateway or carrier (a logistics company running trucks and cold stores)."`
}

// Run creates the organisation.
func (c *CreateOrgCmd) Run(g *Globals) error {
	m, err := openCommand(g, false)
	if err != nil {
		return err
	}
	defer m.Close()
	o, err := m.Auth.CreateOrg(g.Ctx, c.Name, c.Role)
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
	m, err := openCommand(g, false)
	if err != nil {
		return err
	}
	defer m.Close()
	o, err := m.Auth.OrgByName(g.Ctx, c.Org)
	if err != nil {
		return err
	}
	key, info, err := m.Auth.CreateKey(g.Ctx, o.ID, c.Label)
	if err != nil {
		return err
	}
	g.Log.Info("API key created; it is printed once and cannot be shown again", "org", o.Name, "key_id", info.ID, "prefix", info.Prefix)
	_, err = fmt.Fprintln(g.Stdout, key)
	return err
}

// CreateUserCmd creates a web account.
type CreateUserCmd struct {
	Org         string    `required:"" help:"Organisation name (an organisation with role coordinator, admin, carrier, base or buyer)."`
	Name        string    `required:"" help:"Username to sign in with (letters, digits, '.', '_', '-'; case-insensitive)."`
	City        auth.City `required:"" enum:"guangzhou,longyan" help:"The person's city: guangzhou or longyan."`
	DisplayName string    `help:"Name shown on the dashboard, e.g. 陈伟."`
}

// Run creates the account. The password comes from SUILONG_ADMIN_PASSWORD or, when that is unset, from the
// first line of standard input, never from a flag (flags show in the process list and the shell's history).
func (c *CreateUserCmd) Run(g *Globals) error {
	pw, err := readPassword(g.Stdin)
	if err != nil {
		return err
	}
	m, err := openCommand(g, false)
	if err != nil {
		return err
	}
	defer m.Close()
	o, err := m.Auth.OrgByName(g.Ctx, c.Org)
	if err != nil {
		return err
	}
	u, err := m.Auth.CreateUser(g.Ctx, auth.NewUser{OrgID: o.ID, Username: c.Name, DisplayName: c.DisplayName, City: c.City, Password: pw})
	if err != nil {
		return err
	}
	g.Log.Info("dashboard account created", "user", u.Username, "org", u.OrgName, "city", u.City)
	_, err = fmt.Fprintf(g.Stdout, "created user %q (%s, %s) of %q; sign in at %s/login\n", u.Username, u.Role, u.City.ZH(), u.OrgName,
		strings.TrimSuffix(g.Cfg.PublicBaseURL, "/"))
	return err
}

func readPassword(stdin io.Reader) (string, error) {
	if pw, ok := os.LookupEnv("SUILONG_ADMIN_PASSWORD"); ok {
		return pw, nil
	}
	if stdin == nil {
		return "", errors.New("set SUILONG_ADMIN_PASSWORD or give the password on standard input")
	}
	if f, ok := stdin.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			fmt.Fprint(os.Stderr, "Password (it will be shown as you type; prefer SUILONG_ADMIN_PASSWORD or a pipe): ")
		}
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password from standard input: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password: set SUILONG_ADMIN_PASSWORD or give it on the first line of standard input")
	}
	return line, nil
}
