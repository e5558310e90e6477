package mqttsub

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/suilong/suilong/ingest"
)

// These tests drive the Subscriber through the seam, for what a real broker seldom does on cue: refuse a
// subscription, never answer one, reconnect. They run in a synctest bubble, so the pauses and timeouts take
// no real time and are exact. source_test.go and tls_test.go run the real paho against real brokers.

const testURL = "tcp://broker.test:1883"

// rig runs a Subscriber on a fakeClient. Like paho, the fake runs the OnConnect handler on a goroutine of its
// own after each connection; by default Connect succeeds and every subscription is granted.
type rig struct {
	fc  *fakeClient
	sub *Subscriber
	log *logBuffer

	mu       sync.Mutex
	opts     *paho.ClientOptions
	subs     []map[string]byte
	callback paho.MessageHandler
	answer   func(n int, filters map[string]byte) paho.Token // the nth subscription's answer (n from 1)

	cancel  context.CancelFunc
	done    chan error
	stopped sync.Once
	err     error
}

func newRig(group string, sink Sink) *rig {
	r := &rig{fc: &fakeClient{}, log: &logBuffer{}}
	r.sub = NewSubscriber(SubscriberConfig{URL: testURL, ClientID: "ingest-1", Username: "u", Password: "p", Group: group,
		Log: slog.New(slog.NewTextHandler(r.log, nil))}, sink)
	r.sub.newClient = func(o *paho.ClientOptions) client {
		r.mu.Lock()
		r.opts = o
		r.mu.Unlock()
		return r.fc
	}
	r.fc.ConnectF = func() paho.Token {
		r.reconnected()
		return doneToken(nil)
	}
	r.fc.SubscribeMultipleF = func(filters map[string]byte, cb paho.MessageHandler) paho.Token {
		r.mu.Lock()
		r.subs = append(r.subs, maps.Clone(filters))
		r.callback = cb
		n, answer := len(r.subs), r.answer
		r.mu.Unlock()
		if answer != nil {
			return answer(n, filters)
		}
		return subackToken(filters)
	}
	return r
}

func (r *rig) options() *paho.ClientOptions {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.opts
}

// reconnected is paho's report of a connection made, by Connect or by its automatic reconnection.
func (r *rig) reconnected() { go r.options().OnConnect(nil) }

func (r *rig) subscriptions() []map[string]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.subs)
}

func (r *rig) deliver(m paho.Message) {
	r.mu.Lock()
	cb := r.callback
	r.mu.Unlock()
	cb(nil, m)
}

// run starts Run and waits until everything in the bubble is blocked. A test that fails stops it at cleanup, so
// that the bubble ends.
func (r *rig) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan error, 1)
	go func() { r.done <- r.sub.Run(ctx) }()
	t.Cleanup(func() { _ = r.stop() })
	synctest.Wait()
}

// stop ends Run and returns its error.
func (r *rig) stop() error {
	r.stopped.Do(func() {
		r.cancel()
		r.err = <-r.done
	})
	return r.err
}

func wantFilters(group string) map[string]byte {
	return map[string]byte{ReadingsFilter(group): 1, ingest.TopicStatus + "+": 1}
}

func TestReadingsFilter(t *testing.T) {
	tests := []struct{ group, want string }{
		{"", "coldchain/v1/readings/+"},
		{"suilong-ingest", "$share/suilong-ingest/coldchain/v1/readings/+"},
	}
	for _, tt := range tests {
		if got := ReadingsFilter(tt.group); got != tt.want {
			t.Errorf("ReadingsFilter(%q) = %q, want %q", tt.group, got, tt.want)
		}
	}
}

// A broker that lost the session (restarted without persistence, or the session expired) has no subscription
// after a reconnection: the subscriber subscribes again after every one that paho reports.
func TestSubscriberSubscribesOnEveryConnection(t *testing.T) {
	for _, group := range []string{"", "suilong-ingest"} {
		t.Run("group="+group, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newRig(group, func(ingest.Message) bool { return true })
				r.run(t)
				r.reconnected()
				synctest.Wait()
				r.reconnected()
				synctest.Wait()
				subs := r.subscriptions()
				if len(subs) != 3 {
					t.Fatalf("%d subscriptions after a connection and two reconnections, want 3", len(subs))
				}
				for i, s := range subs {
					if !maps.Equal(s, wantFilters(group)) {
						t.Fatalf("subscription %d: %v, want %v", i+1, s, wantFilters(group))
					}
				}
				if n := r.fc.Count("Connect"); n != 1 {
					t.Fatalf("Connect called %d times: reconnecting is paho's, after a lost connection", n)
				}
				if n := r.fc.Count("Disconnect"); n != 0 {
					t.Fatalf("disconnected %d times while every subscription was granted", n)
				}
				if err := r.stop(); err != nil {
					t.Fatal(err)
				}
				if calls := r.fc.Calls(); r.fc.Count("Disconnect") != 1 || calls[len(calls)-1] != "Disconnect" {
					t.Fatalf("Run did not end with one Disconnect: %v", calls)
				}
			})
		})
	}
}

