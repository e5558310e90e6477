// Package mqttauth is the embedded broker's authentication and ACL for cold-chain gateways: a gateway connects
// as MQTT user {gateway_id} with the password it was given at registration (stored hashed), under a client id
// that is its own (OwnsClientID), may publish only its own readings and status, and may subscribe only to its
// own commands. A gateway whose password is reset or deleted is disconnected at once. The platform's own client
// has its own credentials, may use any client id and may do anything.
package mqttauth

import (
	"bytes"
	"context"
	"crypto/subtle"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/internal/broker"
)

// Credentials is where gateway passwords come from (the ingest Store).
type Credentials interface {
	GatewayCredentials(ctx context.Context) ([]ingest.GatewayCredential, error)
}

// Hook is a mochi hook. Its credential cache is refreshed by Run, by Refresh (the API calls it when it changes
// a gateway's credentials) and on an unknown user, and keeps working while PostgreSQL is away. Every refresh
// disconnects the live sessions of gateways whose password changed or that were deleted.
type Hook struct {
	mqtt.HookBase
	store        Credentials
	internalUser string
	internalPass string
	log          *slog.Logger

	creds     atomic.Pointer[map[string][]byte]
	refreshMu sync.Mutex
	// lastAsked is when a connection last made the hook reload (periodic and API-driven reloads do not count:
	// a gateway registered just after one of those must not wait for the next).
	lastAsked time.Time

	liveMu sync.Mutex
	live   map[string]map[*mqtt.Client]struct{} // gateway id → its connected clients
}

// New returns the hook. internalUser/internalPass are the platform's own credentials (empty user: none).
func New(store Credentials, internalUser, internalPass string, log *slog.Logger) *Hook {
	if log == nil {
		log = slog.Default()
	}
	h := &Hook{store: store, internalUser: internalUser, internalPass: internalPass, log: log,
		live: map[string]map[*mqtt.Client]struct{}{}}
	empty := map[string][]byte{}
	h.creds.Store(&empty)
	return h
}

// ID names the hook.
func (h *Hook) ID() string { return "suilong-gateway-auth" }

// Provides says which events the hook handles.
func (h *Hook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnSessionEstablished,
		mqtt.OnDisconnect}, []byte{b})
}

// Refresh reloads every gateway's password hash, and disconnects the sessions of gateways whose password
// changed or that are gone: a reset or deleted credential stops working at once, not at the next reconnect.
func (h *Hook) Refresh(ctx context.Context) error {
	h.refreshMu.Lock()
	defer h.refreshMu.Unlock()
	list, err := h.store.GatewayCredentials(ctx)
	if err != nil {
		return err
	}
	m := make(map[string][]byte, len(list))
	for _, c := range list {
		m[c.ID] = c.PasswordHash
	}
	old := h.creds.Swap(&m)
	for id, hash := range *old {
		if now, ok := m[id]; !ok || !bytes.Equal(now, hash) {
			h.disconnect(id, "credentials reset or deleted")
		}
	}
	return nil
}

// disconnect ends every live session of a gateway (MQTT 5 clients learn why: administrative action).
func (h *Hook) disconnect(gatewayID, why string) {
	h.liveMu.Lock()
	var cls []*mqtt.Client
	for cl := range h.live[gatewayID] {
		cls = append(cls, cl)
	}
	h.liveMu.Unlock()
	for _, cl := range cls {
		h.log.Info("mqtt auth: disconnecting a gateway", "gateway", gatewayID, "client", cl.ID, "remote", cl.Net.Remote, "why", why)
		broker.Disconnect(cl, packets.ErrAdministrativeAction)
	}
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

// OnConnect refuses, with "client identifier not valid", a known gateway that connects under a client id that
// is not its own, before the broker could let it take over that id's session.
func (h *Hook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	user := string(pk.Connect.Username)
	creds := *h.creds.Load()
	if _, known := creds[user]; !known || (h.internalUser != "" && user == h.internalUser) {
		return nil // the platform, or not a gateway this broker knows yet: OnConnectAuthenticate decides
	}
	if ingest.OwnsClientID(user, pk.Connect.ClientIdentifier, func(id string) bool { _, ok := creds[id]; return ok }) {
		return nil
	}
	h.log.Info("mqtt auth: connection refused: the client id is not the gateway's own", "user", user,
		"client", pk.Connect.ClientIdentifier, "remote", cl.Net.Remote)
	code := packets.ErrClientIdentifierNotValid
	if cl.Properties.ProtocolVersion < 5 {
		code = packets.Err3ClientIdentifierNotValid
	}
	_ = cl.WritePacket(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack}, ReasonCode: code.Code})
	return packets.ErrClientIdentifierNotValid
}

// OnConnectAuthenticate accepts the platform's client and registered gateways with their password and own
// client id.
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
		stale := time.Since(h.lastAsked) > time.Second
		if stale {
			h.lastAsked = time.Now()
		}
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
	creds := *h.creds.Load()
	if !ingest.OwnsClientID(user, pk.Connect.ClientIdentifier, func(id string) bool { _, ok := creds[id]; return ok }) {
		h.log.Info("mqtt auth: connection refused: the client id is not the gateway's own", "user", user,
			"client", pk.Connect.ClientIdentifier, "remote", cl.Net.Remote)
		return false
	}
	return true
}

// OnSessionEstablished records a gateway's live session, so that a change of its credentials can end it, and
// checks the password once more: a reset between the check and now must not leave the old password working.
func (h *Hook) OnSessionEstablished(cl *mqtt.Client, pk packets.Packet) {
	user := string(pk.Connect.Username)
	if user == "" || (h.internalUser != "" && user == h.internalUser) {
		return
	}
	h.liveMu.Lock()
	set := h.live[user]
	if set == nil {
		set = map[*mqtt.Client]struct{}{}
		h.live[user] = set
	}
	set[cl] = struct{}{}
	h.liveMu.Unlock()
	if hash, ok := (*h.creds.Load())[user]; !ok || !ingest.PasswordMatches(hash, string(pk.Connect.Password)) {
		h.disconnect(user, "credentials changed while connecting")
	}
}

// OnDisconnect forgets a session.
func (h *Hook) OnDisconnect(cl *mqtt.Client, _ error, _ bool) {
	user := string(cl.Properties.Username)
	h.liveMu.Lock()
	if set := h.live[user]; set != nil {
		delete(set, cl)
		if len(set) == 0 {
			delete(h.live, user)
		}
	}
	h.liveMu.Unlock()
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
	return ingest.GatewayMay(user, topic, write)
}
