// Package mqttsub brings MQTT messages into the ingest pipeline and publishes the platform's own messages.
//
// Two sources, one guarantee (a message is acknowledged to its publisher's broker only once durable):
//   - BrokerSource is a hook in the embedded broker. For a QoS 1 reading it withholds the broker's PUBACK (for
//     QoS 2 the PUBREC) and sends it itself once the pipeline has made the readings durable, so the gateway's own
//     retry covers a crash of the whole process (broker included) at any point; without ingest in the process it
//     acknowledges nothing.
//   - Subscriber is a paho client on an external broker (Mosquitto, EMQX): persistent session, manual acks
//     after durability, a shared subscription so that several ingest processes split the load, and
//     re-subscription on every reconnect (a refused or unanswered subscription is retried by connecting again).
package mqttsub

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/internal/broker"
)

// Sink takes a message; it returns false when ingest is stopping (the message stays unacknowledged).
type Sink func(ingest.Message) bool

// States of a BrokerSource.
const (
	waiting int32 = iota // the broker started before ingest: readings wait for it
	running              // ingest takes readings
	absent               // ingest does not run in this process, or stopped
)

// BrokerSource is the embedded broker's ingest hook. No reading is acknowledged that ingest has not made
// durable:
//   - QoS 1: the broker's PUBACK is withheld; ingest's Ack sends it once the readings are durable.
//   - QoS 2: the PUBREC is withheld the same way; the rest of the handshake (PUBREL, PUBCOMP) is the broker's.
//   - The broker starts before ingest, so until SetSink a reading waits (its publisher's connection pauses) for
//     up to WaitForSink. When ingest does not run in this process (NoIngest, the wait ran out, or ingest
//     stopped: SetSink(nil)), a QoS 1 or 2 reading is not acknowledged and its publisher is disconnected (MQTT 5:
//     "server busy"): MQTT clients resend an unacknowledged message only after reconnecting, so a gateway keeps
//     it and sends it again, to this process once ingest runs or to another. QoS 0 readings are dropped then.
//   - While ingest is stopping, readings it no longer takes stay unacknowledged on their open connection; the
//     gateway resends them after the restart.
//
// Statuses are handed to ingest too, and otherwise left to the broker (which retains them).
type BrokerSource struct {
	mqtt.HookBase
	// WaitForSink is how long a reading waits for ingest to start (default 15s).
	WaitForSink time.Duration

	sink    atomic.Pointer[Sink]
	srv     atomic.Pointer[mqtt.Server]
	state   atomic.Int32
	ready   chan struct{} // closed when the source stops waiting
	once    sync.Once
	refused prometheus.Counter
	lastLog atomic.Int64
}

// NewBrokerSource returns the hook, waiting for a sink.
func NewBrokerSource() *BrokerSource {
	return &BrokerSource{WaitForSink: 15 * time.Second, ready: make(chan struct{}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "suilong", Subsystem: "mqtt", Name: "readings_refused_total",
			Help: "QoS 1/2 reading messages the embedded broker did not acknowledge because ingest was not running in this process; " +
				"their gateways were disconnected and send them again."})}
}

// Collectors are the hook's metrics, for a registry.
func (h *BrokerSource) Collectors() []prometheus.Collector { return []prometheus.Collector{h.refused} }

// NoIngest says ingest does not run in this process: readings are refused (see BrokerSource) from now on,
// without waiting.
func (h *BrokerSource) NoIngest() {
	if h.sink.Load() == nil {
		h.state.Store(absent)
	}
	h.once.Do(func() { close(h.ready) })
}

func (h *BrokerSource) currentSink() *Sink {
	if sp := h.sink.Load(); sp != nil {
		return sp
	}
	if h.state.Load() == waiting {
		t := time.NewTimer(h.WaitForSink)
		select {
		case <-h.ready:
		case <-t.C:
			h.state.CompareAndSwap(waiting, absent)
		}
		t.Stop()
	}
	return h.sink.Load()
}

