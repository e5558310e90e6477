package mqttsub

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/suilong/suilong/ingest"
)

// SubscriberConfig configures a Subscriber.
type SubscriberConfig struct {
	URL      string
	ClientID string // stable across restarts: it names the persistent session
	Username string
	Password string
	// Group is the shared-subscription group ("suilong-ingest"); empty subscribes without sharing.
	Group string
	// TLS is used with ssl://, tls:// and mqtts:// URLs (ClientTLS builds it; nil: the system's roots).
	TLS *tls.Config
	Log *slog.Logger
}

// Subscriber consumes readings and statuses from an external broker.
type Subscriber struct {
	cfg       SubscriberConfig
	sink      Sink
	newClient clientFactory

	mu     sync.Mutex
	client client
}

// NewSubscriber returns a subscriber; Run connects it.
func NewSubscriber(cfg SubscriberConfig, sink Sink) *Subscriber {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Subscriber{cfg: cfg, sink: sink, newClient: newPahoClient}
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
		SetTLSConfig(s.cfg.TLS).
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
	client := s.newClient(WithBuffering(opts, s.cfg.URL))
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
