package broker_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/suilong/suilong/internal/broker"
	"github.com/suilong/suilong/internal/broker/brokertest"
)

// guarded starts a broker with limits and its metrics in a registry of the test's own.
func guarded(t *testing.T, lim broker.Limits) (*broker.Broker, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	return brokertest.Start(t, broker.Options{Limits: lim, Registry: reg}), reg
}

func closedBy(t *testing.T, reg *prometheus.Registry, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "suilong_mqtt_connections_closed_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// wantClosed waits a moment for the count of connections closed for reason to be want (the count follows the
// close the client sees).
func wantClosed(t *testing.T, reg *prometheus.Registry, reason string, want float64) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for closedBy(t, reg, reason) != want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := closedBy(t, reg, reason); n != want {
		t.Errorf("connections closed for %s: %v, want %v", reason, n, want)
	}
}

// connectPacket is an MQTT CONNECT as a client library would encode it.
func connectPacket(t *testing.T, version byte, id string) []byte {
	return connectKeepalive(t, version, id, 30)
}

func connectKeepalive(t *testing.T, version byte, id string, keepalive uint16) []byte {
	t.Helper()
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: version,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: keepalive,
			ClientIdentifier: id}}
	var buf bytes.Buffer
	if err := pk.ConnectEncode(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readPacket reads one packet from a raw connection.
func readPacket(t *testing.T, r *bufio.Reader, version byte) packets.Packet {
	t.Helper()
	b, err := r.ReadByte()
	if err != nil {
		t.Fatalf("read packet: %v", err)
	}
	var fh packets.FixedHeader
	if err := fh.Decode(b); err != nil {
		t.Fatal(err)
	}
	n, _, err := packets.DecodeLength(r)
	if err != nil {
		t.Fatal(err)
	}
	fh.Remaining = n
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		t.Fatal(err)
	}
	pk := packets.Packet{FixedHeader: fh, ProtocolVersion: version}
	switch fh.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Disconnect:
		err = pk.DisconnectDecode(body)
	}
	if err != nil {
		t.Fatal(err)
	}
	return pk
}

// dialConnected opens a raw connection and completes an MQTT 3.1.1 CONNECT.
func dialConnected(t *testing.T, addr, id string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write(connectPacket(t, 4, id)); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	if ack := readPacket(t, r, 4); ack.FixedHeader.Type != packets.Connack || ack.ReasonCode != 0 {
		t.Fatalf("connect %s: %+v", id, ack)
	}
	return c, r
}

// waitClosed waits until the server closes c (a read returns EOF or a reset), and says how long that took.
func waitClosed(t *testing.T, c net.Conn, within time.Duration) time.Duration {
	t.Helper()
	d, err := untilClosed(c, within)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func untilClosed(c net.Conn, within time.Duration) (time.Duration, error) {
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(within))
	buf := make([]byte, 4096)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return 0, fmt.Errorf("the broker did not close the connection within %s", within)
		}
		return time.Since(start), nil
	}
}

// 256 MB length prefixes, in a CONNECT before anything is authenticated and in a PUBLISH of a connected client,
// are refused from the prefix alone: nothing near that size is allocated, the sockets are closed at once, and
// a client behaving well keeps working throughout.
func TestHugeLengthPrefixesAllocateNothing(t *testing.T) {
	b, reg := guarded(t, broker.Limits{MaxPacket: 256<<10 + broker.HeaderRoom})
	good := connect(t, b.URL(), "good", true)
	defer good.Disconnect(10)

	huge := []byte{0x00, 0xff, 0xff, 0xff, 0x7f} // remaining length 268,435,455
	junk := bytes.Repeat([]byte{'x'}, 64<<10)
	conns := make([]net.Conn, 100)
	for i := range conns {
		if i%2 == 0 {
			c, err := net.Dial("tcp", b.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			conns[i] = c
		} else {
			conns[i], _ = dialConnected(t, b.Addr(), fmt.Sprintf("attacker-%d", i))
		}
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			hdr := append([]byte(nil), huge...)
			hdr[0] = packets.Connect << 4
			if i%2 == 1 {
				hdr[0] = packets.Publish<<4 | 1<<1
			}
			if _, err := c.Write(hdr); err != nil {
				t.Error(err)
				return
			}
			// Go on sending, as an attacker filling the buffer it hopes was allocated would.
			for range 16 {
				if _, err := c.Write(junk); err != nil {
					break
				}
			}
			if _, err := untilClosed(c, 5*time.Second); err != nil {
				t.Error(err)
			}
		})
	}
	for k := 0; k < 20; k++ {
		if tok := good.Publish("t/good", 1, false, "ok"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("the well-behaved client's publish %d: %v", k, tok.Error())
		}
	}
	wg.Wait()
	runtime.ReadMemStats(&after)
	grew := after.TotalAlloc - before.TotalAlloc
	t.Logf("100 sockets × (256 MB prefix + 1 MiB sent): %.1f MiB allocated in all by the process meanwhile", float64(grew)/(1<<20))
	if grew > 64<<20 {
		t.Errorf("100 oversized prefixes made the process allocate %d MiB", grew>>20)
	}
	wantClosed(t, reg, "connect_too_large", 50)
	wantClosed(t, reg, "packet_too_large", 50)
	if !good.IsConnectionOpen() {
		t.Error("the well-behaved client lost its connection")
	}
}

