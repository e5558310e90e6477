package mqttsub

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
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

	mu      sync.Mutex
	client  client
	left    bool          // Leave was called: a reconnection does not join the readings subscription again
	stopped bool          // Run is ending: nothing connects again
	stop    chan struct{} // closed when stopped is set
	pause   time.Duration // before connecting again after a failed subscription (see sleep)
	busy    sync.WaitGroup
}

const (
	subscribeTimeout = 10 * time.Second
	firstRetryDelay  = time.Second
	maxRetryDelay    = 10 * time.Second
)

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
// It returns an error only when the first connection fails for good while ctx is live. Messages arrive on
// paho's router goroutine in order; a full pipeline blocks it, which stops reading from the broker:
// backpressure.
func (s *Subscriber) Run(ctx context.Context) error {
	log := s.cfg.Log
	handler := func(_ paho.Client, m paho.Message) { s.deliver(m) }
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
		// The handler's argument is the client made below; onConnect takes it through the seam instead.
		SetOnConnectHandler(func(paho.Client) { s.onConnect(handler) })
	c := s.newClient(WithBuffering(opts, s.cfg.URL))
	s.mu.Lock()
	s.client, s.stop, s.pause = c, make(chan struct{}), firstRetryDelay
	s.mu.Unlock()
	defer s.shutdown(c)
	t := c.Connect()
	select {
	case <-ctx.Done():
	case <-t.Done():
		if err := t.Error(); err != nil && ctx.Err() == nil {
			return fmt.Errorf("connect to %s: %w", s.cfg.URL, err)
		}
	}
	<-ctx.Done()
	return nil
}

// deliver hands a message to the sink. The session's acknowledgements are manual (SetAutoAckDisabled): a QoS 1
// or 2 message is acknowledged to the broker only when the pipeline calls Ack, once it is durable.
func (s *Subscriber) deliver(m paho.Message) {
	msg := ingest.Message{Topic: m.Topic(), Payload: m.Payload(), Received: time.Now()}
	if m.Qos() > 0 {
		msg.Ack = m.Ack
	}
	s.sink(msg)
}

// onConnect subscribes after each connection, the first and every automatic reconnection: the broker may have
// lost the persistent session meanwhile (restarted without persistence, or the session expired).
//
// When the subscription fails, it disconnects and connects again after a pause. paho reconnects by itself only
// after a lost connection, not after Disconnect, so the connection is made here.
func (s *Subscriber) onConnect(handler paho.MessageHandler) {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	c, stop := s.client, s.stop
	filters := map[string]byte{ingest.TopicStatus + "+": 1}
	if !s.left {
		filters[ReadingsFilter(s.cfg.Group)] = 1
	}
	s.busy.Add(1)
	s.mu.Unlock()
	defer s.busy.Done()

	log := s.cfg.Log
	err := subscribe(c, filters, handler)
	if err == nil {
		s.mu.Lock()
		s.pause = firstRetryDelay
		s.mu.Unlock()
		log.Info("ingest: subscribed", "broker", s.cfg.URL, "client_id", s.cfg.ClientID, "filters", slices.Sorted(maps.Keys(filters)))
		return
	}
	log.Error("ingest: subscribe failed; connecting again", "broker", s.cfg.URL, "err", err, "in", s.nextPause())
	c.Disconnect(0)
	for {
		if !s.sleep(stop) {
			return
		}
		s.mu.Lock()
		if s.stopped {
			s.mu.Unlock()
			return
		}
		t := c.Connect() // paho retries until it connects (or Run disconnects it); then onConnect runs again
		s.mu.Unlock()
		select {
		case <-t.Done(): // at once: paho refused to start connecting (still disconnecting, say)
			if err := t.Error(); err != nil {
				log.Error("ingest: could not connect again; trying later", "broker", s.cfg.URL, "err", err, "in", s.nextPause())
				continue
			}
		default:
		}
		return
	}
}

// nextPause is the pause before the next retry: it doubles from firstRetryDelay up to maxRetryDelay while
// retries keep failing.
func (s *Subscriber) nextPause() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pause
}

// sleep waits out the pause and doubles the next one; it returns false when Run ends first.
func (s *Subscriber) sleep(stop <-chan struct{}) bool {
	s.mu.Lock()
	pause := s.pause
	s.pause = min(2*pause, maxRetryDelay)
	s.mu.Unlock()
	t := time.NewTimer(pause)
	defer t.Stop()
	select {
	case <-stop:
		return false
	case <-t.C:
		return true
	}
}

// subscribe asks for filters and waits for the broker's answer. A filter the broker refused (return code
// 0x80: its ACL, say) fails like a timeout does; paho reports neither as the token's error.
func subscribe(c client, filters map[string]byte, handler paho.MessageHandler) error {
	t := c.SubscribeMultiple(filters, handler)
	if !t.WaitTimeout(subscribeTimeout) {
		return fmt.Errorf("no SUBACK within %s", subscribeTimeout)
	}
	if err := t.Error(); err != nil {
		return err
	}
	if r, ok := t.(interface{ Result() map[string]byte }); ok {
		var refused []string
		for f, code := range r.Result() {
			if code >= 0x80 {
				refused = append(refused, f)
			}
		}
		if len(refused) > 0 {
			slices.Sort(refused)
			return fmt.Errorf("the broker refused the subscription to %s", strings.Join(refused, ", "))
		}
	}
	return nil
}

// shutdown ends Run: no connection is made again, the client disconnects, and onConnect handlers still running
// (waiting out a retry's pause, say) return.
func (s *Subscriber) shutdown(c client) {
	s.mu.Lock()
	s.stopped = true
	close(s.stop)
	s.mu.Unlock()
	c.Disconnect(500)
	s.busy.Wait()
}

// Leave unsubscribes from readings, so that while this process drains and stops, the broker gives its share to
// the other members of the shared subscription instead of queueing it for this session; a reconnection meanwhile
// does not join it again. Messages already sent here are still processed and acknowledged; Run subscribes
// again on the next start. It gives up after timeout, and does nothing while the connection is down.
func (s *Subscriber) Leave(timeout time.Duration) {
	s.mu.Lock()
	s.left = true
	c := s.client
	s.mu.Unlock()
	if c == nil || !c.IsConnectionOpen() {
		return
	}
	t := c.Unsubscribe(ReadingsFilter(s.cfg.Group))
	err := fmt.Errorf("no UNSUBACK within %s", timeout)
	if t.WaitTimeout(timeout) {
		err = t.Error()
	}
	if err != nil {
		s.cfg.Log.Warn("ingest: could not leave the shared subscription before stopping", "err", err)
	}
}