// A subscription that fails, is never answered, or is refused (which paho does not report as an error) is no
// subscription: the subscriber disconnects and, since paho reconnects by itself only after a lost connection,
// connects again itself after a pause; then it subscribes again.
func TestSubscriberConnectsAgainWhenSubscriptionFails(t *testing.T) {
	const group = "suilong-ingest"
	tests := []struct {
		name    string
		answer  func(filters map[string]byte) paho.Token
		waited  time.Duration // for the answer
		wantLog string
	}{
		{"broker error", func(map[string]byte) paho.Token { return doneToken(errors.New("connection lost")) }, 0,
			"connection lost"},
		{"no SUBACK", func(map[string]byte) paho.Token { return pendingToken() }, subscribeTimeout,
			"no SUBACK within 10s"},
		{"readings refused", func(f map[string]byte) paho.Token {
			codes := maps.Clone(f)
			codes[ReadingsFilter(group)] = 0x80
			return subackToken(codes)
		}, 0, "the broker refused the subscription to " + ReadingsFilter(group)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newRig(group, func(ingest.Message) bool { return true })
				r.answer = func(n int, f map[string]byte) paho.Token {
					if n == 1 {
						return tt.answer(f)
					}
					return subackToken(f)
				}
				r.run(t)
				if tt.waited > 0 {
					time.Sleep(tt.waited - time.Nanosecond)
					synctest.Wait()
					if n := r.fc.Count("Disconnect"); n != 0 {
						t.Fatalf("disconnected before the subscription's %s were over", tt.waited)
					}
					time.Sleep(time.Nanosecond)
					synctest.Wait()
				}
				if got, want := r.fc.Calls(), []string{"Connect", "SubscribeMultiple", "Disconnect"}; !slices.Equal(got, want) {
					t.Fatalf("after the failed subscription: %v, want %v", got, want)
				}
				time.Sleep(time.Second - time.Nanosecond)
				synctest.Wait()
				if n := r.fc.Count("Connect"); n != 1 {
					t.Fatal("connected again before the pause was over")
				}
				time.Sleep(time.Nanosecond)
				synctest.Wait()
				want := []string{"Connect", "SubscribeMultiple", "Disconnect", "Connect", "SubscribeMultiple"}
				if got := r.fc.Calls(); !slices.Equal(got, want) {
					t.Fatalf("one second after the failed subscription: %v, want %v", got, want)
				}
				if s := r.subscriptions(); !maps.Equal(s[1], wantFilters(group)) {
					t.Fatalf("subscribed again to %v, want %v", s[1], wantFilters(group))
				}
				if l := r.log.String(); !strings.Contains(l, "subscribe failed") || !strings.Contains(l, tt.wantLog) {
					t.Fatalf("the log does not say why the subscription failed (%q):\n%s", tt.wantLog, l)
				}
				if err := r.stop(); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

// While the subscription keeps failing (a broker's ACL refusing it, say), the pauses double up to 10 s rather
// than hammering the broker; once one succeeds, the next failure waits 1 s again.
func TestSubscriberRetryPausesGrow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var connects []time.Duration
		began := time.Now()
		refuse := func(f map[string]byte) paho.Token {
			codes := maps.Clone(f)
			codes[ReadingsFilter("")] = 0x80
			return subackToken(codes)
		}
		r := newRig("", func(ingest.Message) bool { return true })
		r.answer = func(n int, f map[string]byte) paho.Token {
			if n <= 6 || n == 8 {
				return refuse(f)
			}
			return subackToken(f)
		}
		r.fc.ConnectF = func() paho.Token {
			mu.Lock()
			connects = append(connects, time.Since(began))
			mu.Unlock()
			r.reconnected()
			return doneToken(nil)
		}
		r.run(t)
		time.Sleep(time.Minute)
		synctest.Wait()
		r.reconnected() // paho's reconnection after a lost connection: subscription 8 is refused
		synctest.Wait()
		reconnectedAt := time.Since(began)
		time.Sleep(time.Minute)
		synctest.Wait()
		s := time.Second
		want := []time.Duration{0, s, 3 * s, 7 * s, 15 * s, 25 * s, 35 * s, reconnectedAt + s}
		mu.Lock()
		got := slices.Clone(connects)
		mu.Unlock()
		if !slices.Equal(got, want) {
			t.Fatalf("connected at %v, want %v", got, want)
		}
		if n := len(r.subscriptions()); n != 9 {
			t.Fatalf("%d subscriptions, want 9", n)
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

// paho refuses to start connecting while it is still disconnecting: the subscriber tries again after the next
// pause instead of staying disconnected.
func TestSubscriberRetriesAConnectPahoRefuses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var connects []time.Duration
		began := time.Now()
		r := newRig("", func(ingest.Message) bool { return true })
		r.answer = func(n int, f map[string]byte) paho.Token {
			if n == 1 {
				return doneToken(errors.New("connection lost"))
			}
			return subackToken(f)
		}
		r.fc.ConnectF = func() paho.Token {
			mu.Lock()
			connects = append(connects, time.Since(began))
			n := len(connects)
			mu.Unlock()
			if n == 2 {
				return doneToken(errors.New("status must be disconnected"))
			}
			r.reconnected()
			return doneToken(nil)
		}
		r.run(t)
		time.Sleep(time.Minute)
		synctest.Wait()
		mu.Lock()
		got := slices.Clone(connects)
		mu.Unlock()
		if want := []time.Duration{0, time.Second, 3 * time.Second}; !slices.Equal(got, want) {
			t.Fatalf("connected at %v, want %v", got, want)
		}
		if n := len(r.subscriptions()); n != 2 {
			t.Fatalf("%d subscriptions, want 2", n)
		}
		if !strings.Contains(r.log.String(), "status must be disconnected") {
			t.Fatalf("the log does not say why connecting again failed:\n%s", r.log.String())
		}
	})
}

// Run ending during a retry's pause ends the retrying: Run returns without waiting the pause out, nothing
// connects afterwards, and a connection paho reports late is not subscribed.
func TestSubscriberStopsRetryingWhenRunEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig("", func(ingest.Message) bool { return true })
		r.answer = func(int, map[string]byte) paho.Token { return doneToken(errors.New("connection lost")) }
		r.run(t)
		began := time.Now()
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(began); d != 0 {
			t.Fatalf("Run took %s to end during a retry's pause", d)
		}
		r.reconnected()
		time.Sleep(time.Minute)
		synctest.Wait()
		if got, want := r.fc.Calls(), []string{"Connect", "SubscribeMultiple", "Disconnect", "Disconnect"}; !slices.Equal(got, want) {
			t.Fatalf("calls %v, want %v", got, want)
		}
	})
}

