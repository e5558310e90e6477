// Package mqttsub brings MQTT messages into the ingest pipeline and publishes the platform's own messages.
//
// Two sources, one guarantee (a message is acknowledged to its publisher's broker only once durable):
//   - BrokerSource is a hook in the embedded broker. For a QoS 1 reading it withholds the broker's PUBACK and
//     sends it itself once the pipeline has made the readings durable, so the gateway's own retry covers a crash
//     of the whole process (broker included) at any point.
//   - Subscriber is a paho client on an external broker (Mosquitto, EMQX): persistent session, manual acks
//     after durability, a shared subscription so that several ingest processes split the load, and
//     re-subscription on every reconnect.
package mqttsub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/suilong/suilong/ingest"
)

// Sink takes a message; it returns false when ingest is stopping (the message stays unacknowledged).
type Sink func(ingest.Message) bool

// BrokerSource is the embedded broker's ingest hook. The broker starts before ingest does, so until SetSink is
// called a reading waits (its publisher's connection pauses) for up to WaitForSink; after that, or once
// PassThrough is called, messages go through untouched, for whatever else subscribes (ingest in another
// process).
type BrokerSource struct {
	mqtt.HookBase
	// WaitForSink is how long a reading waits for ingest to start (default 15s).
	WaitForSink time.Duration

	sink    atomic.Pointer[Sink]
	srv     atomic.Pointer[mqtt.Server]
	ready   chan struct{}
	once    sync.Once
	through atomic.Bool
}

// NewBrokerSource returns the hook, waiting for a sink.
func NewBrokerSource() *BrokerSource {
	return &BrokerSource{WaitForSink: 15 * time.Second, ready: make(chan struct{})}
}

// PassThrough stops waiting for a sink: ingest does not run in this process.
func (h *BrokerSource) PassThrough() {
	h.through.Store(true)
	h.once.Do(func() { close(h.ready) })
}

func (h *BrokerSource) currentSink() *Sink {
	if sp := h.sink.Load(); sp != nil || h.through.Load() || h.ready == nil {
		return sp
	}
	select {
	case <-h.ready:
	case <-time.After(h.WaitForSink):
		h.through.Store(true)
	}
	return h.sink.Load()
}

// ID names the hook.
func (h *BrokerSource) ID() string { return "suilong-ingest" }

// Provides says which events the hook handles.
func (h *BrokerSource) Provides(b byte) bool { return b == mqtt.OnPublish }

// SetSink starts (or, with nil, stops) handing messages to ingest. srv is the broker the hook is in, used to
// pass readings on to any other subscriber once they are durable.
func (h *BrokerSource) SetSink(s Sink, srv *mqtt.Server) {
	if s == nil {
		h.sink.Store(nil)
		return
	}
	h.srv.Store(srv)
	h.sink.Store(&s)
	if h.ready != nil {
		h.once.Do(func() { close(h.ready) })
	}
}

// OnPublish takes readings and statuses from gateways.
func (h *BrokerSource) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	sp := h.currentSink()
	if sp == nil {
		return pk, nil
	}
	sink := *sp
	topic := pk.TopicName
	switch {
	case strings.HasPrefix(topic, ingest.TopicReadings):
		msg := ingest.Message{Topic: topic, Payload: pk.Payload, Received: time.Now()}
		switch pk.FixedHeader.Qos {
		case 0:
			if sink(msg) {
				h.forward(topic, pk.Payload, 0)
			}
			return pk, packets.ErrRejectPacket
		case 1:
			id := pk.PacketID
			msg.Ack = func() {
				// The connection may be gone by now: then the gateway resends on reconnect, and the duplicate
				// overwrites the same points.
				_ = cl.WritePacket(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: id})
				h.forward(topic, msg.Payload, 1)
			}
			sink(msg)
			return pk, packets.ErrRejectPacket
		default:
			// QoS 2 keeps the broker's own handshake; the contract is QoS 1, so this is best effort.
			sink(msg)
			return pk, packets.CodeSuccessIgnore
		}
	case strings.HasPrefix(topic, ingest.TopicStatus):
		sink(ingest.Message{Topic: topic, Payload: pk.Payload, Received: time.Now()})
	}
	return pk, nil
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

// InlinePublisher publishes through the embedded broker's inline client.
type InlinePublisher struct{ Srv *mqtt.Server }

// Publish implements ingest.Publisher.
func (p InlinePublisher) Publish(_ context.Context, topic string, payload []byte, qos byte, retain bool) error {
	return p.Srv.Publish(topic, payload, retain, qos)
}

// SubscriberConfig configures a Subscriber.
type SubscriberConfig struct {
	URL      string
	ClientID string // stable across restarts: it names the persistent session
	Username string
	Password string
	// Group is the shared-subscription group ("suilong-ingest"); empty subscribes without sharing.
	Group string
	Log   *slog.Logger
}

