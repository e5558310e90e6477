package mqttsub

import (
	"bufio"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// paho reads every packet straight from the socket, a few bytes at a time, and writes every acknowledgement
// with its own system call; at tens of thousands of messages a second those system calls were a third of
// ingest's CPU. bufferedConn reads through a buffer and coalesces writes made within flushDelay into one.
const flushDelay = 200 * time.Microsecond

type bufferedConn struct {
	net.Conn
	r *bufio.Reader

	mu        sync.Mutex
	w         []byte
	scheduled bool
	err       error
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// Write queues p and returns; the queue goes out within flushDelay, or at once when it is large. A write
// error is reported by the next Write (paho then drops the connection; anything unacknowledged is delivered
// again by the broker).
func (c *bufferedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	c.w = append(c.w, p...)
	if len(c.w) >= 32<<10 {
		c.flushLocked()
		return len(p), c.err
	}
	if !c.scheduled {
		c.scheduled = true
		time.AfterFunc(flushDelay, c.flush)
	}
	return len(p), nil
}

func (c *bufferedConn) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.scheduled = false
	c.flushLocked()
}

func (c *bufferedConn) flushLocked() {
	if len(c.w) == 0 || c.err != nil {
		return
	}
	_ = c.Conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	_, c.err = c.Conn.Write(c.w)
	c.w = c.w[:0]
}

// Close sends what is queued (a DISCONNECT, say), then closes.
func (c *bufferedConn) Close() error {
	c.mu.Lock()
	c.flushLocked()
	c.mu.Unlock()
	return c.Conn.Close()
}

// openBuffered dials tcp:// and mqtt:// brokers with buffering; other schemes (TLS, websockets) are left to
// paho.
func openBuffered(u *url.URL, o paho.ClientOptions) (net.Conn, error) {
	switch u.Scheme {
	case "tcp", "mqtt", "":
	default:
		return nil, fmt.Errorf("unsupported scheme %q", u.Scheme)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "1883")
	}
	d := net.Dialer{Timeout: o.ConnectTimeout}
	conn, err := d.Dial("tcp", host)
	if err != nil {
		return nil, err
	}
	return &bufferedConn{Conn: conn, r: bufio.NewReaderSize(conn, 64<<10)}, nil
}

// WithBuffering makes paho read and write through buffers on plain TCP brokers (the subscriber always does).
func WithBuffering(o *paho.ClientOptions, brokerURL string) *paho.ClientOptions {
	if u, err := url.Parse(brokerURL); err == nil && (u.Scheme == "tcp" || u.Scheme == "mqtt") {
		o.SetCustomOpenConnectionFn(openBuffered)
	}
	return o
}

// noStore is a paho Store that keeps nothing. The subscriber publishes nothing, and what it received but did
// not acknowledge the broker sends again after a reconnect, so paho's copy of each packet (a map insert and
// delete per message, and the acknowledgement's too) buys nothing.
type noStore struct{}

func (noStore) Open()                             {}
func (noStore) Put(string, packets.ControlPacket) {}
func (noStore) Get(string) packets.ControlPacket  { return nil }
func (noStore) All() []string                     { return nil }
func (noStore) Del(string)                        {}
func (noStore) Close()                            {}
func (noStore) Reset()                            {}