// Acknowledged means stored: paho's automatic acks are off, the session is persistent (so that what was not
// acknowledged is sent again), a QoS 1 or 2 message reaches the pipeline with its Ack, and only the pipeline
// acknowledges it. A QoS 0 message has nothing to acknowledge.
func TestSubscriberLeavesAcksToThePipeline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var got []ingest.Message
		stopping := false
		sink := func(m ingest.Message) bool {
			mu.Lock()
			defer mu.Unlock()
			if stopping {
				return false
			}
			got = append(got, m)
			return true
		}
		last := func() ingest.Message {
			mu.Lock()
			defer mu.Unlock()
			return got[len(got)-1]
		}
		r := newRig("g", sink)
		r.run(t)
		o := r.options()
		if !o.AutoAckDisabled {
			t.Fatal("paho would acknowledge each message on receipt, before it is durable")
		}
		if o.CleanSession {
			t.Fatal("a clean session: the broker would drop what was not acknowledged when the connection breaks")
		}
		if _, ok := o.Store.(noStore); !ok {
			t.Fatalf("store %T, want noStore", o.Store)
		}
		if o.CustomOpenConnectionFn == nil {
			t.Fatal("the subscriber's connection is not buffered")
		}

		// Through the subscription's handler, and through the default one (a persistent session's messages can
		// arrive before the subscription is made again).
		deliveries := []struct {
			name    string
			deliver func(paho.Message)
			qos     byte
		}{
			{"QoS 0", r.deliver, 0},
			{"QoS 1", r.deliver, 1},
			{"QoS 2", r.deliver, 2},
			{"QoS 1 before subscribing", func(m paho.Message) { o.DefaultPublishHandler(nil, m) }, 1},
		}
		for _, d := range deliveries {
			m := &fakeMessage{topic: ingest.TopicReadings + "GW-1", payload: []byte(d.name), qos: d.qos}
			d.deliver(m)
			g := last()
			if g.Topic != m.topic || string(g.Payload) != d.name {
				t.Fatalf("%s: the pipeline got %q on %q", d.name, g.Payload, g.Topic)
			}
			if d.qos == 0 {
				if g.Ack != nil {
					t.Fatalf("%s: handed to the pipeline with an Ack", d.name)
				}
				continue
			}
			if g.Ack == nil {
				t.Fatalf("%s: handed to the pipeline without its Ack", d.name)
			}
			if n := m.acks.Load(); n != 0 {
				t.Fatalf("%s: acknowledged %d times before the pipeline said it was durable", d.name, n)
			}
			g.Ack()
			if n := m.acks.Load(); n != 1 {
				t.Fatalf("%s: acknowledged %d times after the pipeline's Ack, want 1", d.name, n)
			}
		}

		// A stopping pipeline refuses the message: it stays unacknowledged, for the broker to send again.
		mu.Lock()
		stopping = true
		mu.Unlock()
		m := &fakeMessage{topic: ingest.TopicReadings + "GW-1", payload: []byte("late"), qos: 1}
		r.deliver(m)
		if n := m.acks.Load(); n != 0 {
			t.Fatalf("a message the pipeline refused was acknowledged %d times", n)
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

// Leave unsubscribes from the readings only (statuses keep coming while ingest drains), and does not hold up
// the shutdown: a connection that is down is left alone, and an unanswered UNSUBSCRIBE is given up after the
// timeout. Once left, a reconnection does not join the readings subscription again.
func TestSubscriberLeave(t *testing.T) {
	const group = "suilong-ingest"
	tests := []struct {
		name      string
		open      bool
		answer    func() paho.Token
		wantUnsub bool
		waited    time.Duration
		wantLog   string
	}{
		{"connected", true, func() paho.Token { return doneToken(nil) }, true, 0, ""},
		{"connection down", false, nil, false, 0, ""},
		{"no UNSUBACK", true, func() paho.Token { return pendingToken() }, true, 2 * time.Second, "no UNSUBACK within 2s"},
		{"broker error", true, func() paho.Token { return doneToken(errors.New("not connected")) }, true, 0, "not connected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newRig(group, func(ingest.Message) bool { return true })
				r.fc.IsConnectionOpenF = func() bool { return tt.open }
				if tt.answer != nil {
					r.fc.UnsubscribeF = func(...string) paho.Token { return tt.answer() }
				}
				r.run(t)
				began := time.Now()
				r.sub.Leave(2 * time.Second)
				if d := time.Since(began); d != tt.waited {
					t.Fatalf("Leave took %s, want %s", d, tt.waited)
				}
				var want []string
				if tt.wantUnsub {
					want = []string{"Unsubscribe " + ReadingsFilter(group)}
				}
				var got []string
				for _, c := range r.fc.Calls() {
					if strings.HasPrefix(c, "Unsubscribe") {
						got = append(got, c)
					}
				}
				if !slices.Equal(got, want) {
					t.Fatalf("unsubscribed %v, want %v", got, want)
				}
				if tt.wantLog != "" && !strings.Contains(r.log.String(), tt.wantLog) {
					t.Fatalf("the log does not say %q:\n%s", tt.wantLog, r.log.String())
				}

				r.reconnected()
				synctest.Wait()
				subs := r.subscriptions()
				if after := subs[len(subs)-1]; !maps.Equal(after, map[string]byte{ingest.TopicStatus + "+": 1}) {
					t.Fatalf("a reconnection after Leave subscribed to %v, want the statuses only", after)
				}
				if err := r.stop(); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
	t.Run("before Run", func(t *testing.T) {
		NewSubscriber(SubscriberConfig{URL: testURL}, func(ingest.Message) bool { return true }).Leave(time.Second)
	})
}

// Run reports a first connection that fails for good while ctx is live (with ConnectRetry paho keeps trying, so
// that is a connection given up); when ctx ends first, or meanwhile, Run returns nil, disconnected.
func TestSubscriberFirstConnection(t *testing.T) {
	refused := errors.New("not authorized")
	t.Run("fails", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := newRig("", func(ingest.Message) bool { return true })
			r.fc.ConnectF = func() paho.Token { return doneToken(refused) }
			r.run(t)
			err := r.stop()
			if !errors.Is(err, refused) || !strings.Contains(err.Error(), testURL) {
				t.Fatalf("Run returned %v, want the connection's error naming the broker", err)
			}
			if n := r.fc.Count("SubscribeMultiple"); n != 0 {
				t.Fatalf("subscribed %d times without a connection", n)
			}
		})
	})
	t.Run("ctx ends while connecting", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := newRig("", func(ingest.Message) bool { return true })
			r.fc.ConnectF = func() paho.Token { return pendingToken() }
			r.run(t)
			if err := r.stop(); err != nil {
				t.Fatalf("Run returned %v when ctx ended", err)
			}
			if got, want := r.fc.Calls(), []string{"Connect", "Disconnect"}; !slices.Equal(got, want) {
				t.Fatalf("calls %v, want %v", got, want)
			}
		})
	})
	t.Run("fails as ctx ends", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := newRig("", func(ingest.Message) bool { return true })
			ctx, cancel := context.WithCancel(context.Background())
			r.fc.ConnectF = func() paho.Token {
				cancel()
				return doneToken(paho.ErrNotConnected)
			}
			if err := r.sub.Run(ctx); err != nil {
				t.Fatalf("Run returned %v for a connection aborted by the shutdown", err)
			}
		})
	})
}
