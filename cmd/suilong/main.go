// Command suilong is the Suilong platform: the HTTP API and pages, cold-chain ingest with its embedded MQTT
// broker, the 菜篮子 matching, and plan tracking, in one binary with subcommands.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"

	"github.com/suilong/suilong/internal/envfile"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

// CLI is the command line. Config's flags are global; every one also reads a SUILONG_* variable.
type CLI struct {
	Config

	Serve   ServeCmd   `cmd:"" help:"Run the platform: HTTP API and pages, MQTT broker (unless --mqtt-url), ingest."`
	Migrate MigrateCmd `cmd:"" help:"Apply pending database migrations."`
	Demo    DemoCmd    `cmd:"" help:"Load the plan and the demo data (idempotent)."`
	Admin   AdminCmd   `cmd:"" help:"Create organisations, API keys and coordinator accounts."`
	Sim     SimCmd     `cmd:"" help:"Simulate IoT gateways publishing cold-chain readings."`
	Match   MatchCmd   `cmd:"" help:"Solve a matching instance file (what-if runs), without a database."`
	Plan    PlanCmd    `cmd:"" help:"Plan tracking tasks."`
	Version VersionCmd `cmd:"" help:"Print the version."`

	Healthcheck HealthcheckCmd `cmd:"" help:"Exit 0 when a running serve answers /healthz (container health checks)."`
}

// AdminCmd groups account administration.
type AdminCmd struct {
	CreateOrg  CreateOrgCmd  `cmd:"" help:"Create an organisation."`
	CreateKey  CreateKeyCmd  `cmd:"" help:"Issue an API key for an organisation; prints it once."`
	CreateUser CreateUserCmd `cmd:"" help:"Create a coordinator account for the web dashboard."`
}

// VersionCmd prints the version.
type VersionCmd struct{}

// Run prints the version.
func (VersionCmd) Run(g *Globals) error {
	_, err := fmt.Fprintln(g.Stdout, "suilong", version)
	return err
}

func main() {
	// The env file of the checkout fills in what neither flags nor the environment set.
	envPath, envErr := envfile.Load()
	var cli CLI
	kctx := kong.Parse(&cli,
		kong.Name("suilong"),
		kong.Description("Suilong (穗龙): cold chain, 菜篮子 matching and plan tracking for the Guangzhou–Longyan cooperation plan."),
		kong.UsageOnError(),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
	)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	g := newGlobals(ctx, &cli.Config, kctx)
	if envErr != nil {
		g.Log.Warn("could not read env file", "path", envPath, "err", envErr)
	} else if envPath != "" {
		g.Log.Debug("read settings", "path", envPath)
	}
	if err := kctx.Run(g); err != nil {
		g.Log.Error("suilong "+kctx.Command()+" failed", "err", err)
		os.Exit(1)
	}
}
