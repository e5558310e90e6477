package mqttsub

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
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

// openBuffered dials tcp://, mqtt:// and TLS brokers (IsTLS) with buffering; TLS coalesces records too.
func openBuffered(u *url.URL, o paho.ClientOptions) (net.Conn, error) {
	secure := IsTLS(u.String())
	if !secure && u.Scheme != "tcp" && u.Scheme != "mqtt" && u.Scheme != "" {
		return nil, fmt.Errorf("unsupported scheme %q", u.Scheme)
	}
	host := u.Host
	if u.Port() == "" {
		port := "1883"
		if secure {
			port = "8883"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	d := net.Dialer{Timeout: o.ConnectTimeout}
	conn, err := d.Dial("tcp", host)
	if err != nil {
		return nil, err
	}
	if secure {
		tc := &tls.Config{}
		if o.TLSConfig != nil {
			tc = o.TLSConfig.Clone()
		}
		if tc.ServerName == "" {
			tc.ServerName = u.Hostname()
		}
		tconn := tls.Client(conn, tc)
		ctx, cancel := context.WithTimeout(context.Background(), max(o.ConnectTimeout, 10*time.Second))
		err := tconn.HandshakeContext(ctx)
		cancel()
		if err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("TLS handshake with %s: %w", host, err)
		}
		conn = tconn
	}
	return &bufferedConn{Conn: conn, r: bufio.NewReaderSize(conn, 64<<10)}, nil
}

// WithBuffering makes paho read and write through buffers on plain TCP and TLS brokers (the subscriber always
// does); the options' TLSConfig applies.
func WithBuffering(o *paho.ClientOptions, brokerURL string) *paho.ClientOptions {
	if u, err := url.Parse(brokerURL); err == nil && (u.Scheme == "tcp" || u.Scheme == "mqtt" || IsTLS(brokerURL)) {
		o.SetCustomOpenConnectionFn(openBuffered)
	}
	return o
}

// IsTLS says whether a broker URL asks for TLS (the schemes paho accepts for it: ssl, tls, mqtts, mqtt+ssl,
// tcps).
func IsTLS(brokerURL string) bool {
	u, err := url.Parse(brokerURL)
	if err != nil {
		return false
	}
	switch u.Scheme {
	case "ssl", "tls", "mqtts", "mqtt+ssl", "tcps":
		return true
	}
	return false
}

// ClientTLS is the TLS configuration of the platform's clients of an external broker: the CA that signed the
// broker's certificate (empty: the system's roots) and an optional client certificate and key (PEM files).
// It is nil when all three are empty.
func ClientTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	if caFile == "" && certFile == "" && keyFile == "" {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		b, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read the MQTT CA file: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("the MQTT CA file %s holds no PEM certificate", caFile)
		}
	}
	if certFile != "" || keyFile != "" {
		if certFile == "" || keyFile == "" {
			return nil, errors.New("an MQTT client certificate needs both the certificate and the key file")
		}
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("MQTT client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
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
