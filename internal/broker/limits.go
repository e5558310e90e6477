package broker

import (
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// Limits bound what clients may take from the broker, so that a hostile or broken client costs the others
// nothing. A zero field sets no bound (what tests of other things want); `suilong serve` passes the configured
// ones, whose defaults are DefaultLimits.
type Limits struct {
	// MaxPacket is the largest packet a client may send, in bytes. The length prefix is checked before anything
	// is allocated for the packet; a larger packet closes the connection. MQTT 5 clients are told the bound.
	MaxPacket int
	// ConnectTimeout is how long a new connection has to complete TLS and send its whole CONNECT.
	ConnectTimeout time.Duration
	// MaxConnections bounds open connections in all, MaxConnectionsPerAddr those from one source address
	// (counted from accept, before CONNECT: what a flood of sockets costs is bounded either way).
	MaxConnections        int
	MaxConnectionsPerAddr int
	// MaxSubscriptions bounds a client's subscription filters; a SUBSCRIBE beyond it closes the connection.
	MaxSubscriptions int
	// MaxKeepalive replaces a client's keepalive when it asks for none (0) or a longer one, so that a silent
	// connection is closed after 1.5 times it (MQTT 5 clients are told the value).
	MaxKeepalive time.Duration
	// SessionExpiry is how long a disconnected client's persistent session (subscriptions, queued messages) is
	// kept; MQTT 5 clients asking for longer get this.
	SessionExpiry time.Duration
	// WriteTimeout bounds each write to a client. A client that stops reading is disconnected after it, instead
	// of stalling whoever writes to it (ingest's acknowledgements).
	WriteTimeout time.Duration
	// Rate and Burst are a token bucket of PUBLISH packets per username (a gateway, over all its connections).
	// Over the rate the broker reads that client's packets more slowly: its messages wait in its own socket and
	// in-flight window, and nothing it sent is dropped or acknowledged early.
	Rate  float64
	Burst int
	// Exempt names the platform's own user, which no subscription bound or rate applies to.
	Exempt string
}

// DefaultLimits are the bounds `suilong serve` uses unless configured otherwise (cmd/suilong keeps its flag
// defaults equal to these). maxPayload is ingest's largest accepted message.
func DefaultLimits(maxPayload int) Limits {
	return Limits{
		MaxPacket:             maxPayload + HeaderRoom,
		ConnectTimeout:        10 * time.Second,
		MaxConnections:        5000,
		MaxConnectionsPerAddr: 100,
		MaxSubscriptions:      32,
		MaxKeepalive:          5 * time.Minute,
		SessionExpiry:         7 * 24 * time.Hour,
		WriteTimeout:          10 * time.Second,
		Rate:                  100,
		Burst:                 1000,
	}
}

// HeaderRoom is what a PUBLISH may carry beyond its payload (topic, properties) under Limits.MaxPacket: a payload
// a little over ingest's bound still arrives, and goes to the dead letter as oversized, with its start kept.
const HeaderRoom = 64 << 10

// maxConnectPacket bounds the first packet of a connection, before it is authenticated: a CONNECT holds a client
// id, credentials and a small will, never more.
const maxConnectPacket = 64 << 10

// Reasons a connection was closed by a guard (the values of suilong_mqtt_connections_closed_total's label).
const (
	reasonTooMany          = "too_many_connections"
	reasonTooManyFromAddr  = "too_many_from_address"
	reasonConnectTimeout   = "connect_timeout"
	reasonFirstNotConnect  = "first_packet_not_connect"
	reasonConnectTooLarge  = "connect_too_large"
	reasonPacketTooLarge   = "packet_too_large"
	reasonWriteTimeout     = "write_timeout"
	reasonSubscriptionsCap = "too_many_subscriptions"
)

type metrics struct {
	closed       *prometheus.CounterVec
	open         prometheus.Gauge
	throttled    prometheus.Counter
	throttleWait prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	const ns, sub = "suilong", "mqtt"
	m := &metrics{
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "connections_closed_total",
			Help: "Connections the embedded broker refused or closed to protect itself, by reason."}, []string{"reason"}),
		open: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "connections",
			Help: "Open connections to the embedded broker, authenticated or not."}),
		throttled: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "throttled_messages_total",
			Help: "PUBLISH packets the embedded broker read late because their gateway was over its message rate."}),
		throttleWait: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "throttle_wait_seconds_total",
			Help: "Time throttled PUBLISH packets waited before the broker read them."}),
	}
	for _, r := range []string{reasonTooMany, reasonTooManyFromAddr, reasonConnectTimeout, reasonFirstNotConnect, reasonConnectTooLarge,
		reasonPacketTooLarge, reasonWriteTimeout, reasonSubscriptionsCap} {
		m.closed.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.closed, m.open, m.throttled, m.throttleWait)
	}
	return m
}

