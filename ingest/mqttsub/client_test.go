package mqttsub

import (
	"bytes"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// fakeClient stands in for paho at the seam. Each method notes its call, then calls its func field; a nil
// field does nothing and returns a completed token (IsConnectionOpen: true).
type fakeClient struct {
	ConnectF           func() paho.Token
	DisconnectF        func(quiesce uint)
	IsConnectionOpenF  func() bool
	SubscribeMultipleF func(filters map[string]byte, callback paho.MessageHandler) paho.Token
	UnsubscribeF       func(topics ...string) paho.Token
	PublishF           func(topic string, qos byte, retained bool, payload any) paho.Token

	mu    sync.Mutex
	calls []string
}

var _ client = (*fakeClient)(nil)

func (c *fakeClient) note(call string) {
	c.mu.Lock()
	c.calls = append(c.calls, call)
	c.mu.Unlock()
}

// Calls lists the calls so far, by method name (Unsubscribe with its topics).
func (c *fakeClient) Calls() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.calls...)
}

// Count counts the calls to one method.
func (c *fakeClient) Count(method string) int {
	n := 0
	for _, call := range c.Calls() {
		if call == method || strings.HasPrefix(call, method+" ") {
			n++
		}
	}
	return n
}

func (c *fakeClient) Connect() paho.Token {
	c.note("Connect")
	if c.ConnectF == nil {
		return doneToken(nil)
	}
	return c.ConnectF()
}

func (c *fakeClient) Disconnect(quiesce uint) {
	c.note("Disconnect")
	if c.DisconnectF != nil {
		c.DisconnectF(quiesce)
	}
}

func (c *fakeClient) IsConnectionOpen() bool {
	if c.IsConnectionOpenF == nil {
		return true
	}
	return c.IsConnectionOpenF()
}

func (c *fakeClient) SubscribeMultiple(filters map[string]byte, callback paho.MessageHandler) paho.Token {
	c.note("SubscribeMultiple")
	if c.SubscribeMultipleF == nil {
		return doneToken(nil)
	}
	return c.SubscribeMultipleF(filters, callback)
}

func (c *fakeClient) Unsubscribe(topics ...string) paho.Token {
	c.note("Unsubscribe " + strings.Join(topics, " "))
	if c.UnsubscribeF == nil {
		return doneToken(nil)
	}
	return c.UnsubscribeF(topics...)
}

func (c *fakeClient) Publish(topic string, qos byte, retained bool, payload any) paho.Token {
	c.note("Publish")
	if c.PublishF == nil {
		return doneToken(nil)
	}
	return c.PublishF(topic, qos, retained, payload)
}

// fakeToken is a paho token that completes when the test says (complete), or never: then WaitTimeout times out
// as paho's does, with no error set. result is a subscription's return codes, as paho's SubscribeToken has.
type fakeToken struct {
	done   chan struct{}
	err    error
	result map[string]byte
}

func pendingToken() *fakeToken { return &fakeToken{done: make(chan struct{})} }

func doneToken(err error) *fakeToken {
	t := pendingToken()
	t.complete(err)
	return t
}

// subackToken is a completed subscription with these return codes (0x80: refused).
func subackToken(result map[string]byte) *fakeToken {
	t := pendingToken()
	t.result = result
	t.complete(nil)
	return t
}

func (t *fakeToken) complete(err error) {
	t.err = err
	close(t.done)
}

func (t *fakeToken) Wait() bool { <-t.done; return true }

func (t *fakeToken) WaitTimeout(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-t.done:
		return true
	case <-timer.C:
		return false
	}
}

func (t *fakeToken) Done() <-chan struct{}   { return t.done }
func (t *fakeToken) Error() error            { return t.err }
func (t *fakeToken) Result() map[string]byte { return t.result }

// fakeMessage is a message from the broker; acks counts its acknowledgements.
type fakeMessage struct {
	topic   string
	payload []byte
	qos     byte
	acks    atomic.Int32
}

var _ paho.Message = (*fakeMessage)(nil)

func (m *fakeMessage) Duplicate() bool   { return false }
func (m *fakeMessage) Qos() byte         { return m.qos }
func (m *fakeMessage) Retained() bool    { return false }
func (m *fakeMessage) Topic() string     { return m.topic }
func (m *fakeMessage) MessageID() uint16 { return 1 }
func (m *fakeMessage) Payload() []byte   { return m.payload }
func (m *fakeMessage) Ack()              { m.acks.Add(1) }

// logBuffer collects a logger's output for a test to read.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
