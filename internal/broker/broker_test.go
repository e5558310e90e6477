package broker_test

import (
	"fmt"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/suilong/suilong/internal/broker"
	"github.com/suilong/suilong/internal/broker/brokertest"
)

func connect(t *testing.T, url, id string, clean bool) paho.Client {
	t.Helper()
	o := paho.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(clean).SetAutoReconnect(false)
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", id, tok.Error())
	}
	return c
}

// A persistent session's QoS 1 messages published while it is away are delivered when it returns, even when the
// broker itself restarted in between: that is what lets ingest restart without losing readings.
func TestPersistentSessionSurvivesBrokerRestart(t *testing.T) {
	dir := t.TempDir()
	b, err := broker.Start(broker.Options{Listen: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	addr := b.Addr()
	url := b.URL()

	sub := connect(t, url, "ingest-1", false)
	if tok := sub.Subscribe("coldchain/v1/readings/+", 1, nil); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	sub.Disconnect(100)

	pub := connect(t, url, "gw-1", true)
	for i := range 3 {
		tok := pub.Publish("coldchain/v1/readings/gw-1", 1, false, fmt.Sprintf(`{"seq":%d}`, i))
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	pub.Disconnect(100)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b2, err := broker.Start(broker.Options{Listen: addr, DataDir: dir})
	if err != nil {
		t.Fatalf("restart on %s: %v", addr, err)
	}
	defer b2.Close()

	got := make(chan string, 10)
	o := paho.NewClientOptions().AddBroker(url).SetClientID("ingest-1").SetCleanSession(false).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { got <- string(m.Payload()) })
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer c.Disconnect(100)
	// Order across a queue is not promised by the broker; ingest does not depend on it (rules run on event time).
	seen := map[string]bool{}
	for range 3 {
		select {
		case m := <-got:
			seen[m] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("after broker restart got only %v", seen)
		}
	}
	for i := range 3 {
		if !seen[fmt.Sprintf(`{"seq":%d}`, i)] {
			t.Fatalf("message %d missing: %v", i, seen)
		}
	}
}

func TestBrokertestGivesWorkingBroker(t *testing.T) {
	url := brokertest.New(t)
	c := connect(t, url, "x", true)
	c.Disconnect(10)
}
