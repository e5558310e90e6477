package mqttauth_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/ingest/mqttauth"
	"github.com/suilong/suilong/internal/broker"
	"github.com/suilong/suilong/internal/broker/brokertest"
	"github.com/suilong/suilong/internal/pg/pgtest"
)

// gateway is a paho client connected as a gateway, noting when it loses its connection.
type gateway struct {
	paho.Client
	lost atomic.Int64 // unix nanoseconds
}

func dial(url, clientID, user, pass string) (*gateway, error) {
	g := &gateway{}
	o := paho.NewClientOptions().AddBroker(url).SetClientID(clientID).SetUsername(user).SetPassword(pass).
		SetCleanSession(false).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).
		SetConnectionLostHandler(func(paho.Client, error) { g.lost.Store(time.Now().UnixNano()) })
	g.Client = paho.NewClient(o)
	t := g.Connect()
	if !t.WaitTimeout(10 * time.Second) {
		return nil, context.DeadlineExceeded
	}
	return g, t.Error()
}

func mustDial(t *testing.T, url, clientID, user, pass string) *gateway {
	t.Helper()
	g, err := dial(url, clientID, user, pass)
	if err != nil {
		t.Fatalf("connect %s as %s: %v", clientID, user, err)
	}
	t.Cleanup(func() { g.Disconnect(10) })
	return g
}

func (g *gateway) publishes(t *testing.T, topic string) {
	t.Helper()
	if tok := g.Publish(topic, 1, false, "{}"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish on %s: %v", topic, tok.Error())
	}
}

// Nobody takes over a gateway's session: not another gateway under its client id (or a suffix of it), not
// anyone with its id and a wrong password; the victim stays connected. A reset of the password disconnects the
// gateway within a second and the new password works; deleting a gateway disconnects it too.
func TestTakeoverRefusedAndResetDisconnects(t *testing.T) {
	ctx := context.Background()
	store := ingest.NewStore(pgtest.New(t))
	_, pwA, err := store.CreateGateway(ctx, ingest.Gateway{ID: "LY-GW-A", Name: "victim"}, false)
	if err != nil {
		t.Fatal(err)
	}
	_, pwB, err := store.CreateGateway(ctx, ingest.Gateway{ID: "LY-GW-B", Name: "attacker"}, false)
	if err != nil {
		t.Fatal(err)
	}
	h := mqttauth.New(store, "platform", "internal", slog.New(slog.DiscardHandler))
	if err := h.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	b := brokertest.Start(t, broker.Options{Hooks: []broker.Hook{{Hook: h}}})
	url := b.URL()

	victim := mustDial(t, url, "LY-GW-A", "LY-GW-A", pwA)
	for _, try := range []struct{ client, user, pass string }{
		{"LY-GW-A", "LY-GW-B", pwB},       // another gateway, under the victim's id
		{"LY-GW-A-modem", "LY-GW-B", pwB}, // under a suffix of it
		{"LY-GW-A", "LY-GW-A", "guess"},   // the victim's id and user, a wrong password
		{"LY-GW-A", "", ""},               // no credentials at all
	} {
		if g, err := dial(url, try.client, try.user, try.pass); err == nil {
			g.Disconnect(10)
			t.Fatalf("connected as %q under client id %q", try.user, try.client)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if victim.lost.Load() != 0 || !victim.IsConnectionOpen() {
		t.Fatal("the victim lost its connection to a refused takeover")
	}
	victim.publishes(t, ingest.TopicReadings+"LY-GW-A")
	mustDial(t, url, "LY-GW-B-1", "LY-GW-B", pwB).publishes(t, ingest.TopicReadings+"LY-GW-B") // its own suffix is fine
	mustDial(t, url, "LY-GW-A", "platform", "internal")                                        // as is anything for the platform

	// The platform's client took LY-GW-A's id above, which is a takeover the broker allows it: reconnect the victim.
	victim = mustDial(t, url, "LY-GW-A", "LY-GW-A", pwA)
	newPw, err := store.ResetGatewayPassword(ctx, "LY-GW-A")
	if err != nil {
		t.Fatal(err)
	}
	reset := time.Now()
	if err := h.Refresh(ctx); err != nil { // what the API's GatewayChanged does
		t.Fatal(err)
	}
	waitLost(t, victim, reset)
	if g, err := dial(url, "LY-GW-A", "LY-GW-A", pwA); err == nil {
		g.Disconnect(10)
		t.Fatal("the old password still works")
	}
	mustDial(t, url, "LY-GW-A", "LY-GW-A", newPw).publishes(t, ingest.TopicReadings+"LY-GW-A")

	attacker := mustDial(t, url, "LY-GW-B", "LY-GW-B", pwB)
	if err := store.DeleteGateway(ctx, "LY-GW-B"); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	if err := h.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	waitLost(t, attacker, deleted)
}

func waitLost(t *testing.T, g *gateway, since time.Time) {
	t.Helper()
	deadline := since.Add(time.Second)
	for g.lost.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	lost := g.lost.Load()
	if lost == 0 {
		t.Fatal("the gateway was not disconnected within a second")
	}
	t.Logf("disconnected %s after the change", time.Duration(lost-since.UnixNano()))
}