// Subscriber consumes readings and statuses from an external broker.
type Subscriber struct {
	cfg  SubscriberConfig
	sink Sink

	mu     sync.Mutex
	client paho.Client
}

// NewSubscriber returns a subscriber; Run connects it.
func NewSubscriber(cfg SubscriberConfig, sink Sink) *Subscriber {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Subscriber{cfg: cfg, sink: sink}
}

// ReadingsFilter is the readings subscription, shared when group is set.
func ReadingsFilter(group string) string {
	f := ingest.TopicReadings + "+"
	if group != "" {
		f = "$share/" + group + "/" + f
	}
	return f
}

// Run connects (retrying until ctx ends), subscribes on every (re)connection, and disconnects when ctx ends.
// Messages arrive on paho's router goroutine in order; a full pipeline blocks it, which stops reading from the
// broker: backpressure.
func (s *Subscriber) Run(ctx context.Context) error {
	log := s.cfg.Log
	handler := func(_ paho.Client, m paho.Message) {
		msg := ingest.Message{Topic: m.Topic(), Payload: m.Payload(), Received: time.Now()}
		if m.Qos() > 0 {
			msg.Ack = m.Ack
		}
		s.sink(msg)
	}
	opts := paho.NewClientOptions().
		AddBroker(s.cfg.URL).
		SetClientID(s.cfg.ClientID).
		SetUsername(s.cfg.Username).
		SetPassword(s.cfg.Password).
		SetCleanSession(false).
		SetStore(noStore{}).
		SetAutoAckDisabled(true).
		SetOrderMatters(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(5 * time.Second).
		SetKeepAlive(30 * time.Second).
		SetDefaultPublishHandler(handler).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			log.Warn("ingest: lost the MQTT broker; reconnecting", "broker", s.cfg.URL, "err", err)
		}).
		SetOnConnectHandler(func(c paho.Client) {
			filters := map[string]byte{ReadingsFilter(s.cfg.Group): 1, ingest.TopicStatus + "+": 1}
			t := c.SubscribeMultiple(filters, handler)
			if !t.WaitTimeout(10*time.Second) || t.Error() != nil {
				log.Error("ingest: subscribe failed; reconnecting", "broker", s.cfg.URL, "err", t.Error())
				go c.Disconnect(0) // auto-reconnect will try again
				return
			}
			log.Info("ingest: subscribed", "broker", s.cfg.URL, "client_id", s.cfg.ClientID, "readings", ReadingsFilter(s.cfg.Group))
		})
	client := paho.NewClient(WithBuffering(opts, s.cfg.URL))
	s.mu.Lock()
	s.client = client
	s.mu.Unlock()
	t := client.Connect()
	select {
	case <-ctx.Done():
	case <-t.Done():
		if err := t.Error(); err != nil {
			return fmt.Errorf("connect to %s: %w", s.cfg.URL, err)
		}
	}
	<-ctx.Done()
	client.Disconnect(500)
	return nil
}

// Leave unsubscribes from readings, so that while this process drains and stops, the broker gives its share to
// the other members of the shared subscription instead of queueing it for this session. Messages already sent
// here are still processed and acknowledged; Run re-subscribes on the next start.
func (s *Subscriber) Leave(timeout time.Duration) {
	s.mu.Lock()
	client := s.client
	s.mu.Unlock()
	if client == nil || !client.IsConnectionOpen() {
		return
	}
	t := client.Unsubscribe(ReadingsFilter(s.cfg.Group))
	if !t.WaitTimeout(timeout) || t.Error() != nil {
		s.cfg.Log.Warn("ingest: could not leave the shared subscription before stopping", "err", t.Error())
	}
}

// PahoPublisher publishes on an external broker with its own client (so that a blocked subscriber never holds
// up an alarm).
type PahoPublisher struct {
	client paho.Client
}

// NewPahoPublisher connects a publishing client (it keeps reconnecting in the background).
func NewPahoPublisher(url, clientID, user, pass string) *PahoPublisher {
	opts := paho.NewClientOptions().AddBroker(url).SetClientID(clientID).SetUsername(user).SetPassword(pass).
		SetCleanSession(true).SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(5 * time.Second)
	c := paho.NewClient(opts)
	c.Connect()
	return &PahoPublisher{client: c}
}

// Publish implements ingest.Publisher.
func (p *PahoPublisher) Publish(ctx context.Context, topic string, payload []byte, qos byte, retain bool) error {
	if !p.client.IsConnectionOpen() {
		return errors.New("not connected to the MQTT broker")
	}
	t := p.client.Publish(topic, qos, retain, payload)
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close disconnects.
func (p *PahoPublisher) Close() { p.client.Disconnect(250) }

var _ mqtt.Hook = (*BrokerSource)(nil)
