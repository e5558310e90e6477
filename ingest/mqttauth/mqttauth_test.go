package mqttauth

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/suilong/suilong/ingest"
)

// creds is the registry as the hook sees it; down makes it fail like an unreachable PostgreSQL.
type creds struct {
	list  []ingest.GatewayCredential
	down  atomic.Bool
	calls atomic.Int32
}

func (c *creds) GatewayCredentials(context.Context) ([]ingest.GatewayCredential, error) {
	c.calls.Add(1)
	if c.down.Load() {
		return nil, errors.New("connection refused")
	}
	return c.list, nil
}

// connect authenticates as a gateway connecting under its own id would.
func connect(h *Hook, user, pass string) bool { return connectAs(h, user, user, pass) }

func connectAs(h *Hook, clientID, user, pass string) bool {
	cl := &mqtt.Client{}
	cl.Properties.Username = []byte(user)
	return h.OnConnectAuthenticate(cl, packets.Packet{Connect: packets.ConnectParams{Username: []byte(user), Password: []byte(pass),
		UsernameFlag: true, PasswordFlag: true, ClientIdentifier: clientID}})
}

func TestAuthenticate(t *testing.T) {
	store := &creds{list: []ingest.GatewayCredential{{ID: "GW1", PasswordHash: ingest.HashPassword("right")}}}
	h := New(store, "platform", "internal", slog.New(slog.DiscardHandler))
	if err := h.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		user, pass string
		want       bool
	}{
		{"GW1", "right", true},
		{"GW1", "wrong", false},
		{"GW1", "", false},
		{"", "right", false},
		{"platform", "internal", true},
		{"platform", "right", false},
		{"nobody", "right", false},
	}
	for _, c := range cases {
		if got := connect(h, c.user, c.pass); got != c.want {
			t.Errorf("connect(%q, %q) = %v, want %v", c.user, c.pass, got, c.want)
		}
	}

	// A gateway registered after the last refresh gets in: the hook reloads (at most once a second).
	time.Sleep(1100 * time.Millisecond)
	store.list = append(store.list, ingest.GatewayCredential{ID: "GW2", PasswordHash: ingest.HashPassword("new")})
	if !connect(h, "GW2", "new") {
		t.Fatal("a newly registered gateway was refused")
	}

	// PostgreSQL goes away: known gateways still connect, nothing else does, and guessing does not hammer it.
	store.down.Store(true)
	time.Sleep(1100 * time.Millisecond)
	before := store.calls.Load()
	for range 20 {
		connect(h, "GW1", "guess")
	}
	if n := store.calls.Load() - before; n > 1 {
		t.Fatalf("20 wrong passwords caused %d registry queries", n)
	}
	if !connect(h, "GW1", "right") {
		t.Fatal("a known gateway was refused while PostgreSQL was down")
	}
}

func TestACLCheck(t *testing.T) {
	h := New(&creds{}, "platform", "internal", slog.New(slog.DiscardHandler))
	gw := &mqtt.Client{}
	gw.Properties.Username = []byte("GW1")
	platform := &mqtt.Client{}
	platform.Properties.Username = []byte("platform")
	anon := &mqtt.Client{}
	if !h.OnACLCheck(gw, "coldchain/v1/readings/GW1", true) || h.OnACLCheck(gw, "coldchain/v1/readings/GW2", true) {
		t.Error("gateway ACL")
	}
	if !h.OnACLCheck(platform, "coldchain/v1/alarms/LY-TRK-0001", true) || !h.OnACLCheck(platform, "coldchain/v1/readings/#", false) {
		t.Error("the platform's client is restricted")
	}
	if h.OnACLCheck(anon, "coldchain/v1/readings/GW1", true) {
		t.Error("an anonymous client may publish")
	}
}

func TestAuthenticateChecksClientID(t *testing.T) {
	store := &creds{list: []ingest.GatewayCredential{{ID: "GW1", PasswordHash: ingest.HashPassword("one")},
		{ID: "GW2", PasswordHash: ingest.HashPassword("two")}}}
	h := New(store, "platform", "internal", slog.New(slog.DiscardHandler))
	if err := h.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		client, user, pass string
		want               bool
	}{
		{"GW1-modem", "GW1", "one", true},
		{"GW2", "GW1", "one", false},       // GW1 taking GW2's session
		{"GW2-modem", "GW1", "one", false}, // or one of GW2's
		{"anything", "platform", "internal", true},
		{"GW1", "platform", "internal", true}, // the platform's user keeps any client id
	}
	for _, c := range cases {
		if got := connectAs(h, c.client, c.user, c.pass); got != c.want {
			t.Errorf("connect as %s with client id %q = %v, want %v", c.user, c.client, got, c.want)
		}
	}
}
