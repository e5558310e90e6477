package mqttsub_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/ingest/mqttsub"
	"github.com/suilong/suilong/internal/broker"
	"github.com/suilong/suilong/internal/broker/brokertest"
)

// store stands in for the pipeline: it takes messages and makes them "durable" only when the test says so,
// which is the moment this test is about. While closed it refuses them, as a stopping pipeline does.
type store struct {
	mu     sync.Mutex
	got    []ingest.Message
	closed bool
}

func (s *store) submit(m ingest.Message) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.got = append(s.got, m)
	return true
}

func (s *store) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

// durable acknowledges everything taken so far.
func (s *store) durable() {
	s.mu.Lock()
	got := s.got
	s.got = nil
	s.mu.Unlock()
	for _, m := range got {
		if m.Ack != nil {
			m.Ack()
		}
	}
}

func start(t *testing.T) (*broker.Broker, *mqttsub.BrokerSource) {
	t.Helper()
	src := mqttsub.NewBrokerSource()
	b := brokertest.Start(t, broker.Options{Hooks: []broker.Hook{{Hook: new(auth.AllowHook)}, {Hook: src}}})
	return b, src
}

type gateway struct {
	paho.Client
	lost  atomic.Int32
	store paho.Store
}

// holds counts the messages the gateway still keeps to send again: those its broker has not acknowledged.
// (paho's publish token is no witness across a reconnect: it completes when the message is resent.)
func (g *gateway) holds() int {
	n := 0
	for _, k := range g.store.All() {
		if strings.HasPrefix(k, "o.") {
			n++
		}
	}
	return n
}

// dial connects as a gateway does: persistent session, resending what was not acknowledged after reconnecting.
func dial(t *testing.T, url, id string) *gateway {
	t.Helper()
	g := &gateway{store: paho.NewMemoryStore()}
	o := paho.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(false).SetAutoReconnect(true).SetStore(g.store).
		SetConnectRetryInterval(100 * time.Millisecond).SetMaxReconnectInterval(200 * time.Millisecond).
		SetConnectionLostHandler(func(paho.Client, error) { g.lost.Add(1) })
	g.Client = paho.NewClient(o)
	if tok := g.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	t.Cleanup(func() { g.Disconnect(10) })
	return g
}

func pending(t *testing.T, tok paho.Token, d time.Duration, what string) {
	t.Helper()
	if tok.WaitTimeout(d) {
		t.Fatalf("%s was acknowledged before it was durable (err %v)", what, tok.Error())
	}
}

func completes(t *testing.T, tok paho.Token, what string) {
	t.Helper()
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("%s was not acknowledged once durable: %v", what, tok.Error())
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// QoS 1: the PUBACK comes when ingest says the reading is durable, not when the broker has it. QoS 2: the
// PUBREC (and so the whole handshake) waits the same way.
func TestReadingAcknowledgedOnlyWhenDurable(t *testing.T) {
	b, src := start(t)
	s := &store{}
	src.SetSink(s.submit, b.Server())
	g := dial(t, b.URL(), "GW-1")
	for _, qos := range []byte{1, 2} {
		tok := g.Publish(ingest.TopicReadings+"GW-1", qos, false, `{"sensor_id":"S","ts":1,"temp_c":1}`)
		eventually(t, "ingest takes the reading", func() bool { return s.count() == 1 })
		pending(t, tok, 300*time.Millisecond, "a reading at QoS "+string('0'+qos))
		s.durable()
		completes(t, tok, "a reading at QoS "+string('0'+qos))
	}
	if g.lost.Load() != 0 {
		t.Fatal("the gateway lost its connection")
	}
}

// The same for QoS 2, packet by packet: no PUBREC before durability; then PUBREC, and PUBREL gets PUBCOMP.
func TestQoS2PubrecAfterDurability(t *testing.T) {
	b, src := start(t)
	s := &store{}
	src.SetSink(s.submit, b.Server())
	c, r := rawConnect(t, b.Addr(), 4, "GW-2")
	var pub bytes.Buffer
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 2}, TopicName: ingest.TopicReadings + "GW-2",
		PacketID: 7, Payload: []byte(`{}`), ProtocolVersion: 4}
	if err := pk.PublishEncode(&pub); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(pub.Bytes()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ingest takes the reading", func() bool { return s.count() == 1 })
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := r.Peek(1); err == nil {
		t.Fatal("the broker answered a QoS 2 reading before it was durable")
	}
	_ = c.SetReadDeadline(time.Time{})
	s.durable()
	if rec := readPacket(t, c, r, 4); rec.FixedHeader.Type != packets.Pubrec || rec.PacketID != 7 {
		t.Fatalf("want PUBREC 7, got %+v", rec.FixedHeader)
	}
	if _, err := c.Write([]byte{packets.Pubrel<<4 | 2, 2, 0, 7}); err != nil {
		t.Fatal(err)
	}
	if comp := readPacket(t, c, r, 4); comp.FixedHeader.Type != packets.Pubcomp || comp.PacketID != 7 {
		t.Fatalf("want PUBCOMP 7, got %+v", comp.FixedHeader)
	}
}