// A connection must complete its CONNECT within the deadline, whether it sends nothing or half a packet; the
// first packet must be a CONNECT.
func TestConnectDeadlineAndFirstPacket(t *testing.T) {
	b, reg := guarded(t, broker.Limits{ConnectTimeout: 300 * time.Millisecond})
	start := time.Now()
	silent, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	half, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer half.Close()
	cp := connectPacket(t, 4, "slow")
	if _, err := half.Write(cp[:len(cp)/2]); err != nil {
		t.Fatal(err)
	}
	for _, c := range []net.Conn{silent, half} {
		waitClosed(t, c, 5*time.Second)
		if d := time.Since(start); d < 250*time.Millisecond {
			t.Errorf("closed after %s, before the deadline", d)
		}
	}
	// A client that completes its CONNECT in time is not held to the deadline afterwards.
	ok, _ := dialConnected(t, b.Addr(), "prompt")
	time.Sleep(600 * time.Millisecond)
	if _, err := ok.Write([]byte{packets.Pingreq << 4, 0}); err != nil {
		t.Fatal(err)
	}
	_ = ok.SetReadDeadline(time.Now().Add(2 * time.Second))
	if resp := make([]byte, 2); func() error { _, err := io.ReadFull(ok, resp); return err }() != nil || resp[0] != packets.Pingresp<<4 {
		t.Fatal("a connected client was cut off by the CONNECT deadline")
	}

	pub, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if _, err := pub.Write([]byte{packets.Publish << 4, 4, 0, 1, 't', 'x'}); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, pub, 5*time.Second)
	wantClosed(t, reg, "connect_timeout", 2)
	wantClosed(t, reg, "first_packet_not_connect", 1)
}

