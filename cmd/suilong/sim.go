package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/suilong/suilong/ingest/sim"
)

type simOptions struct {
	Gateways []string
	Interval time.Duration
	Batch    bool
	Duration time.Duration
	Backfill time.Duration
	Faults   sim.Faults
	// passwordsReset is called once the simulated gateways have new passwords.
	passwordsReset func()
}

// runSim drives the simulated gateways of the registry (the demo fleet, or what `suilong sim --register`
// added) against the platform's broker.
func (m *Main) runSim(ctx context.Context, o simOptions) error {
	store := m.IngestStore
	gws, err := sim.Registered(ctx, store, o.Gateways...)
	if err != nil {
		return err
	}
	if len(gws) == 0 {
		return errNoSimGateways
	}
	if o.passwordsReset != nil {
		o.passwordsReset()
	}
	if m.Cfg.MQTTURL != "" && m.Broker == nil {
		m.Log.Info("sim: publishing to the external broker", "url", m.Cfg.MQTTURL)
	}
	n := 0
	for _, g := range gws {
		n += len(g.Sensors)
	}
	m.Log.Info("sim: starting", "gateways", len(gws), "sensors", n, "interval", o.Interval, "backfill", o.Backfill, "broker", m.MQTTURL())
	tc, err := m.Cfg.Broker.clientTLS()
	if err != nil {
		return err
	}
	st, err := sim.Run(ctx, sim.Options{URL: m.MQTTURL(), TLS: tc, Gateways: gws, Interval: o.Interval, Batch: o.Batch, Duration: o.Duration,
		Backfill: o.Backfill, Faults: o.Faults, Log: m.Log.With("area", "sim"), Seed: uint64(time.Now().UnixNano())})
	m.Log.Info("sim: done", "messages", st.Messages, "readings", st.Readings, "malformed", st.Malformed)
	return err
}

// SimCmd simulates gateways.
type SimCmd struct {
	Register      int           `help:"First register N simulated trucks (SIM-GW-0001…) with --sensors sensors each, if missing." default:"0"`
	Sensors       int           `help:"Sensors per registered simulated truck." default:"4"`
	Gateway       []string      `help:"Simulate only these gateways (default: every simulated gateway: the demo fleet and registered ones)."`
	Interval      time.Duration `help:"Sampling interval of each sensor." default:"30s"`
	Batch         bool          `help:"Send each gateway's readings of one tick in one {\"readings\": [...]} message."`
	Duration      time.Duration `help:"Stop after this long (0: until interrupted)." default:"0"`
	Backfill      time.Duration `help:"First publish this much history, as a gateway catching up." default:"0"`
	Excursion     bool          `help:"Fault: the first truck's first sensor leaves its band 25 minutes of every two hours."`
	DoorOpen      bool          `help:"Fault: the second truck's door stays open 12 minutes of every three hours."`
	MalformedRate float64       `help:"Fault: share of messages replaced by malformed, NaN, out-of-range, unknown or foreign ones." default:"0"`
	ClockSkew     time.Duration `help:"Fault: the last gateway's clock is off by this much." default:"0"`
	SilentGateway bool          `help:"Fault: the last gateway goes silent halfway through (or after 10 minutes)."`
}

// Run runs the simulator against the configured broker (SUILONG_MQTT_URL, or the embedded broker of a running
// `suilong serve` at SUILONG_MQTT_LISTEN).
func (c *SimCmd) Run(g *Globals) error {
	if c.MalformedRate < 0 || c.MalformedRate > 1 || math.IsNaN(c.MalformedRate) {
		return fmt.Errorf("--malformed-rate must be between 0 and 1")
	}
	m, err := openCommand(g, false)
	if err != nil {
		return err
	}
	defer m.Close()
	if c.Register > 0 {
		if err := sim.Ensure(g.Ctx, m.IngestStore, sim.Fleet(c.Register, c.Sensors)); err != nil {
			return err
		}
	}
	err = m.runSim(g.Ctx, simOptions{Gateways: c.Gateway, Interval: c.Interval, Batch: c.Batch, Duration: c.Duration, Backfill: c.Backfill,
		Faults: sim.Faults{Excursion: c.Excursion, DoorOpen: c.DoorOpen, MalformedRate: c.MalformedRate, ClockSkew: c.ClockSkew,
			SilentGateway: c.SilentGateway}})
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
