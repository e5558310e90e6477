package broker

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// gate counts open connections, in all and per source address, over every listener of a broker.
type gate struct {
	lim Limits
	m   *metrics

	mu      sync.Mutex
	total   int
	perAddr map[string]int
}

func (g *gate) enter(host string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.lim.MaxConnections > 0 && g.total >= g.lim.MaxConnections {
		return reasonTooMany
	}
	if g.lim.MaxConnectionsPerAddr > 0 && g.perAddr[host] >= g.lim.MaxConnectionsPerAddr {
		return reasonTooManyFromAddr
	}
	g.total++
	g.perAddr[host]++
	g.m.open.Inc()
	return ""
}

func (g *gate) leave(host string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.total--
	if g.perAddr[host]--; g.perAddr[host] <= 0 {
		delete(g.perAddr, host)
	}
	g.m.open.Dec()
}

// listener is a mochi listener on a bound TCP socket, optionally TLS, that applies the connection half of
// Limits: caps on connections, a deadline for TLS and CONNECT, a bound on the first packet before anything is
// authenticated, a bound on every write, and a retry instead of an exit when accept fails (too many open files
// must not end the broker's listening for good).
type listener struct {
	id   string
	ln   net.Listener
	tls  *tls.Config
	gate *gate
	log  *slog.Logger

	closed  atomic.Bool
	mu      sync.Mutex
	conns   map[*conn]struct{}
	lastLog atomic.Int64
}

func newListener(id string, ln net.Listener, tlsConf *tls.Config, g *gate) *listener {
	return &listener{id: id, ln: ln, tls: tlsConf, gate: g, conns: map[*conn]struct{}{}, log: slog.Default()}
}

func (l *listener) ID() string      { return l.id }
func (l *listener) Address() string { return l.ln.Addr().String() }

func (l *listener) Protocol() string {
	if l.tls != nil {
		return "tls"
	}
	return "tcp"
}

// Init takes the logger; the socket is already bound.
func (l *listener) Init(log *slog.Logger) error {
	l.log = log
	return nil
}