// Connections are capped per source address and in all; closing one makes room again.
func TestConnectionCaps(t *testing.T) {
	b, reg := guarded(t, broker.Limits{MaxConnections: 5, MaxConnectionsPerAddr: 3})
	dialFrom := func(src string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		c, err := d.Dial("tcp", b.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	alive := func(c net.Conn, id string) bool {
		if _, err := c.Write(connectPacket(t, 4, id)); err != nil {
			return false
		}
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		hdr := make([]byte, 4)
		_, err := io.ReadFull(c, hdr)
		return err == nil && hdr[0] == packets.Connack<<4
	}
	var first []net.Conn
	for i := range 3 {
		c := dialFrom("127.0.0.1")
		if !alive(c, "a"+string(rune('0'+i))) {
			t.Fatalf("connection %d from 127.0.0.1 refused below the cap", i)
		}
		first = append(first, c)
	}
	if alive(dialFrom("127.0.0.1"), "a-over") {
		t.Fatal("a fourth connection from one address was accepted (cap 3)")
	}
	for i := range 2 {
		if !alive(dialFrom("127.0.0.2"), "b"+string(rune('0'+i))) {
			t.Fatalf("connection %d from 127.0.0.2 refused", i)
		}
	}
	if alive(dialFrom("127.0.0.3"), "c-over") {
		t.Fatal("a sixth connection was accepted (cap 5 in all)")
	}
	first[0].Close()
	ok := false
	for deadline := time.Now().Add(3 * time.Second); !ok && time.Now().Before(deadline); {
		ok = alive(dialFrom("127.0.0.1"), "a-again")
		if !ok {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !ok {
		t.Fatal("closing a connection did not make room for another")
	}
	if closedBy(t, reg, "too_many_from_address") < 1 || closedBy(t, reg, "too_many_connections") < 1 {
		t.Errorf("refusals not counted: per address %v, in all %v", closedBy(t, reg, "too_many_from_address"),
			closedBy(t, reg, "too_many_connections"))
	}
}

// A client may hold only so many subscriptions; the platform's own user is exempt.
func TestSubscriptionCap(t *testing.T) {
	b, reg := guarded(t, broker.Limits{MaxSubscriptions: 3, Exempt: "platform"})
	c := connect(t, b.URL(), "many-subs", true)
	for _, f := range []string{"a/1", "a/2", "a/3", "a/1"} { // the repeated one is not a new subscription
		if tok := c.Subscribe(f, 1, nil); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe %s: %v", f, tok.Error())
		}
	}
	c.Subscribe("a/4", 1, nil)
	ingestEventually(t, 5*time.Second, "the client over the cap is disconnected", func() bool { return !c.IsConnectionOpen() })
	wantClosed(t, reg, "too_many_subscriptions", 1)

	o := paho.NewClientOptions().AddBroker(b.URL()).SetClientID("platform-client").SetUsername("platform").SetAutoReconnect(false)
	p := paho.NewClient(o)
	if tok := p.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer p.Disconnect(10)
	for i := range 10 {
		if tok := p.Subscribe("p/"+string(rune('a'+i)), 1, nil); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("the platform's subscription %d: %v", i, tok.Error())
		}
	}
	if !p.IsConnectionOpen() {
		t.Fatal("the platform's client was held to the subscription cap")
	}
}

// A client asking for no keepalive gets the broker's, so a connection that goes silent is closed.
func TestKeepaliveCap(t *testing.T) {
	b, _ := guarded(t, broker.Limits{MaxKeepalive: time.Second})
	c, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(connectKeepalive(t, 4, "no-keepalive", 0)); err != nil { // 0: "never time me out"
		t.Fatal(err)
	}
	if ack := readPacket(t, bufio.NewReader(c), 4); ack.ReasonCode != 0 {
		t.Fatalf("connack %+v", ack)
	}
	if d := waitClosed(t, c, 10*time.Second); d < time.Second {
		t.Fatalf("closed after %s, before 1.5 × the keepalive", d)
	}
}

// An MQTT 5 client learns the largest packet it may send, and the keepalive the broker imposes.
func TestMQTT5ClientIsToldTheLimits(t *testing.T) {
	b, _ := guarded(t, broker.Limits{MaxPacket: 300 << 10, MaxKeepalive: 20 * time.Second})
	c, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(connectPacket(t, 5, "v5")); err != nil {
		t.Fatal(err)
	}
	ack := readPacket(t, bufio.NewReader(c), 5)
	if ack.ReasonCode != 0 || ack.Properties.MaximumPacketSize != 300<<10 || ack.Properties.ServerKeepAlive != 20 {
		t.Fatalf("connack %+v", ack.Properties)
	}
}

// Over its message rate a QoS 1 publisher is slowed down, not dropped: every message is acknowledged, none
// before the bucket allows it, and the waits are counted.
func TestRateLimitSlowsPublisherDown(t *testing.T) {
	b, reg := guarded(t, broker.Limits{Rate: 20, Burst: 5})
	got := make(chan struct{}, 100)
	if err := b.Server().Subscribe("r/#", 1, func(*mqtt.Client, packets.Subscription, packets.Packet) { got <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	c := connect(t, b.URL(), "fast", true)
	defer c.Disconnect(10)
	start := time.Now()
	var toks []paho.Token
	for range 45 {
		toks = append(toks, c.Publish("r/x", 1, false, "m"))
	}
	for i, tok := range toks {
		if !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %d: %v", i, tok.Error())
		}
	}
	// 5 at once, then 20 a second: the last of 45 cannot be read before 2 s.
	d := time.Since(start)
	if d < 1900*time.Millisecond {
		t.Fatalf("45 messages at 20/s (burst 5) were all acknowledged after %s", d)
	}
	ingestEventually(t, 5*time.Second, "all 45 messages delivered", func() bool { return len(got) == 45 })
	mfs, _ := reg.Gather()
	var throttled float64
	for _, mf := range mfs {
		if mf.GetName() == "suilong_mqtt_throttled_messages_total" {
			throttled = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Logf("45 QoS 1 messages at 20/s, burst 5: all acknowledged and delivered after %s, %v of them throttled", d.Round(time.Millisecond), throttled)
	if throttled < 30 {
		t.Fatalf("throttled messages = %v, want about 40", throttled)
	}
}

// A client that stops reading is disconnected after the write timeout instead of blocking the broker's writes
// to it for good.
func TestClientThatStopsReadingIsDisconnected(t *testing.T) {
	b, reg := guarded(t, broker.Limits{WriteTimeout: 300 * time.Millisecond})
	c, r := dialConnected(t, b.Addr(), "deaf")
	sub := []byte{packets.Subscribe<<4 | 2, 6, 0, 1, 0, 1, 'd', 0}
	if _, err := c.Write(sub); err != nil {
		t.Fatal(err)
	}
	if hdr, _ := r.ReadByte(); hdr != packets.Suback<<4 {
		t.Fatalf("no suback: %x", hdr)
	}
	payload := bytes.Repeat([]byte{'p'}, 256<<10)
	deadline := time.Now().Add(20 * time.Second)
	for closedBy(t, reg, "write_timeout") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a client that reads nothing was not disconnected")
		}
		_ = b.Server().Publish("d", payload, false, 0)
		time.Sleep(time.Millisecond)
	}
}

// A disconnected persistent session is forgotten after the session expiry.
func TestSessionExpiry(t *testing.T) {
	b, _ := guarded(t, broker.Limits{SessionExpiry: time.Second})
	c := connect(t, b.URL(), "persistent", false)
	c.Disconnect(10)
	if _, ok := b.Server().Clients.Get("persistent"); !ok {
		t.Fatal("the session is gone at once")
	}
	ingestEventually(t, 10*time.Second, "the session expires", func() bool {
		_, ok := b.Server().Clients.Get("persistent")
		return !ok
	})
}

func ingestEventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
