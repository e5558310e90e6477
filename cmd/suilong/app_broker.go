package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"

	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/ingest/mqttauth"
	"github.com/suilong/suilong/ingest/mqttsub"
	"github.com/suilong/suilong/ingest/worker"
	"github.com/suilong/suilong/internal/broker"
	"github.com/suilong/suilong/internal/pg"
)

// openBroker starts the embedded broker (unless an external one is configured) with the gateways'
// authentication and ingest's hook.
func (m *Main) openBroker() error {
	c := m.Cfg
	if c.MQTTURL != "" {
		tc, err := c.Broker.clientTLS()
		if err != nil {
			return err
		}
		pp := mqttsub.NewPahoPublisher(c.MQTTURL, m.clientID()+"-pub", c.MQTTUsername, c.MQTTPassword, tc)
		m.publisher, m.closePub = pp, pp.Close
		if c.Broker.DynsecUsername != "" {
			if m.dynsec, err = mqttauth.NewDynSec(c.MQTTURL, c.Broker.DynsecUsername, c.Broker.DynsecPassword, m.clientID()+"-dynsec", tc,
				m.Log.With("area", "ingest")); err != nil {
				return err
			}
			m.Ingest.CredentialsChanged = m.keepBrokerInStep
		}
		return nil
	}
	m.gatewayAuth = mqttauth.New(ingest.NewStore(m.ingestDB()), c.MQTTUsername, c.MQTTPassword, m.Log)
	m.source = mqttsub.NewBrokerSource()
	for _, col := range m.source.Collectors() {
		if err := m.Registry.Register(col); err != nil {
			return err
		}
	}
	tc, err := c.Broker.serverTLS()
	if err != nil {
		return err
	}
	m.Broker, err = broker.Start(broker.Options{Listen: plainListen(c.MQTTListen), TLSListen: c.Broker.TLSListen, TLS: tc,
		DataDir: filepath.Join(c.DataDir, "mqtt"), Hooks: []broker.Hook{{Hook: m.gatewayAuth}, {Hook: m.source}},
		Logger: m.Log, Limits: c.Broker.limits(c), Registry: m.Registry})
	if err != nil {
		return err
	}
	m.Log.Info("embedded MQTT broker listening", "addr", m.Broker.Addr(), "tls", m.Broker.TLSAddr())
	if !m.Options.runsIngest() {
		m.source.NoIngest() // no reading is acknowledged here, since none would be stored
	}
	if m.Options.runsRules() && !m.Options.runsIngest() {
		return errors.New("--only rules needs an external broker (SUILONG_MQTT_URL): the rules take every reading through a subscription of their own")
	}
	m.publisher = mqttsub.InlinePublisher{Srv: m.Broker.Server()}
	return nil
}

// keepBrokerInStep tells Mosquitto's dynamic security of a gateway's new password, or of its removal ("").
func (m *Main) keepBrokerInStep(ctx context.Context, id, password string) {
	var err error
	if password == "" {
		err = m.dynsec.DeleteGateway(ctx, id)
	} else {
		err = m.dynsec.SetGateway(ctx, id, password)
	}
	if err != nil {
		m.Log.Error("mqtt dynamic security: the broker did not take the gateway's credentials; reset them again once it answers",
			"gateway", id, "err", err)
	}
}

// reconcileBroker removes from Mosquitto the gateways the registry no longer has, and names those it lacks.
func (m *Main) reconcileBroker(ctx context.Context) error {
	var ids []string
	// Every page by cursor, to a short one (totals are counted only up to pg.CountCap).
	for page := (ingest.Page{Limit: pg.MaxLimit}); ; {
		gs, _, err := m.IngestStore.Gateways(ctx, page)
		if err != nil {
			return err
		}
		for _, g := range gs {
			ids = append(ids, g.ID)
		}
		if len(gs) < pg.MaxLimit {
			break
		}
		page.After = pg.Cursor(gs[len(gs)-1].PageKey()...)
	}
	missing, err := m.dynsec.Reconcile(ctx, ids)
	if len(missing) > 0 {
		m.Log.Warn("mqtt dynamic security: these gateways have no account on the broker yet; reset their credentials", "gateways", missing)
	}
	return err
}

// clientID is this process's MQTT client id on an external broker.
func (m *Main) clientID() string {
	if m.Cfg.Ingest.ClientID != "" {
		return m.Cfg.Ingest.ClientID
	}
	return worker.DefaultClientID(m.Cfg.Ingest.dataDir(m.Cfg))
}

// MQTTURL is the broker the platform's own clients connect to: the external one, the embedded one, or a
// running serve's embedded broker as the configuration names it.
func (m *Main) MQTTURL() string {
	c := m.Cfg
	switch {
	case c.MQTTURL != "":
		return c.MQTTURL
	case m.Broker != nil && m.Broker.Addr() != "":
		return m.Broker.URL()
	case m.Broker != nil:
		return "ssl://" + m.Broker.TLSAddr()
	case plainListen(c.MQTTListen) == "": // a TLS-only embedded broker of a running serve
		return "ssl://" + c.Broker.TLSListen
	}
	return "tcp://" + c.MQTTListen
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