// Without ingest in the process (serve --only api), a reading is not acknowledged: the gateway is disconnected
// and keeps its message; once ingest runs, the gateway's resend after reconnecting is taken and acknowledged.
func TestNoIngestAcknowledgesNothing(t *testing.T) {
	b, src := start(t)
	src.NoIngest()
	g := dial(t, b.URL(), "GW-3")
	g.Publish(ingest.TopicReadings+"GW-3", 1, false, `{"n":1}`)
	eventually(t, "the gateway is disconnected", func() bool { return g.lost.Load() > 0 })
	time.Sleep(300 * time.Millisecond) // reconnecting and resending meanwhile, and refused each time
	if g.holds() != 1 {
		t.Fatalf("the gateway holds %d unacknowledged messages, want its one reading", g.holds())
	}

	s := &store{}
	src.SetSink(s.submit, b.Server())
	eventually(t, "the gateway resends after reconnecting", func() bool { return s.count() >= 1 })
	if g.holds() != 1 {
		t.Fatal("acknowledged before it was durable")
	}
	s.durable()
	eventually(t, "the resent reading is acknowledged", func() bool { return g.holds() == 0 })
}

// A reading that waited for ingest longer than WaitForSink is refused the same way; when ingest stops (and
// while it stops) nothing is acknowledged either.
func TestIngestLateOrStoppedAcknowledgesNothing(t *testing.T) {
	b, src := start(t)
	src.WaitForSink = 200 * time.Millisecond
	g := dial(t, b.URL(), "GW-4")
	began := time.Now()
	g.Publish(ingest.TopicReadings+"GW-4", 1, false, `{"n":1}`)
	eventually(t, "the gateway is disconnected", func() bool { return g.lost.Load() > 0 })
	if d := time.Since(began); d < 150*time.Millisecond {
		t.Fatalf("refused after %s, without waiting for ingest", d)
	}
	if g.holds() != 1 {
		t.Fatal("a reading that waited for ingest in vain was acknowledged")
	}
	s := &store{}
	src.SetSink(s.submit, b.Server())
	eventually(t, "the resend is taken", func() bool { return s.count() == 1 })
	s.durable()
	eventually(t, "the resent reading is acknowledged", func() bool { return g.holds() == 0 })

	// Ingest stopping: the pipeline refuses; the reading stays unacknowledged on an open connection.
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	eventually(t, "the gateway is connected", g.IsConnectionOpen)
	lost := g.lost.Load()
	g.Publish(ingest.TopicReadings+"GW-4", 1, false, `{"n":2}`)
	time.Sleep(300 * time.Millisecond)
	if g.holds() != 1 || g.lost.Load() != lost {
		t.Fatalf("while ingest drained: %d held (want 1), connection lost %d times (want %d)", g.holds(), g.lost.Load(), lost)
	}
	// Ingest stopped: the next reading gets the gateway disconnected; it resends both to the next ingest.
	src.SetSink(nil, nil)
	g.Publish(ingest.TopicReadings+"GW-4", 1, false, `{"n":3}`)
	eventually(t, "the gateway is disconnected", func() bool { return g.lost.Load() > lost })
	if g.holds() != 2 {
		t.Fatalf("after ingest stopped the gateway holds %d, want 2", g.holds())
	}
	s2 := &store{}
	src.SetSink(s2.submit, b.Server())
	eventually(t, "both are resent", func() bool { return s2.count() >= 2 })
	s2.durable()
	eventually(t, "both are acknowledged", func() bool { return g.holds() == 0 })
}

// An MQTT 5 gateway learns why: DISCONNECT with "server busy" (0x89), and no PUBACK before it.
func TestNoIngestTellsMQTT5Clients(t *testing.T) {
	b, src := start(t)
	src.NoIngest()
	c, r := rawConnect(t, b.Addr(), 5, "GW-5")
	var pub bytes.Buffer
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: ingest.TopicReadings + "GW-5",
		PacketID: 1, Payload: []byte(`{}`), ProtocolVersion: 5}
	if err := pk.PublishEncode(&pub); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(pub.Bytes()); err != nil {
		t.Fatal(err)
	}
	d := readPacket(t, c, r, 5)
	if d.FixedHeader.Type != packets.Disconnect || d.ReasonCode != packets.ErrServerBusy.Code {
		t.Fatalf("want DISCONNECT 0x89, got type %d reason %#x", d.FixedHeader.Type, d.ReasonCode)
	}
}

func rawConnect(t *testing.T, addr string, version byte, id string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: version,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30, ClientIdentifier: id}}
	var buf bytes.Buffer
	if err := pk.ConnectEncode(&buf); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	if ack := readPacket(t, c, r, version); ack.FixedHeader.Type != packets.Connack || ack.ReasonCode != 0 {
		t.Fatalf("connack %+v", ack)
	}
	return c, r
}

func readPacket(t *testing.T, c net.Conn, r *bufio.Reader, version byte) packets.Packet {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	first, err := r.ReadByte()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var fh packets.FixedHeader
	if err := fh.Decode(first); err != nil {
		t.Fatal(err)
	}
	if fh.Remaining, _, err = packets.DecodeLength(r); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, fh.Remaining)
	if _, err := io.ReadFull(r, body); err != nil {
		t.Fatal(err)
	}
	pk := packets.Packet{FixedHeader: fh, ProtocolVersion: version}
	switch fh.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Disconnect:
		err = pk.DisconnectDecode(body)
	case packets.Pubrec:
		err = pk.PubrecDecode(body)
	case packets.Pubcomp:
		err = pk.PubcompDecode(body)
	}
	if err != nil {
		t.Fatal(err)
	}
	return pk
}
