// Package broker runs the embedded MQTT broker (mochi-mqtt) that `suilong serve` starts when no external broker
// is configured. Sessions and retained messages persist on disk, so a gateway's QoS 1 messages queued for a
// persistent ingest session survive a broker restart.
package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/hooks/storage/bolt"
	"github.com/mochi-mqtt/server/v2/listeners"
	"go.etcd.io/bbolt"
)

// Hook is a mochi hook with its configuration, as AddHook takes them.
type Hook struct {
	Hook   mqtt.Hook
	Config any
}

// Options configure the broker.
type Options struct {
	// Listen is the TCP address, e.g. "127.0.0.1:1883"; port 0 picks a free one.
	Listen string
	// DataDir holds the session store; empty keeps sessions in memory only.
	DataDir string
	// Hooks are added before the persistence hook. Without any hook that authenticates, every client is
	// allowed: that is for tests, and serve always passes ingest's auth hook.
	Hooks []Hook
	// InflightWindow bounds unacknowledged QoS 1/2 messages per client (mochi's ReceiveMaximum).
	InflightWindow uint16
	// MaxQueued bounds messages queued for an offline persistent session.
	MaxQueued int
	Logger    *slog.Logger
}

// Broker is a running embedded broker.
type Broker struct {
	srv  *mqtt.Server
	addr string
}

// Start starts the broker and returns once it listens.
func Start(opts Options) (*Broker, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	caps := mqtt.NewDefaultServerCapabilities()
	if opts.InflightWindow > 0 {
		caps.ReceiveMaximum = opts.InflightWindow
	}
	if opts.MaxQueued > 0 {
		caps.MaximumClientWritesPending = int32(opts.MaxQueued)
	}
	srv := mqtt.New(&mqtt.Options{
		InlineClient: true,
		Capabilities: caps,
		Logger:       log.With("component", "mqtt-broker"),
	})
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
	// Bind first so that a taken port is reported here, and port 0 resolves to a real address.
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("mqtt listen on %s: %w", opts.Listen, err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "tcp", Address: addr})); err != nil {
		return nil, err
	}
	if err := srv.Serve(); err != nil {
		return nil, fmt.Errorf("start mqtt broker: %w", err)
	}
	return &Broker{srv: srv, addr: addr}, nil
}

// Addr is the address the broker listens on.
func (b *Broker) Addr() string { return b.addr }

// URL is the address as an MQTT URL for clients.
func (b *Broker) URL() string { return "tcp://" + b.addr }

// Server exposes the mochi server (inline publish/subscribe, hooks).
func (b *Broker) Server() *mqtt.Server { return b.srv }

// Ping reports whether the broker accepts TCP connections.
func (b *Broker) Ping() error {
	c, err := net.DialTimeout("tcp", b.addr, 2*time.Second)
	if err != nil {
		return errors.New("mqtt broker does not accept connections: " + err.Error())
	}
	return c.Close()
}

// Close stops the broker, disconnecting clients and closing the session store.
func (b *Broker) Close() error { return b.srv.Close() }