// guard is the hook half of Limits (the listener holds the other half): keepalive, subscriptions, message rate
// and the packet bound told to MQTT 5 clients.
type guard struct {
	mqtt.HookBase
	lim      Limits
	m        *metrics
	limiters sync.Map // username → *rate.Limiter
	lastLog  atomic.Int64
}

func (g *guard) ID() string { return "suilong-limits" }

func (g *guard) Provides(b byte) bool {
	return b == mqtt.OnConnect || b == mqtt.OnPacketRead || b == mqtt.OnPacketEncode || b == mqtt.OnDisconnect
}

// OnDisconnect names the client whose packet was too large (the listener counts it; only here is the client
// known), at most once a second.
func (g *guard) OnDisconnect(cl *mqtt.Client, err error, _ bool) {
	if !errors.Is(err, packets.ErrPacketTooLarge) {
		return
	}
	now := time.Now().UnixNano()
	if last := g.lastLog.Load(); now-last > int64(time.Second) && g.lastLog.CompareAndSwap(last, now) {
		g.Log.Warn("mqtt: a packet over the size limit; disconnected (its sender keeps the message)", "client", cl.ID,
			"user", string(cl.Properties.Username), "remote", cl.Net.Remote, "limit_bytes", g.lim.MaxPacket)
	}
}

func (g *guard) exempt(cl *mqtt.Client) bool {
	return g.lim.Exempt != "" && string(cl.Properties.Username) == g.lim.Exempt
}

// OnConnect caps the keepalive. mochi sets the connection's read deadline from it right after this hook.
func (g *guard) OnConnect(cl *mqtt.Client, _ packets.Packet) error {
	if g.lim.MaxKeepalive <= 0 {
		return nil
	}
	limit := uint16(min(g.lim.MaxKeepalive.Seconds(), math.MaxUint16))
	if cl.State.Keepalive == 0 || cl.State.Keepalive > limit {
		cl.State.Keepalive = limit
		cl.State.ServerKeepalive = true
	}
	return nil
}

// OnPacketRead runs on the client's reading goroutine before the packet is processed: waiting here is reading
// more slowly, which is the backpressure a QoS 1 publisher understands.
func (g *guard) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	switch pk.FixedHeader.Type {
	case packets.Publish:
		if g.lim.Rate > 0 && !g.exempt(cl) {
			g.throttle(string(cl.Properties.Username))
		}
	case packets.Subscribe:
		if g.lim.MaxSubscriptions > 0 && !g.exempt(cl) && g.tooManySubscriptions(cl, pk) {
			g.m.closed.WithLabelValues(reasonSubscriptionsCap).Inc()
			g.Log.Info("mqtt: too many subscriptions; disconnecting", "client", cl.ID, "remote", cl.Net.Remote,
				"limit", g.lim.MaxSubscriptions)
			Disconnect(cl, packets.ErrQuotaExceeded)
			return pk, packets.ErrRejectPacket // closes the connection; nothing of the packet is subscribed
		}
	}
	return pk, nil
}

func (g *guard) throttle(user string) {
	v, ok := g.limiters.Load(user)
	if !ok {
		v, _ = g.limiters.LoadOrStore(user, rate.NewLimiter(rate.Limit(g.lim.Rate), max(g.lim.Burst, 1)))
	}
	// A client's reads wait one at a time, so the delay is at most (its user's connections) / Rate.
	if d := v.(*rate.Limiter).Reserve().Delay(); d > 0 {
		g.m.throttled.Inc()
		g.m.throttleWait.Add(d.Seconds())
		time.Sleep(d)
	}
}

func (g *guard) tooManySubscriptions(cl *mqtt.Client, pk packets.Packet) bool {
	n := cl.State.Subscriptions.Len()
	seen := make(map[string]bool, len(pk.Filters))
	for _, f := range pk.Filters {
		if _, ok := cl.State.Subscriptions.Get(f.Filter); !ok && !seen[f.Filter] {
			seen[f.Filter] = true
			n++
		}
	}
	return n > g.lim.MaxSubscriptions
}

// OnPacketEncode tells MQTT 5 clients in CONNACK the largest packet they may send.
func (g *guard) OnPacketEncode(_ *mqtt.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type == packets.Connack && pk.ReasonCode == 0 && g.lim.MaxPacket > 0 {
		pk.Properties.MaximumPacketSize = uint32(g.lim.MaxPacket)
	}
	return pk
}

// Disconnect ends a client's connection now: MQTT 5 clients get a DISCONNECT with the reason first (MQTT 3.1.1
// has no server DISCONNECT; the connection is closed). Its session stays, as after any lost connection.
func Disconnect(cl *mqtt.Client, code packets.Code) {
	if cl.Properties.ProtocolVersion == 5 {
		_ = cl.WritePacket(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}, ReasonCode: code.Code,
			Properties: packets.Properties{ReasonString: code.Reason}})
	}
	cl.Stop(code)
}
