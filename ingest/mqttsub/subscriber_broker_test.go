package mqttsub_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/ingest/mqttsub"
	"github.com/suilong/suilong/internal/broker"
	"github.com/suilong/suilong/internal/broker/brokertest"
)

// refuseFirst lets every client in and refuses the first n subscriptions to one filter (as a broker whose ACL
// is not ready yet does), answering them with return code 0x80.
type refuseFirst struct {
	mqtt.HookBase
	filter string
	n      atomic.Int32
}

func (h *refuseFirst) ID() string { return "refuse-first" }

func (h *refuseFirst) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

func (h *refuseFirst) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

func (h *refuseFirst) OnACLCheck(_ *mqtt.Client, topic string, write bool) bool {
	return write || topic != h.filter || h.n.Add(-1) < 0
}

// A broker that refuses the readings subscription twice: the subscriber does not take the refusal for a
// subscription, connects again, and readings reach ingest once the broker allows it.
func TestSubscriberRecoversFromRefusedSubscription(t *testing.T) {
	h := &refuseFirst{filter: mqttsub.ReadingsFilter("g")}
	h.n.Store(2)
	b := brokertest.Start(t, broker.Options{Hooks: []broker.Hook{{Hook: h}}})
	got := make(chan ingest.Message, 100)
	sub := mqttsub.NewSubscriber(mqttsub.SubscriberConfig{URL: b.URL(), ClientID: "ingest-refused", Group: "g",
		Log: slog.New(slog.DiscardHandler)}, func(m ingest.Message) bool { got <- m; return true })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sub.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	gw := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID("GW-R"))
	if tok := gw.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer gw.Disconnect(10)
	deadline := time.Now().Add(20 * time.Second) // two retries: pauses of 1 s and 2 s
	for {
		gw.Publish(ingest.TopicReadings+"GW-R", 1, false, `{"n":1}`)
		select {
		case m := <-got:
			if h.n.Load() >= 0 {
				t.Fatalf("a reading arrived while the subscription was refused: %s", m.Topic)
			}
			return
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no reading reached ingest after the broker refused the subscription %d times", 2)
		}
	}
}
