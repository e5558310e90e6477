package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/suilong/suilong/api"
	"github.com/suilong/suilong/ingest/mqttsub"
	"github.com/suilong/suilong/internal/broker"
	"github.com/suilong/suilong/internal/pg"
)

// ServeCmd runs the platform.
type ServeCmd struct {
	Only         []string      `help:"Run only these parts (comma-separated: api, matching, ingest, trace, plan); default all. E.g. --only ingest for extra ingest workers on a shared subscription." env:"SUILONG_ONLY"`
	Sim          bool          `help:"Also run the gateway simulator against the demo gateways, so readings keep arriving (make run)." env:"SUILONG_SIM"`
	NoMigrate    bool          `help:"Do not apply migrations at start." env:"SUILONG_NO_MIGRATE"`
	DrainTimeout time.Duration `default:"20s" help:"How long a stop may take: HTTP requests drain and ingest makes durable what it took, at the same time (what is not durable by then stays unacknowledged at the broker)." env:"SUILONG_DRAIN_TIMEOUT"`

	// ready, when set, receives the HTTP address once the server listens (tests).
	ready chan<- string
}

func (s *ServeCmd) enabled(name string) bool {
	return len(s.Only) == 0 || slices.Contains(s.Only, name)
}

// Run serves until SIGINT or SIGTERM, then shuts down in order: HTTP drains, background work stops, the broker
// closes, connections close.
func (s *ServeCmd) Run(g *Globals) error {
	for _, o := range s.Only {
		if o != "api" && partOrder[o] == 0 {
			return fmt.Errorf("--only %q: %w (api, matching, ingest, trace, plan)", o, errNoPart)
		}
	}
	g.logConfig()
	ctx := g.Ctx
	a, err := openApp(ctx, g)
	if err != nil {
		return err
	}
	defer a.Close()
	a.DrainTimeout = s.DrainTimeout
	if !s.NoMigrate {
		if err := pg.Migrate(ctx, a.DB, g.Log); err != nil {
			return err
		}
	}

	if g.Cfg.MQTTURL == "" {
		var hooks []broker.Hook
		for _, p := range parts {
			if p.Hooks != nil {
				h, err := p.Hooks(a)
				if err != nil {
					return fmt.Errorf("%s broker hooks: %w", p.Name, err)
				}
				hooks = append(hooks, h...)
			}
		}
		tc, err := g.Cfg.Broker.serverTLS()
		if err != nil {
			return err
		}
		a.Broker, err = broker.Start(broker.Options{Listen: plainListen(g.Cfg.MQTTListen), TLSListen: g.Cfg.Broker.TLSListen, TLS: tc,
			DataDir: a.DataPath("mqtt"), Hooks: hooks, Logger: g.Log, Limits: g.Cfg.Broker.limits(g.Cfg), Registry: a.Registry})
		if err != nil {
			return err
		}
		g.Log.Info("embedded MQTT broker listening", "addr", a.Broker.Addr(), "tls", a.Broker.TLSAddr())
		for _, p := range parts {
			if p.Absent != nil && !s.enabled(p.Name) {
				p.Absent(a)
			}
		}
	}

	mods, err := a.modules(s.enabled)
	if err != nil {
		return err
	}
	mods = append([]api.Module{a.web()}, mods...)

	runCtx, stopRuns := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRuns()
	var wg sync.WaitGroup
	errc := make(chan error, len(parts)+1)
	for _, p := range parts {
		if p.Run != nil && s.enabled(p.Name) {
			wg.Go(func() {
				if err := p.Run(runCtx, a); err != nil && runCtx.Err() == nil {
					errc <- fmt.Errorf("%s: %w", p.Name, err)
				}
			})
		}
		if p.Sim != nil && s.Sim {
			wg.Go(func() {
				if err := p.Sim(runCtx, a); err != nil && runCtx.Err() == nil {
					g.Log.Error("simulator stopped", "err", err)
				}
			})
		}
	}

	for _, p := range g.Cfg.TrustedProxies {
		if net.ParseIP(p) == nil {
			if _, _, err := net.ParseCIDR(p); err != nil {
				stopRuns()
				wg.Wait()
				return fmt.Errorf("--trusted-proxies: %q is neither an address nor a CIDR", p)
			}
		}
	}
	srv := api.New(api.Options{
		Addr: g.Cfg.HTTPAddr, Logger: g.Log, Auth: a.Auth, Checks: a.checks(), Modules: mods,
		Registry: a.Registry, Version: version, DrainTimeout: s.DrainTimeout, TrustedProxies: g.Cfg.TrustedProxies,
	})
	addr, err := srv.Listen()
	if err != nil {
		stopRuns()
		wg.Wait()
		return fmt.Errorf("http listen on %s: %w", g.Cfg.HTTPAddr, err)
	}
	g.Log.Info("suilong serving", "http", "http://"+addr.String(), "mqtt", a.MQTTURL(), "version", version)
	if s.ready != nil {
		s.ready <- addr.String()
	}

	httpCtx, stopHTTP := context.WithCancel(ctx)
	defer stopHTTP()
	// A stop drains HTTP and stops the background parts at the same time, so the whole stop fits in the drain
	// timeout.
	go func() {
		<-httpCtx.Done()
		stopRuns()
	}()
	go func() {
		select {
		case err := <-errc:
			g.Log.Error("background part failed; shutting down", "err", err)
			errc <- err
			stopHTTP()
		case <-httpCtx.Done():
		}
	}()
	serveErr := srv.Serve(httpCtx)
	g.Log.Info("stopping background work")
	stopRuns()
	wg.Wait()
	select {
	case err := <-errc:
		if serveErr == nil {
			serveErr = err
		}
	default:
	}
	g.Log.Info("suilong stopped")
	return serveErr
}

// pingTCP checks that an external broker accepts connections.
func pingTCP(ctx context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return fmt.Errorf("bad MQTT URL %q", rawURL)
	}
	host := u.Host
	if u.Port() == "" {
		port := "1883"
		if mqttsub.IsTLS(rawURL) {
			port = "8883"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return err
	}
	return c.Close()
}

// modules builds the HTTP modules of the enabled parts.
func (a *App) modules(enabled func(string) bool) ([]api.Module, error) {
	var mods []api.Module
	for _, p := range parts {
		if p.Module != nil && enabled(p.Name) {
			m, err := p.Module(a)
			if err != nil {
				return nil, fmt.Errorf("%s routes: %w", p.Name, err)
			}
			mods = append(mods, m)
		}
	}
	return mods, nil
}
