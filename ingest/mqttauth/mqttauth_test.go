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

func TestAllowed(t *testing.T) {
	tests := []struct {
		topic string
		write bool
		want  bool
	}{
		{"coldchain/v1/readings/GW1", true, true},
		{"coldchain/v1/status/GW1", true, true},
		{"coldchain/v1/readings/GW2", true, false},
		{"coldchain/v1/readings/GW1/x", true, false},
		{"coldchain/v1/readings/+", true, false},
		{"coldchain/v1/alarms/LY-TRK-0001", true, false},
		{"coldchain/v1/commands/GW1", true, false},
		{"coldchain/v1/commands/GW1", false, true},
		{"coldchain/v1/commands/GW1/#", false, true},
		{"coldchain/v1/commands/GW2", false, false},
		{"coldchain/v1/commands/#", false, false},
		{"coldchain/v1/commands/+", false, false},
		{"coldchain/v1/readings/GW1", false, false},
		{"#", false, false},
		{"coldchain/v1/commands/GW10", false, false},
	}
	for _, tt := range tests {
		if got := Allowed("GW1", tt.topic, tt.write); got != tt.want {
			t.Errorf("Allowed(GW1, %q, write=%v) = %v, want %v", tt.topic, tt.write, got, tt.want)
		}
	}
}

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

func TestOwnsClientID(t *testing.T) {
	registered := map[string]bool{"LY-GW": true, "LY-GW-2": true, "GW1": true, "a.b": true}
	reg := func(id string) bool { return registered[id] }
	tests := []struct {
		gw, client string
		want       bool
	}{
		{"GW1", "GW1", true},
		{"GW1", "GW1-a", true},
		{"GW1", "GW1_1", true},
		{"GW1", "GW1:x", true},
		{"GW1", "GW1/sub", true},
		{"GW1", "GW1.2", true},
		{"GW1", "GW1-", false},   // a separator with nothing after it is no suffix
		{"GW1", "GW10", false},   // another id, not a suffix
		{"GW1", "GW1x-1", false}, // no separator right after the id
		{"GW1", "gw1", false},    // ids are case-sensitive
		{"GW1", "", false},       // a gateway names itself
		{"GW1", "LY-GW", false},  // another gateway's id
		{"GW1", "xGW1", false},   // the id must come first
		{"LY-GW", "LY-GW-1", true},
		{"LY-GW", "LY-GW-2", false},   // a longer registered gateway's own id
		{"LY-GW", "LY-GW-2-a", false}, // and its suffixes
		{"LY-GW", "LY-GW-2a", true},   // not LY-GW-2 followed by a separator
		{"LY-GW-2", "LY-GW-2-a", true},
		{"a.b", "a.b.c", true},
		{"a", "a.b", false}, // a.b is registered
	}
	for _, tt := range tests {
		if got := OwnsClientID(tt.gw, tt.client, reg); got != tt.want {
			t.Errorf("OwnsClientID(%q, %q) = %v, want %v", tt.gw, tt.client, got, tt.want)
		}
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
