// Package broker runs the embedded MQTT broker (mochi-mqtt) that `suilong serve` starts when no external broker
// is configured: on plain TCP, TLS or both, with Limits that keep a hostile or broken client from costing the
// others anything (listener.go guards connections, limits.go the packets). Sessions and retained messages
// persist on disk, so a gateway's QoS 1 messages queued for a persistent ingest session survive a broker
// restart.
package broker

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/hooks/storage/bolt"
	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/bbolt"
)

// Hook is a mochi hook with its configuration, as AddHook takes them.
type Hook struct {
	Hook   mqtt.Hook
	Config any
}

// Options configure the broker.
type Options struct {
	// Listen is the plain TCP address, e.g. "127.0.0.1:1883"; port 0 picks a free one; empty: no plain listener.
	Listen string
	// TLSListen is the TLS address (e.g. "127.0.0.1:8883"), used when TLS is set.
	TLSListen string
	// TLS is the listener's TLS configuration (ServerTLS builds it); nil: no TLS listener.
	TLS *tls.Config
	// DataDir holds the session store; empty keeps sessions in memory only.
	DataDir string
	// Hooks are added after the limits and before the persistence hook. Without any hook that authenticates,
	// every client is allowed: that is for tests, and serve always passes ingest's auth hook.
	Hooks []Hook
	// InflightWindow bounds unacknowledged QoS 1/2 messages per client (mochi's ReceiveMaximum).
	InflightWindow uint16
	// MaxQueued bounds messages queued for an offline persistent session.
	MaxQueued int
	// Limits guard the broker against hostile and broken clients (zero fields: no bound).
	Limits Limits
	// Registry, when set, gets the broker's metrics (prefix suilong_mqtt_).
	Registry prometheus.Registerer
	Logger   *slog.Logger
}

// Broker is a running embedded broker.
type Broker struct {
	srv     *mqtt.Server
	addr    string
	tlsAddr string
}

// Start starts the broker and returns once it listens.
func Start(opts Options) (*Broker, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	if opts.Listen == "" && opts.TLS == nil {
		return nil, errors.New("mqtt broker: neither a plain nor a TLS listener is configured")
	}
	if opts.TLS != nil && opts.TLSListen == "" {
		return nil, errors.New("mqtt broker: TLS is configured without a TLS listen address")
	}
	caps := mqtt.NewDefaultServerCapabilities()
	if opts.InflightWindow > 0 {
		caps.ReceiveMaximum = opts.InflightWindow
	}
	if opts.MaxQueued > 0 {
		caps.MaximumClientWritesPending = int32(opts.MaxQueued)
	}
	lim := opts.Limits
	if lim.MaxPacket > 0 {
		caps.MaximumPacketSize = uint32(lim.MaxPacket)
	}
	if lim.SessionExpiry > 0 {
		caps.MaximumSessionExpiryInterval = uint32(min(lim.SessionExpiry.Seconds(), math.MaxUint32))
	}
	srv := mqtt.New(&mqtt.Options{
		InlineClient: true,
		Capabilities: caps,
		Logger:       log.With("component", "mqtt-broker"),
	})
	m := newMetrics(opts.Registry)
	if err := srv.AddHook(&guard{lim: lim, m: m}, nil); err != nil {
		return nil, err
	}
	if len(opts.Hooks) == 0 {
		if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
			return nil, err
		}
	}
	for _, h := range opts.Hooks {
		if err := srv.AddHook(h.Hook, h.Config); err != nil {
			return nil, fmt.Errorf("add broker hook %s: %w", h.Hook.ID(), err)
		}
	}
	fail := func(err error) (*Broker, error) {
		_ = srv.Close() // closes the listeners bound so far and the session store
		return nil, err
	}
	if opts.DataDir != "" {
		if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
			return nil, err
		}
		err := srv.AddHook(sessionStore{new(bolt.Hook)}, &bolt.Options{
			Path:    filepath.Join(opts.DataDir, "mqtt-sessions.bolt"),
			Options: &bbolt.Options{Timeout: 2 * time.Second},
		})
		if err != nil {
			return nil, fmt.Errorf("open broker session store in %s (is another suilong using it?): %w", opts.DataDir, err)
		}
	}
	b := &Broker{srv: srv}
	g := &gate{lim: lim, m: m, perAddr: map[string]int{}}
	// Bind here so that a taken port is reported at once, and port 0 resolves to a real address.
	bind := func(id, addr string, tc *tls.Config) (string, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return "", fmt.Errorf("mqtt listen on %s: %w", addr, err)
		}
		if err := srv.AddListener(newListener(id, ln, tc, g)); err != nil {
			_ = ln.Close()
			return "", err
		}
		return ln.Addr().String(), nil
	}
	var err error
	if opts.Listen != "" {
		if b.addr, err = bind("tcp", opts.Listen, nil); err != nil {
			return fail(err)
		}
	}
	if opts.TLS != nil {
		if b.tlsAddr, err = bind("tls", opts.TLSListen, opts.TLS); err != nil {
			return fail(err)
		}
	}
	if err := srv.Serve(); err != nil {
		return fail(fmt.Errorf("start mqtt broker: %w", err))
	}
	return b, nil
}

// Addr is the plain TCP address the broker listens on ("" when it has none).
func (b *Broker) Addr() string { return b.addr }

// TLSAddr is the TLS address the broker listens on ("" when it has none).
func (b *Broker) TLSAddr() string { return b.tlsAddr }

// URL is an MQTT URL of the broker for the platform's own clients: the plain listener when there is one.
func (b *Broker) URL() string {
	if b.addr == "" {
		return b.TLSURL()
	}
	return "tcp://" + b.addr
}

// TLSURL is the TLS listener's URL ("" when there is none).
func (b *Broker) TLSURL() string {
	if b.tlsAddr == "" {
		return ""
	}
	return "ssl://" + b.tlsAddr
}

// Server exposes the mochi server (inline publish/subscribe, hooks).
func (b *Broker) Server() *mqtt.Server { return b.srv }

// Ping reports whether the broker accepts TCP connections.
func (b *Broker) Ping() error {
	addr := b.addr
	if addr == "" {
		addr = b.tlsAddr
	}
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return errors.New("mqtt broker does not accept connections: " + err.Error())
	}
	return c.Close()
}

// Close stops the broker, disconnecting clients and closing the session store.
func (b *Broker) Close() error { return b.srv.Close() }
