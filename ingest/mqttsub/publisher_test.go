package mqttsub

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

func newFakePublisher(fc *fakeClient) (*PahoPublisher, *paho.ClientOptions) {
	var opts *paho.ClientOptions
	p := newPahoPublisher(func(o *paho.ClientOptions) client { opts = o; return fc }, testURL, "suilong-pub", "u", "p", nil)
	return p, opts
}

// The publisher connects at once, on a clean session of its own, and disconnects on Close.
func TestPahoPublisherConnection(t *testing.T) {
	fc := &fakeClient{}
	p, o := newFakePublisher(fc)
	if n := fc.Count("Connect"); n != 1 {
		t.Fatalf("Connect called %d times by NewPahoPublisher, want 1", n)
	}
	if !o.CleanSession || o.ClientID != "suilong-pub" || o.Username != "u" || o.Password != "p" || !o.AutoReconnect {
		t.Fatalf("options: clean %v, client id %q, user %q, password %q, auto-reconnect %v", o.CleanSession, o.ClientID,
			o.Username, o.Password, o.AutoReconnect)
	}
	if o.CustomOpenConnectionFn == nil {
		t.Fatal("the publisher's connection is not buffered")
	}
	p.Close()
	if n := fc.Count("Disconnect"); n != 1 {
		t.Fatalf("Close disconnected %d times, want 1", n)
	}
}

func TestPahoPublisherPublish(t *testing.T) {
	type publish struct {
		topic   string
		qos     byte
		retain  bool
		payload any
	}
	lost := errors.New("connection lost")
	t.Run("passes the message on and returns the answer", func(t *testing.T) {
		for _, answer := range []error{nil, lost} {
			var got publish
			fc := &fakeClient{PublishF: func(topic string, qos byte, retain bool, payload any) paho.Token {
				got = publish{topic, qos, retain, payload}
				return doneToken(answer)
			}}
			p, _ := newFakePublisher(fc)
			err := p.Publish(context.Background(), "coldchain/v1/alarms/LY-1", []byte(`{"a":1}`), 1, true)
			if !errors.Is(err, answer) {
				t.Fatalf("Publish returned %v, want %v", err, answer)
			}
			if b, ok := got.payload.([]byte); !ok || string(b) != `{"a":1}` || got.topic != "coldchain/v1/alarms/LY-1" || got.qos != 1 || !got.retain {
				t.Fatalf("published %+v", got)
			}
		}
	})
	t.Run("refuses while not connected", func(t *testing.T) {
		fc := &fakeClient{IsConnectionOpenF: func() bool { return false }}
		p, _ := newFakePublisher(fc)
		if err := p.Publish(context.Background(), "t", nil, 1, false); err == nil {
			t.Fatal("Publish succeeded while not connected")
		}
		if n := fc.Count("Publish"); n != 0 {
			t.Fatalf("handed %d messages to paho while not connected", n)
		}
	})
	t.Run("returns when ctx ends before the broker answers", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			fc := &fakeClient{PublishF: func(string, byte, bool, any) paho.Token { return pendingToken() }}
			p, _ := newFakePublisher(fc)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			began := time.Now()
			if err := p.Publish(ctx, "t", nil, 1, false); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Publish returned %v, want the deadline's error", err)
			}
			if d := time.Since(began); d != 3*time.Second {
				t.Fatalf("Publish returned after %s, want 3s", d)
			}
		})
	})
	t.Run("publishes nothing once ctx has ended", func(t *testing.T) {
		fc := &fakeClient{}
		p, _ := newFakePublisher(fc)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := p.Publish(ctx, "t", nil, 1, false); !errors.Is(err, context.Canceled) {
			t.Fatalf("Publish returned %v, want context.Canceled", err)
		}
		if n := fc.Count("Publish"); n != 0 {
			t.Fatalf("handed %d messages to paho after ctx ended", n)
		}
	})
}
