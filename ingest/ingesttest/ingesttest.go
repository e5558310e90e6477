// Package ingesttest helps ingest's integration tests: a registry with gateways, assets and sensors, MQTT
// gateways that publish like real ones, and waiting for readings to land in InfluxDB.
package ingesttest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/suilong/suilong/ingest"
)

// Gateway is a registered gateway with its password and sensors.
type Gateway struct {
	ID       string
	Password string
	Sensors  []string
}

// Register creates a gateway with sensors in one asset (created if needed). band may be nil.
func Register(tb testing.TB, s *ingest.Store, gatewayID, assetID string, kind ingest.AssetKind, band *ingest.Band, sensors ...string) Gateway {
	tb.Helper()
	ctx := context.Background()
	_, pw, err := s.CreateGateway(ctx, ingest.Gateway{ID: gatewayID, Name: "test " + gatewayID}, false)
	if err != nil {
		tb.Fatalf("ingesttest: create gateway: %v", err)
	}
	if _, err := s.Asset(ctx, assetID); err != nil {
		a := ingest.Asset{ID: assetID, Kind: kind, Name: "test " + assetID}
		if band != nil {
			a.Band = *band
		}
		if _, err := s.CreateAsset(ctx, a); err != nil {
			tb.Fatalf("ingesttest: create asset: %v", err)
		}
	}
	for _, id := range sensors {
		if _, err := s.CreateSensor(ctx, ingest.Sensor{ID: id, GatewayID: gatewayID, AssetID: assetID}); err != nil {
			tb.Fatalf("ingesttest: create sensor: %v", err)
		}
	}
	return Gateway{ID: gatewayID, Password: pw, Sensors: sensors}
}

// Band returns a band from its bounds.
func Band(lo, hi float64) *ingest.Band { return &ingest.Band{MinC: &lo, MaxC: &hi} }

// Connect connects an MQTT client as a gateway would: persistent session (so unacknowledged QoS 1 messages
// are sent again after a reconnect), automatic reconnection. It disconnects at cleanup.
func Connect(tb testing.TB, url, clientID, user, pass string) paho.Client {
	tb.Helper()
	opts := paho.NewClientOptions().AddBroker(url).SetClientID(clientID).SetUsername(user).SetPassword(pass).
		SetCleanSession(false).SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(200 * time.Millisecond).
		SetMaxReconnectInterval(time.Second).SetConnectTimeout(5 * time.Second).SetWriteTimeout(10 * time.Second)
	c := paho.NewClient(opts)
	t := c.Connect()
	if !t.WaitTimeout(15*time.Second) || t.Error() != nil {
		tb.Fatalf("ingesttest: connect %s as %s: %v", url, user, t.Error())
	}
	tb.Cleanup(func() { c.Disconnect(100) })
	return c
}

// Publish publishes with QoS 1 and waits for the broker's acknowledgement.
func Publish(tb testing.TB, c paho.Client, topic string, payload []byte) {
	tb.Helper()
	t := c.Publish(topic, 1, false, payload)
	if !t.WaitTimeout(30*time.Second) || t.Error() != nil {
		tb.Fatalf("ingesttest: publish to %s: %v", topic, t.Error())
	}
}

// Reading formats a single-reading payload.
func Reading(sensor string, ts time.Time, temp float64) []byte {
	return fmt.Appendf(nil, `{"sensor_id":%q,"ts":%q,"temp_c":%g}`, sensor, ts.UTC().Format(time.RFC3339Nano), temp)
}

// Counter counts stored readings (ingest/influxw.Store).
type Counter interface {
	Count(ctx context.Context, assetID string, from, to time.Time) (int64, error)
}

// WaitCount waits until InfluxDB holds want readings in [from, to) (optionally of one asset) and fails the test
// if the count is different when time is up or if it ever exceeds want.

