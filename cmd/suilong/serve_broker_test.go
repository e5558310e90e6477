package main

// End-to-end tests of the embedded broker against hostile and confused clients, through the real `serve`
// wiring: its limits, the gateways' client ids, credential resets, TLS.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/ingest/influxw"
	"github.com/suilong/suilong/ingest/ingesttest"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/auth/authtest"
	"github.com/suilong/suilong/internal/broker"
	"github.com/suilong/suilong/internal/broker/brokertest"
	"github.com/suilong/suilong/internal/influx"
	"github.com/suilong/suilong/internal/pg"
)

// fleetServer is a running serve with an administrator's key and helpers to register gateways.
type fleetServer struct {
	*testServer
	t        *testing.T
	admin    string
	plain    string // host:port of the plain listener ("" when off)
	tls      string // host:port of the TLS listener ("" when off)
	readings *influxw.Store
}

func startFleet(t *testing.T, extra ...string) *fleetServer {
	t.Helper()
	ts := startServe(t, extra...)
	db, err := pg.Open(context.Background(), ts.Cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	_, admin := authtest.Org(t, db, "龙岩市商务局", auth.RoleCoordinator)
	ic := influx.New(influx.Config{URL: ts.Cfg.InfluxURL, Token: ts.Cfg.InfluxToken, Bucket: ts.Cfg.InfluxBucket})
	t.Cleanup(ic.Close)
	return &fleetServer{testServer: ts, t: t, admin: admin, plain: ts.MQTT, tls: ts.MQTTTLS,
		readings: influxw.NewStore(ic)}
}

func (f *fleetServer) must(method, path string, body any, want int) []byte {
	f.t.Helper()
	code, b := f.call(f.t, method, path, f.admin, body)
	if code != want {
		f.t.Fatalf("%s %s = %d, want %d: %s", method, path, code, want, b)
	}
	return b
}

// gateway registers a gateway (with a truck and a sensor in it when asset is set) and returns its password.
func (f *fleetServer) gateway(id, asset string) string {
	f.t.Helper()
	var g struct{ MQTT struct{ Password string } }
	if err := json.Unmarshal(f.must("POST", "/api/v1/gateways", map[string]any{"id": id}, 201), &g); err != nil {
		f.t.Fatal(err)
	}
	if asset != "" {
		f.must("POST", "/api/v1/assets", map[string]any{"id": asset, "kind": "truck", "name": asset}, 201)
		f.must("POST", "/api/v1/sensors", map[string]any{"id": asset + "-A", "gateway_id": id, "asset_id": asset}, 201)
	}
	return g.MQTT.Password
}

// vmRSS is this process's resident set (the test runs serve in-process).
func vmRSS(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status here")
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// connectRaw completes an MQTT 3.1.1 CONNECT on a raw socket.
func connectRaw(addr, clientID, user, pass string) (net.Conn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 4,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 60, ClientIdentifier: clientID,
			Username: []byte(user), UsernameFlag: true, Password: []byte(pass), PasswordFlag: true}}
	var buf bytes.Buffer
	if err := pk.ConnectEncode(&buf); err != nil {
		c.Close()
		return nil, err
	}
	ack := make([]byte, 4)
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(buf.Bytes()); err != nil {
		c.Close()
		return nil, err
	}
	if _, err := io.ReadFull(c, ack); err != nil || ack[0] != packets.Connack<<4 || ack[3] != 0 {
		c.Close()
		return nil, fmt.Errorf("connect %s: %v %x", clientID, err, ack)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// 100 sockets each send a 256 MB length prefix (50 as the first packet, a CONNECT; 50 as a PUBLISH of an
// authenticated gateway) and then keep sending, over and over for two seconds (each socket dials again when
// the broker closes it): the process's resident memory stays within 50 MB of where it was, while a normal
// gateway keeps publishing and being acknowledged, ingest stores every reading it acknowledged, and the API
// answers.
func TestServeSurvivesHugeLengthPrefixes(t *testing.T) {
	f := startFleet(t, "--mqtt-max-connections-per-addr", "300")
	pw := f.gateway("LY-GW-0100", "LY-TRK-0100")
	good := ingesttest.Connect(t, "tcp://"+f.plain, "LY-GW-0100", "LY-GW-0100", pw)

	runtime.GC()
	debug.FreeOSMemory()
	base := vmRSS(t)
	// What counts is memory the broker keeps, not garbage the collector has yet to reach: with a soft limit
	// just above the start (as GOMEMLIMIT sets it in production) the collector runs before the heap's slack
	// shows as resident memory, so the peak measures what the attack holds on to, the same on an idle machine
	// and on a busy one.
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(base + 24<<20))
	var peak atomic.Int64
	peak.Store(base)
	stopSampling := make(chan struct{})
	var sampling sync.WaitGroup
	sampling.Go(func() {
		for {
			if r := vmRSS(t); r > peak.Load() {
				peak.Store(r)
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	})

	// The normal gateway: one reading every 20 ms, each waited for.
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	var acked, ackedDuring atomic.Int64
	var attacking atomic.Bool
	stopGood := make(chan struct{})
	var publishing sync.WaitGroup
	publishing.Go(func() {
		for k := 0; ; k++ {
			select {
			case <-stopGood:
				return
			default:
			}
			tok := good.Publish(ingest.TopicReadings+"LY-GW-0100", 1, false,
				ingesttest.Reading("LY-TRK-0100-A", start.Add(time.Duration(k)*time.Second), 3))
			if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
				t.Errorf("the normal gateway's reading %d: %v", k, tok.Error())
				return
			}
			acked.Add(1)
			if attacking.Load() {
				ackedDuring.Add(1)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	time.Sleep(200 * time.Millisecond)

	huge := []byte{0, 0xff, 0xff, 0xff, 0x7f} // remaining length 268,435,455
	junk := bytes.Repeat([]byte{'x'}, 64<<10)
	var rounds, refused atomic.Int64
	attacking.Store(true)
	until := time.Now().Add(2 * time.Second)
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			for n := 0; time.Now().Before(until); n++ {
				hdr := append([]byte(nil), huge...)
				hdr[0] = packets.Connect << 4
				var c net.Conn
				var err error
				if i%2 == 0 {
					c, err = net.Dial("tcp", f.plain)
				} else {
					c, err = connectRaw(f.plain, fmt.Sprintf("LY-GW-0100-atk-%d-%d", i, n), "LY-GW-0100", pw)
					hdr[0] = packets.Publish<<4 | 1<<1
				}
				if err != nil {
					t.Errorf("attacker %d: %v", i, err)
					return
				}
				rounds.Add(1)
				if _, err := c.Write(hdr); err == nil {
					for range 16 { // 1 MiB more, as an attacker filling the buffer it hoped for would send
						if _, err := c.Write(junk); err != nil {
							break
						}
					}
				}
				if err := closedWithin(c, 10*time.Second); err != nil {
					t.Errorf("attacker %d: %v", i, err)
				} else {
					refused.Add(1)
				}
				c.Close()
			}
		})
	}
	// Meanwhile the API and ingest keep serving.
	if code, body := f.get(t, "/readyz", ""); code != 200 {
		t.Errorf("readyz during the attack: %d %s", code, body)
	}
	wg.Wait()
	attacking.Store(false)
	close(stopGood)
	publishing.Wait()
	close(stopSampling)
	sampling.Wait()

	grew := peak.Load() - base
	t.Logf("RSS %d MiB before, peak %d MiB during (+%d MiB); 100 attackers made %d connections in 2 s, every one closed by the "+
		"broker; the normal gateway had %d readings acknowledged during the attack, %d in all, all stored",
		base>>20, peak.Load()>>20, grew>>20, rounds.Load(), ackedDuring.Load(), acked.Load())
	if grew > 50<<20 {
		t.Errorf("resident memory grew by %d MiB during the attack (limit 50)", grew>>20)
	}
	if ackedDuring.Load() < 5 {
		t.Errorf("the normal gateway had only %d readings acknowledged during two seconds of attack", ackedDuring.Load())
	}
	if refused.Load() != rounds.Load() {
		t.Errorf("%d of %d attacking connections were closed", refused.Load(), rounds.Load())
	}
	ingesttest.WaitCount(t, f.readings, "LY-TRK-0100", start.Add(-time.Minute), start.Add(time.Hour), acked.Load(), 30*time.Second)
	q := fmt.Sprintf("/api/v1/assets/LY-TRK-0100/readings?from=%s&to=%s&every=1h", start.Add(-time.Hour).Format(time.RFC3339),
		start.Add(time.Hour).Format(time.RFC3339))
	f.must("GET", q, nil, 200)
	// The broker counts a close once it has cleaned up the connection, which may come a little after the
	// attacker saw it closed: wait for the count to settle.
	var tooLarge float64
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		tooLarge = f.metric(t, `suilong_mqtt_connections_closed_total{reason="connect_too_large"}`) +
			f.metric(t, `suilong_mqtt_connections_closed_total{reason="packet_too_large"}`)
		if tooLarge >= float64(rounds.Load()) || time.Now().After(deadline) {
			break
		}
	}
	if tooLarge != float64(rounds.Load()) {
		reasons := map[string]float64{}
		for _, r := range []string{"too_many_connections", "too_many_from_address", "connect_timeout", "first_packet_not_connect",
			"write_timeout", "too_many_subscriptions"} {
			reasons[r] = f.metric(t, `suilong_mqtt_connections_closed_total{reason="`+r+`"}`)
		}
		t.Errorf("connections closed as too large: %v, want %d (closed for other reasons: %v)", tooLarge, rounds.Load(), reasons)
	}
}

// closedWithin waits for the broker to close c (end of stream or a reset: it drops what it did not read).
func closedWithin(c net.Conn, within time.Duration) error {
	_ = c.SetReadDeadline(time.Now().Add(within))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("not closed by the broker within %s", within)
	}
	return nil
}

// metric reads one sample from /metrics.
func (f *fleetServer) metric(t *testing.T, series string) float64 {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); ; {
		_, body := f.get(t, "/metrics", "")
		for _, line := range strings.Split(body, "\n") {
			if v, ok := strings.CutPrefix(line, series+" "); ok {
				n, _ := strconv.ParseFloat(v, 64)
				return n
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s in /metrics", series)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type e2eGateway struct {
	paho.Client
	lost atomic.Int64 // unix nanoseconds of the first connection loss
}

func dialGateway(url, clientID, user, pass string) (*e2eGateway, error) {
	g := &e2eGateway{}
	o := paho.NewClientOptions().AddBroker(url).SetClientID(clientID).SetUsername(user).SetPassword(pass).
		SetCleanSession(false).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).
		SetConnectionLostHandler(func(paho.Client, error) { g.lost.CompareAndSwap(0, time.Now().UnixNano()) })
	g.Client = paho.NewClient(o)
	tok := g.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, context.DeadlineExceeded
	}
	if tok.Error() != nil {
		return nil, tok.Error()
	}
	return g, nil
}

func mustGateway(t *testing.T, url, clientID, user, pass string) *e2eGateway {
	t.Helper()
	g, err := dialGateway(url, clientID, user, pass)
	if err != nil {
		t.Fatalf("connect %s as %s: %v", clientID, user, err)
	}
	t.Cleanup(func() { g.Disconnect(10) })
	return g
}

func disconnectedWithin(t *testing.T, g *e2eGateway, since time.Time, within time.Duration) {
	t.Helper()
	for deadline := since.Add(within); g.lost.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if g.lost.Load() == 0 {
		t.Fatalf("not disconnected within %s", within)
	}
	t.Logf("disconnected %s after the request was sent", time.Duration(g.lost.Load()-since.UnixNano()).Round(time.Microsecond))
}

// Through serve: nobody takes over a gateway's session (another gateway under its client id, or its id with a
// wrong password); the victim stays connected. POST /gateways/{id}/credentials disconnects the gateway within
// a second and the new password works; DELETE /gateways/{id} disconnects it too. A socket that sends no
// CONNECT is closed after --mqtt-connect-timeout.
func TestServeTakeoverRefusedAndResetDisconnects(t *testing.T) {
	f := startFleet(t, "--mqtt-connect-timeout", "500ms")
	url := "tcp://" + f.plain
	pwA := f.gateway("LY-GW-0201", "LY-TRK-0201")
	pwB := f.gateway("LY-GW-0202", "")
	victim := mustGateway(t, url, "LY-GW-0201", "LY-GW-0201", pwA)
	for _, try := range []struct{ client, user, pass string }{
		{"LY-GW-0201", "LY-GW-0202", pwB},
		{"LY-GW-0201-2", "LY-GW-0202", pwB},
		{"LY-GW-0201", "LY-GW-0201", "not-the-password"},
	} {
		if g, err := dialGateway(url, try.client, try.user, try.pass); err == nil {
			g.Disconnect(10)
			t.Fatalf("%s connected under client id %s", try.user, try.client)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if victim.lost.Load() != 0 {
		t.Fatal("the victim was disconnected by a refused takeover")
	}
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	ingesttest.Publish(t, victim, ingest.TopicReadings+"LY-GW-0201", ingesttest.Reading("LY-TRK-0201-A", t0, 2))

	var creds struct{ Password string }
	reset := time.Now()
	body := f.must("POST", "/api/v1/gateways/LY-GW-0201/credentials", nil, 200)
	if err := json.Unmarshal(body, &creds); err != nil || creds.Password == "" {
		t.Fatalf("credentials: %s", body)
	}
	disconnectedWithin(t, victim, reset, time.Second)
	if g, err := dialGateway(url, "LY-GW-0201", "LY-GW-0201", pwA); err == nil {
		g.Disconnect(10)
		t.Fatal("the old password still works after the reset")
	}
	again := mustGateway(t, url, "LY-GW-0201", "LY-GW-0201", creds.Password)
	ingesttest.Publish(t, again, ingest.TopicReadings+"LY-GW-0201", ingesttest.Reading("LY-TRK-0201-A", t0.Add(time.Second), 2))
	ingesttest.WaitCount(t, f.readings, "LY-TRK-0201", t0.Add(-time.Minute), t0.Add(time.Minute), 2, 30*time.Second)

	b := mustGateway(t, url, "LY-GW-0202", "LY-GW-0202", pwB)
	deleted := time.Now()
	f.must("DELETE", "/api/v1/gateways/LY-GW-0202", nil, 204)
	disconnectedWithin(t, b, deleted, time.Second)
	if g, err := dialGateway(url, "LY-GW-0202", "LY-GW-0202", pwB); err == nil {
		g.Disconnect(10)
		t.Fatal("a deleted gateway connected")
	}

	silent, err := net.Dial("tcp", f.plain)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	opened := time.Now()
	if err := closedWithin(silent, 5*time.Second); err != nil {
		t.Fatalf("a silent socket: %v", err)
	}
	if d := time.Since(opened); d < 400*time.Millisecond {
		t.Fatalf("a silent socket was closed after %s, before the CONNECT deadline", d)
	}
}

// Through serve with TLS only (--mqtt-listen off): a gateway connects over TLS with the CA that signed the
// broker's certificate, and its reading is stored; readiness checks the TLS listener.
func TestServeGatewayOverTLS(t *testing.T) {
	certs := brokertest.NewCerts(t)
	f := startFleet(t, "--mqtt-listen", "off", "--mqtt-tls-listen", "127.0.0.1:0", "--mqtt-tls-cert", certs.ServerCert,
		"--mqtt-tls-key", certs.ServerKey)
	if f.plain != "" || f.tls == "" {
		t.Fatalf("listeners: plain %q, tls %q", f.plain, f.tls)
	}
	pw := f.gateway("LY-GW-0301", "LY-TRK-0301")
	o := paho.NewClientOptions().AddBroker("ssl://" + f.tls).SetClientID("LY-GW-0301").SetUsername("LY-GW-0301").SetPassword(pw).
		SetCleanSession(false).SetTLSConfig(brokertest.ClientTLS(t, certs.CA, "", ""))
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("gateway over TLS: %v", tok.Error())
	}
	defer c.Disconnect(10)
	t0 := time.Now().Add(-time.Minute).Truncate(time.Second)
	ingesttest.Publish(t, c, ingest.TopicReadings+"LY-GW-0301", ingesttest.Reading("LY-TRK-0301-A", t0, 4.5))
	ingesttest.WaitCount(t, f.readings, "LY-TRK-0301", t0.Add(-time.Minute), t0.Add(time.Minute), 1, 30*time.Second)
	// QoS 2: the handshake completes only once the reading is durable, so InfluxDB has it the moment it does.
	tok := c.Publish(ingest.TopicReadings+"LY-GW-0301", 2, false, ingesttest.Reading("LY-TRK-0301-A", t0.Add(time.Second), 4.6))
	if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("QoS 2 reading: %v", tok.Error())
	}
	if n, err := f.readings.Count(context.Background(), "LY-TRK-0301", t0.Add(-time.Minute), t0.Add(time.Minute)); err != nil || n != 2 {
		t.Fatalf("when the QoS 2 handshake completed InfluxDB held %d readings (%v), want 2", n, err)
	}
	if code, body := f.get(t, "/readyz", ""); code != 200 {
		t.Fatalf("readyz with a TLS-only broker: %d %s", code, body)
	}
}

// The flag defaults are broker.DefaultLimits, so that code and the configuration table say the same.
func TestBrokerFlagDefaultsAreTheDefaultLimits(t *testing.T) {
	cli, _ := parseCLI(t, "serve")
	got := cli.Broker.limits(&cli.Config)
	want := broker.DefaultLimits(cli.Ingest.MaxPayload)
	want.Exempt = cli.MQTTUsername
	if got != want {
		t.Fatalf("flag defaults %+v\nDefaultLimits   %+v", got, want)
	}
}

// serve without ingest (--only api) still runs the embedded broker for the API's commands, but acknowledges no
// reading, since none would be stored: the gateway is disconnected and keeps its message to send again.
func TestServeWithoutIngestAcknowledgesNoReading(t *testing.T) {
	ts := startServe(t, "--only", "api")
	db, err := pg.Open(context.Background(), ts.Cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, pw, err := ingest.NewStore(db).CreateGateway(context.Background(), ingest.Gateway{ID: "LY-GW-0401"}, false)
	if err != nil {
		t.Fatal(err)
	}
	store := paho.NewMemoryStore()
	var lost atomic.Int32
	o := paho.NewClientOptions().AddBroker("tcp://" + ts.MQTT).SetClientID("LY-GW-0401").SetUsername("LY-GW-0401").SetPassword(pw).
		SetCleanSession(false).SetStore(store).SetAutoReconnect(false).
		SetConnectionLostHandler(func(paho.Client, error) { lost.Add(1) })
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer c.Disconnect(10)
	c.Publish(ingest.TopicReadings+"LY-GW-0401", 1, false, ingesttest.Reading("S", time.Now(), 1))
	for deadline := time.Now().Add(5 * time.Second); lost.Load() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the gateway was not disconnected")
		}
		time.Sleep(10 * time.Millisecond)
	}
	held := 0
	for _, k := range store.All() {
		if strings.HasPrefix(k, "o.") {
			held++
		}
	}
	if held != 1 {
		t.Fatalf("the gateway holds %d unacknowledged messages, want its reading", held)
	}
	f := &fleetServer{testServer: ts, t: t}
	if n := f.metric(t, "suilong_mqtt_readings_refused_total"); n != 1 {
		t.Fatalf("readings refused: %v, want 1", n)
	}
}