// Serve accepts connections until Close.
func (l *listener) Serve(establish listeners.EstablishFn) {
	for {
		raw, err := l.ln.Accept()
		if err != nil {
			if l.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			l.log.Warn("mqtt: accept failed; retrying", "err", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		c := l.admit(raw)
		if c == nil {
			continue
		}
		go func() {
			err := establish(l.id, c)
			_ = c.Close()
			if r := c.reasonFor(err); r != "" {
				l.gate.m.closed.WithLabelValues(r).Inc()
				l.logGuard(r, c)
			}
		}()
	}
}

func (l *listener) admit(raw net.Conn) *conn {
	host := raw.RemoteAddr().String()
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if r := l.gate.enter(host); r != "" {
		_ = raw.Close()
		l.gate.m.closed.WithLabelValues(r).Inc()
		l.logGuard(r, nil)
		return nil
	}
	lim := l.gate.lim
	if lim.ConnectTimeout > 0 {
		_ = raw.SetDeadline(time.Now().Add(lim.ConnectTimeout)) // mochi replaces the read deadline after CONNECT
	}
	var nc net.Conn = raw
	if l.tls != nil {
		nc = tls.Server(raw, l.tls)
	}
	c := &conn{Conn: nc, l: l, host: host, writeTimeout: lim.WriteTimeout}
	l.mu.Lock()
	if l.closed.Load() {
		l.mu.Unlock()
		_ = c.Close()
		return nil
	}
	l.conns[c] = struct{}{}
	l.mu.Unlock()
	return c
}

// logGuard logs a guard's refusal, at most once a second (a flood must not flood the log too).
func (l *listener) logGuard(reason string, c *conn) {
	now := time.Now().UnixNano()
	last := l.lastLog.Load()
	if now-last < int64(time.Second) || !l.lastLog.CompareAndSwap(last, now) {
		return
	}
	args := []any{"reason", reason, "listener", l.id}
	if c != nil {
		args = append(args, "remote", c.RemoteAddr().String())
	}
	l.log.Warn("mqtt: connection refused or closed by a limit (further ones this second are only counted)", args...)
}

// Close stops accepting, disconnects the clients (mochi's closeClients) and closes what has not sent a CONNECT
// yet, so that the broker's wait for its connections ends.
func (l *listener) Close(closeClients listeners.CloseFn) {
	if !l.closed.CompareAndSwap(false, true) {
		return
	}
	_ = l.ln.Close()
	closeClients(l.id)
	l.mu.Lock()
	conns := make([]*conn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// conn is one client connection. Read inspects the first packet's fixed header as it passes (it must be a
// CONNECT of at most maxConnectPacket bytes; mochi itself checks every later packet's length against
// MaximumPacketSize before allocating for it), and Write bounds each write by writeTimeout.
type conn struct {
	net.Conn
	l            *listener
	host         string
	writeTimeout time.Duration
	deadlineSet  atomic.Int64 // when the write deadline was last moved (unix nanoseconds)
	once         sync.Once
	reason       atomic.Pointer[string]

	// The first packet, as seen by mochi's reading goroutine (the only reader).
	first     bool // the whole first packet has been read
	hdrLen    int  // bytes of its fixed header seen
	remaining int
	shift     uint
	left      int // bytes of it still to come once the header is known
}

var (
	errFirstNotConnect = errors.New("the first packet is not a CONNECT")
	errConnectTooLarge = errors.New("CONNECT packet too large")
)

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if !c.first && n > 0 {
		if r, ferr := c.inspect(p[:n]); ferr != nil {
			c.setReason(r)
			_ = c.Conn.Close()
			return 0, ferr
		}
	}
	return n, err
}

// inspect follows the first packet through b.
func (c *conn) inspect(b []byte) (string, error) {
	for i := 0; i < len(b) && !c.first; i++ {
		switch {
		case c.hdrLen == 0:
			if b[i]>>4 != packets.Connect {
				return reasonFirstNotConnect, errFirstNotConnect
			}
			c.hdrLen = 1
		case c.left == 0 && c.hdrLen < 5:
			c.hdrLen++
			c.remaining |= int(b[i]&0x7f) << c.shift
			c.shift += 7
			if c.remaining > maxConnectPacket {
				return reasonConnectTooLarge, errConnectTooLarge
			}
			if b[i]&0x80 == 0 {
				if c.left = c.remaining; c.left == 0 {
					c.first = true
				}
			} else if c.hdrLen == 5 {
				return reasonConnectTooLarge, errConnectTooLarge // a length prefix has at most four bytes
			}
		default:
			take := min(c.left, len(b)-i)
			c.left -= take
			i += take - 1
			if c.left == 0 {
				c.first = true
			}
		}
	}
	return "", nil
}

// Write moves the write deadline on only when a tenth of writeTimeout has passed since it last did (a deadline
// per write would cost a timer update for every acknowledgement): a stuck write fails between 0.9 and 1 times
// writeTimeout after it began.
func (c *conn) Write(p []byte) (int, error) {
	if c.writeTimeout > 0 {
		now := time.Now().UnixNano()
		if last := c.deadlineSet.Load(); now-last > int64(c.writeTimeout/10) && c.deadlineSet.CompareAndSwap(last, now) {
			_ = c.Conn.SetWriteDeadline(time.Unix(0, now).Add(c.writeTimeout))
		}
	}
	n, err := c.Conn.Write(p)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		c.setReason(reasonWriteTimeout)
		_ = c.Conn.Close()
	}
	return n, err
}

// SetDeadline is mochi setting the keepalive deadline after every packet it reads. With a write timeout it
// applies to reads only: a client that keeps publishing must not keep a stuck write to it alive.
func (c *conn) SetDeadline(t time.Time) error {
	if c.writeTimeout > 0 {
		return c.Conn.SetReadDeadline(t)
	}
	return c.Conn.SetDeadline(t)
}

func (c *conn) setReason(r string) { c.reason.CompareAndSwap(nil, &r) }

// reasonFor names the guard that ended the connection, if one did.
func (c *conn) reasonFor(err error) string {
	if r := c.reason.Load(); r != nil {
		return *r
	}
	switch {
	case errors.Is(err, packets.ErrPacketTooLarge):
		return reasonPacketTooLarge
	case !c.first && errors.Is(err, os.ErrDeadlineExceeded):
		return reasonConnectTimeout
	}
	return ""
}

func (c *conn) Close() error {
	var err error
	c.once.Do(func() {
		err = c.Conn.Close()
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
		c.l.gate.leave(c.host)
	})
	return err
}