// ID names the hook.
func (h *BrokerSource) ID() string { return "suilong-ingest" }

// Provides says which events the hook handles.
func (h *BrokerSource) Provides(b byte) bool { return b == mqtt.OnPublish }

// SetSink starts handing messages to ingest, or with nil says that ingest stopped. srv is the broker the hook
// is in, used to pass readings on to any other subscriber once they are durable.
func (h *BrokerSource) SetSink(s Sink, srv *mqtt.Server) {
	if s == nil {
		h.sink.Store(nil)
		h.state.Store(absent)
	} else {
		h.srv.Store(srv)
		h.sink.Store(&s)
		h.state.Store(running)
	}
	h.once.Do(func() { close(h.ready) })
}

// OnPublish takes readings and statuses from gateways.
func (h *BrokerSource) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	topic := pk.TopicName
	reading := strings.HasPrefix(topic, ingest.TopicReadings)
	if !reading && !strings.HasPrefix(topic, ingest.TopicStatus) {
		return pk, nil
	}
	sp := h.currentSink()
	if sp == nil {
		if reading {
			return pk, h.refuse(cl, pk)
		}
		return pk, nil
	}
	sink := *sp
	msg := ingest.Message{Topic: topic, Payload: pk.Payload, Received: time.Now()}
	if !reading {
		sink(msg)
		return pk, nil
	}
	id := pk.PacketID
	switch pk.FixedHeader.Qos {
	case 0:
		if sink(msg) {
			h.forward(topic, pk.Payload, 0)
		}
	case 1:
		msg.Ack = func() {
			// The connection may be gone by now: then the gateway resends on reconnect, and the duplicate
			// overwrites the same points.
			_ = cl.WritePacket(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: id})
			h.forward(topic, msg.Payload, 1)
		}
		sink(msg)
	default:
		msg.Ack = func() {
			// In flight as the broker itself would keep it, so that the client's PUBREL finds it (and a resend
			// after a reconnect gets the PUBREC again).
			rec := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrec}, PacketID: id, Created: time.Now().Unix()}
			if cl.State.Inflight.Set(rec) {
				if srv := h.srv.Load(); srv != nil {
					atomic.AddInt64(&srv.Info.Inflight, 1)
				}
			}
			_ = cl.WritePacket(rec)
			h.forward(topic, msg.Payload, 2)
		}
		sink(msg)
	}
	return pk, packets.ErrRejectPacket // the broker neither acknowledges nor delivers it: ingest's Ack does
}

// refuse handles a reading while ingest is not running here.
func (h *BrokerSource) refuse(cl *mqtt.Client, pk packets.Packet) error {
	if pk.FixedHeader.Qos == 0 {
		return packets.ErrRejectPacket
	}
	h.refused.Inc()
	now := time.Now().UnixNano()
	if last := h.lastLog.Load(); now-last > int64(10*time.Second) && h.lastLog.CompareAndSwap(last, now) {
		h.Log.Warn("mqtt: a reading arrived while ingest is not running in this process; not acknowledged, gateway "+
			"disconnected so that it sends it again (further ones are only counted for 10 s)", "client", cl.ID, "remote", cl.Net.Remote)
	}
	broker.Disconnect(cl, packets.ErrServerBusy)
	return packets.ErrRejectPacket
}

// forward passes a durable reading message on to whoever else subscribed to it (dashboards, debugging).
func (h *BrokerSource) forward(topic string, payload []byte, qos byte) {
	srv := h.srv.Load()
	if srv == nil {
		return
	}
	if subs := srv.Topics.Subscribers(topic); len(subs.Subscriptions) == 0 && len(subs.Shared) == 0 && len(subs.InlineSubscriptions) == 0 {
		return
	}
	_ = srv.Publish(topic, payload, false, qos)
}

var _ mqtt.Hook = (*BrokerSource)(nil)