func WaitCount(tb testing.TB, rs Counter, asset string, from, to time.Time, want int64, within time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(within)
	var n int64
	var err error
	for {
		n, err = rs.Count(context.Background(), asset, from, to)
		if err == nil && n == want {
			return
		}
		if err == nil && n > want {
			tb.Fatalf("ingesttest: %d readings stored, want exactly %d", n, want)
		}
		if time.Now().After(deadline) {
			tb.Fatalf("ingesttest: %d readings stored after %s, want %d (last error %v)", n, within, want, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Eventually polls cond until it holds or fails the test after within.
func Eventually(tb testing.TB, within time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("ingesttest: %s did not happen within %s", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Load publishes readings from many gateways at once, each with up to Window QoS 1 messages in flight, the way a
// fleet of gateways catching up would. Reading k of a sensor has ts Start + k*Step, so every reading is a
// distinct point and the total stored is known exactly.
type Load struct {
	URL      string
	Gateways []Gateway
	// PerSensor readings of each sensor, Batch readings per message (1: single-reading messages).
	PerSensor int
	Batch     int
	Window    int
	Start     time.Time
	Step      time.Duration
	// Progress, when set, is called with the number of messages published so far, after each one.
	Progress func(published int64)
	// Extra, when set, may return a message to send before message k of gateway number g (to mix in bad
	// messages); nil sends none.
	Extra func(g, k int) []byte
}

// Readings is how many readings the load publishes.
func (l Load) Readings() int64 {
	n := 0
	for _, g := range l.Gateways {
		n += len(g.Sensors) * l.PerSensor
	}
	return int64(n)
}

// Run publishes everything and waits until the broker acknowledged every message. Clients reconnect by
// themselves and resend what was not acknowledged; a token that failed with a broken connection is only logged,
// since paho keeps the message and sends it again after reconnecting: what counts is what gets stored.
func (l Load) Run(tb testing.TB) {
	tb.Helper()
	if l.Batch <= 0 {
		l.Batch = 1
	}
	if l.Window <= 0 {
		l.Window = 100
	}
	if l.Step <= 0 {
		l.Step = time.Second
	}
	var published, tokenErrors atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, len(l.Gateways))
	for gi, g := range l.Gateways {
		c := Connect(tb, l.URL, g.ID, g.ID, g.Password)
		wg.Go(func() {
			sem := make(chan struct{}, l.Window)
			var tokens sync.WaitGroup
			var failed atomic.Value
			topic := ingest.TopicReadings + g.ID
			k := 0
			send := func(payload []byte) {
				sem <- struct{}{}
				t := c.Publish(topic, 1, false, payload)
				tokens.Go(func() {
					defer func() { <-sem }()
					if !t.WaitTimeout(120 * time.Second) {
						failed.Store(fmt.Errorf("publish to %s not acknowledged within 120s", topic))
					} else if err := t.Error(); err != nil {
						tokenErrors.Add(1)
					}
				})
				if l.Progress != nil {
					l.Progress(published.Add(1))
				}
			}
			var parts []string
			for i := 0; i < l.PerSensor; i++ {
				ts := l.Start.Add(time.Duration(i) * l.Step)
				for si, s := range g.Sensors {
					parts = append(parts, fmt.Sprintf(`{"sensor_id":%q,"ts":%d,"temp_c":%.2f}`, s, ts.UnixMilli(), 2.5+float64((i+si)%10)/10))
					if len(parts) == l.Batch {
						if l.Extra != nil {
							if p := l.Extra(gi, k); p != nil {
								send(p)
							}
						}
						k++
						if l.Batch == 1 {
							send([]byte(parts[0]))
						} else {
							send([]byte(`{"readings":[` + strings.Join(parts, ",") + `]}`))
						}
						parts = parts[:0]
					}
				}
			}
			if len(parts) > 0 {
				send([]byte(`{"readings":[` + strings.Join(parts, ",") + `]}`))
			}
			tokens.Wait()
			if err, _ := failed.Load().(error); err != nil {
				errc <- err
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		tb.Fatal(err)
	}
	if n := tokenErrors.Load(); n > 0 {
		tb.Logf("ingesttest: %d publishes failed on a broken connection and were left to paho's resend", n)
	}
}

// Mosquitto is a private Mosquitto process on a free port, for tests whose broker settings matter (queues,
// in-flight windows, TLS); it is killed at cleanup.
type Mosquitto struct {
	URL  string // tcp://127.0.0.1:port, or ssl:// with a TLS listener
	Addr string
	out  *bytes.Buffer
}

// StartMosquitto runs Debian's mosquitto with the settings deploy/broker.md gives for real loads (no
// persistence; anonymous clients allowed unless extra says otherwise or loads a plugin) plus extra
// configuration lines. It skips the test when mosquitto is not installed.
func StartMosquitto(tb testing.TB, extra string, tls bool) *Mosquitto {
	tb.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if _, e := os.Stat("/usr/sbin/mosquitto"); e != nil {
			tb.Skip("mosquitto is not installed (apt-get install mosquitto)")
		}
		bin = "/usr/sbin/mosquitto"
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, port, _ := net.SplitHostPort(addr)
	conf := filepath.Join(tb.TempDir(), "mosquitto.conf")
	// "user root": run as root, Mosquitto would otherwise become user mosquitto, who cannot read the test's files.
	anonymous := "allow_anonymous true"
	if strings.Contains(extra, "allow_anonymous") || strings.Contains(extra, "plugin ") {
		anonymous = "" // the extra lines (or the plugin) decide
	}
	if err := os.WriteFile(conf, fmt.Appendf(nil, `listener %s 127.0.0.1
%s
persistence false
user root
max_inflight_messages 1000
max_queued_messages 1000000
%s
`, port, anonymous, extra), 0o644); err != nil {
		tb.Fatal(err)
	}
	m := &Mosquitto{URL: "tcp://" + addr, Addr: addr, out: &bytes.Buffer{}}
	if tls {
		m.URL = "ssl://" + addr
	}
	cmd := exec.Command(bin, "-c", conf)
	cmd.Stdout, cmd.Stderr = m.out, m.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return m
		}
		if time.Now().After(deadline) {
			tb.Fatalf("ingesttest: mosquitto did not listen:\n%s", m.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// StartMosquittoDynsec runs a private Mosquitto whose clients are those of its dynamic-security plugin, with an
// administrator of the plugin (admin, adminPassword) who may also publish and subscribe to everything: the
// platform's own client.
func StartMosquittoDynsec(tb testing.TB, adminPassword string) *Mosquitto {
	tb.Helper()
	plugin := "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"
	if _, err := os.Stat(plugin); err != nil {
		tb.Skip("Mosquitto's dynamic-security plugin is not installed (Debian's mosquitto package has it)")
	}
	file := filepath.Join(tb.TempDir(), "dynsec.json")
	if out, err := exec.Command("mosquitto_ctrl", "dynsec", "init", file, "admin", adminPassword).CombinedOutput(); err != nil {
		tb.Fatalf("ingesttest: mosquitto_ctrl dynsec init: %v\n%s", err, out)
	}
	// The platform's client: the admin may also do anything on every topic.
	b, err := os.ReadFile(file)
	if err != nil {
		tb.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		tb.Fatal(err)
	}
	for _, r := range doc["roles"].([]any) {
		role := r.(map[string]any)
		if role["rolename"] != "admin" {
			continue
		}
		acls, _ := role["acls"].([]any)
		for _, kind := range []string{"publishClientSend", "publishClientReceive", "subscribePattern", "unsubscribePattern"} {
			acls = append(acls, map[string]any{"acltype": kind, "topic": "#", "allow": true})
		}
		role["acls"] = acls
	}
	b, _ = json.Marshal(doc)
	if err := os.WriteFile(file, b, 0o600); err != nil {
		tb.Fatal(err)
	}
	return StartMosquitto(tb, "allow_anonymous false\nplugin "+plugin+"\nplugin_opt_config_file "+file, false)
}
