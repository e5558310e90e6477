// Package mqttauth is the embedded broker's authentication and ACL for cold-chain gateways: a gateway connects
// as MQTT user {gateway_id} with the password it was given at registration (stored hashed), may publish only
// its own readings and status, and may subscribe only to its own commands. The platform's own client has its
// own credentials and may do anything.
package mqttauth

import (
	"bytes"
	"context"
	"crypto/subtle"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/suilong/suilong/ingest"
)

// Credentials is where gateway passwords come from (the ingest Store).
type Credentials interface {
	GatewayCredentials(ctx context.Context) ([]ingest.GatewayCredential, error)
}

// Hook is a mochi hook. Its credential cache is refreshed by Run and on an unknown user, and keeps working
// while PostgreSQL is away.
type Hook struct {
	mqtt.HookBase
	store        Credentials
	internalUser string
	internalPass string
	log          *slog.Logger

	creds       atomic.Pointer[map[string][]byte]
	refreshMu   sync.Mutex
	lastRefresh time.Time
}

// New returns the hook. internalUser/internalPass are the platform's own credentials (empty user: none).
func New(store Credentials, internalUser, internalPass string, log *slog.Logger) *Hook {
	if log == nil {
		log = slog.Default()
	}
	h := &Hook{store: store, internalUser: internalUser, internalPass: internalPass, log: log}
	empty := map[string][]byte{}
	h.creds.Store(&empty)
	return h
}

// ID names the hook.
func (h *Hook) ID() string { return "suilong-gateway-auth" }

// Provides says which events the hook handles.
func (h *Hook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnConnectAuthenticate, mqtt.OnACLCheck}, []byte{b})
}

// Refresh reloads every gateway's password hash.
func (h *Hook) Refresh(ctx context.Context) error {
	h.refreshMu.Lock()
	defer h.refreshMu.Unlock()
	h.lastRefresh = time.Now()
	list, err := h.store.GatewayCredentials(ctx)
	if err != nil {
		return err
	}
	m := make(map[string][]byte, len(list))
	for _, c := range list {
		m[c.ID] = c.PasswordHash
	}
	h.creds.Store(&m)
	return nil
}

// Run refreshes the credentials every interval until ctx ends.
func (h *Hook) Run(ctx context.Context, interval time.Duration) {
	if err := h.Refresh(ctx); err != nil {
		h.log.Warn("mqtt auth: could not load gateway credentials", "err", err)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := h.Refresh(ctx); err != nil {
				h.log.Warn("mqtt auth: could not refresh gateway credentials; keeping the cached ones", "err", err)
			}
		}
	}
}

// OnConnectAuthenticate accepts the platform's client and registered gateways with their password.
func (h *Hook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	user := string(pk.Connect.Username)
	pass := string(pk.Connect.Password)
	if user == "" {
		return false
	}
	if h.internalUser != "" && user == h.internalUser {
		return subtle.ConstantTimeCompare([]byte(pass), []byte(h.internalPass)) == 1
	}
	hash, ok := (*h.creds.Load())[user]
	if !ok || !ingest.PasswordMatches(hash, pass) {
		// A gateway registered or given a new password since the last refresh: reload, at most once a second
		// (so that guessing passwords cannot hammer the database).
		h.refreshMu.Lock()
		stale := time.Since(h.lastRefresh) > time.Second
		h.refreshMu.Unlock()
		if stale {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			if err := h.Refresh(ctx); err != nil {
				h.log.Warn("mqtt auth: could not refresh gateway credentials", "err", err)
			}
			cancel()
			hash, ok = (*h.creds.Load())[user]
		}
	}
	if !ok || !ingest.PasswordMatches(hash, pass) {
		h.log.Info("mqtt auth: connection refused", "user", user, "remote", cl.Net.Remote)
		return false
	}
	return true
}

// OnACLCheck lets a gateway publish coldchain/v1/readings/{id} and coldchain/v1/status/{id}, and subscribe to
// coldchain/v1/commands/{id} (and below); the platform's client may do anything.
func (h *Hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	user := string(cl.Properties.Username)
	if user == "" {
		return false
	}
	if h.internalUser != "" && user == h.internalUser {
		return true
	}
	return Allowed(user, topic, write)
}

// Allowed is the gateway ACL.
func Allowed(gatewayID, topic string, write bool) bool {
	if write {
		return topic == ingest.TopicReadings+gatewayID || topic == ingest.TopicStatus+gatewayID
	}
	own := ingest.TopicCommands + gatewayID
	return topic == own || strings.HasPrefix(topic, own+"/")
}
