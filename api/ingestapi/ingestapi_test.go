package ingestapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/suilong/suilong/api"
	"github.com/suilong/suilong/api/ingestapi"
	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/ingest/influxw"
	"github.com/suilong/suilong/ingest/mqttsub"
	"github.com/suilong/suilong/ingest/rules"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/auth/authtest"
	"github.com/suilong/suilong/internal/broker"
	"github.com/suilong/suilong/internal/broker/brokertest"
	"github.com/suilong/suilong/internal/influx/influxtest"
	"github.com/suilong/suilong/internal/pg/pgtest"
)

type problem struct {
	Status int    `json:"status"`
	Code   string `json:"code"`
	Errors []struct {
		Field, Message string
	} `json:"errors"`
}

// fixture is the ingest routes on a real PostgreSQL and InfluxDB, publishing through a real embedded broker
// whose messages the test reads, with the registry-change hooks recorded.
type fixture struct {
	t     *testing.T
	url   string
	store *ingest.Store
	svc   *ingest.Service

	mu       sync.Mutex
	messages map[string][][]byte // topic → payloads published
	retained map[string]bool
	sensors  []string // SensorChanged calls
	gateways []string // GatewayChanged calls
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db := pgtest.New(t)
	b := brokertest.Start(t, broker.Options{})
	f := &fixture{t: t, store: ingest.NewStore(db), messages: map[string][][]byte{}, retained: map[string]bool{}}
	for _, filter := range []string{ingest.TopicCommands + "#", ingest.TopicAlarms + "#"} {
		if err := b.Server().Subscribe(filter, 1, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.messages[pk.TopicName] = append(f.messages[pk.TopicName], pk.Payload)
			f.retained[pk.TopicName] = f.retained[pk.TopicName] || pk.FixedHeader.Retain
		}); err != nil {
			t.Fatal(err)
		}
	}
	f.svc = ingest.NewService(f.store, ingest.NewFleet(f.store, influxw.NewStore(influxtest.New(t)), nil),
		mqttsub.InlinePublisher{Srv: b.Server()}, slog.New(slog.DiscardHandler))
	f.svc.SensorChanged = func(id string) { f.mu.Lock(); f.sensors = append(f.sensors, id); f.mu.Unlock() }
	f.svc.GatewayChanged = func(id string) { f.mu.Lock(); f.gateways = append(f.gateways, id); f.mu.Unlock() }
	s := api.New(api.Options{Logger: slog.New(slog.DiscardHandler), Auth: auth.NewStore(db), Modules: []api.Module{ingestapi.New(f.svc, "broker-secret")}})
	srv := httptest.NewServer(s.Engine)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func (f *fixture) call(method, path, key string, body any, out any) int {
	f.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		if s, ok := body.(string); ok {
			b = []byte(s)
		}
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, f.url+path, r)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			f.t.Fatalf("%s %s: %d %s: %v", method, path, res.StatusCode, b, err)
		}
	}
	return res.StatusCode
}

func (f *fixture) must(method, path, key string, body any, want int, out any) {
	f.t.Helper()
	var raw json.RawMessage
	if got := f.call(method, path, key, body, &raw); got != want {
		f.t.Fatalf("%s %s = %d, want %d: %s", method, path, got, want, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			f.t.Fatal(err)
		}
	}
}

// field asserts a problem of the status naming exactly the field.
func (f *fixture) field(method, path, key string, body any, status int, field string) {
	f.t.Helper()
	var p problem
	f.must(method, path, key, body, status, &p)
	if len(p.Errors) != 1 || p.Errors[0].Field != field {
		f.t.Fatalf("%s %s: problem %+v, want one naming %q", method, path, p, field)
	}
}

func (f *fixture) published(topic string) [][]byte {
	f.t.Helper()
	var got [][]byte
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		f.mu.Lock()
		got = f.messages[topic]
		f.mu.Unlock()
		if len(got) > 0 {
			break
		}
	}
	return got
}

// The registry through the API: a coordinator registers a gateway (its password shown once, its configuration
// pushed to it, retained), an asset and a sensor; changes reach the running ingest and the broker through the
// hooks; bad input is a problem naming the field; a base, a buyer and a gateway key cannot touch the registry.
func TestRegistryThroughTheAPI(t *testing.T) {
	f := newFixture(t)
	_, coord := authtest.Org(t, f.store.DB(), "龙岩市商务局", auth.RoleCoordinator)
	_, base := authtest.Org(t, f.store.DB(), "上杭县蛟洋蔬菜专业合作社", auth.RoleBase)
	_, gw := authtest.Org(t, f.store.DB(), "LY-GW-0009", auth.RoleGateway)

	var created ingestapi.GatewayWithCredentials
	f.must("POST", "/api/v1/gateways", coord, map[string]any{"id": "LY-GW-0001", "name": "冷藏车 1 号", "sampling_interval_s": 20}, 201, &created)
	if created.MQTT.Username != "LY-GW-0001" || len(created.MQTT.Password) < 20 || created.MQTT.ReadingsTopic != "coldchain/v1/readings/LY-GW-0001" {
		t.Fatalf("credentials %+v", created.MQTT)
	}
	cmds := f.published("coldchain/v1/commands/LY-GW-0001")
	if len(cmds) != 1 || !bytes.Contains(cmds[0], []byte(`"sampling_interval_s":20`)) || !f.retained["coldchain/v1/commands/LY-GW-0001"] {
		t.Fatalf("configuration pushed: %q retained %v", cmds, f.retained)
	}
	var got map[string]any
	f.must("GET", "/api/v1/gateways/LY-GW-0001", coord, nil, 200, &got)
	if _, leaked := got["password"]; leaked {
		t.Fatalf("a gateway read shows a password: %v", got)
	}
	f.must("POST", "/api/v1/gateways", coord, map[string]any{"id": "LY-GW-0001"}, 409, nil)
	f.field("POST", "/api/v1/gateways", coord, map[string]any{"id": "LY GW/1"}, 422, "id")
	f.field("POST", "/api/v1/gateways", coord, `{"id":"LY-GW-0002","colour":"red"}`, 400, "colour")

	var creds ingestapi.Credentials
	f.must("POST", "/api/v1/gateways/LY-GW-0001/credentials", coord, nil, 200, &creds)
	if creds.Password == created.MQTT.Password || creds.Password == "" {
		t.Fatal("the reset gave no new password")
	}
	f.must("POST", "/api/v1/gateways/LY-GW-0404/credentials", coord, nil, 404, nil)
	f.must("PATCH", "/api/v1/gateways/LY-GW-0001", coord, map[string]any{"sampling_interval_s": 60}, 200, nil)
	if cmds := f.published("coldchain/v1/commands/LY-GW-0001"); len(cmds) != 2 || !bytes.Contains(cmds[1], []byte(`"sampling_interval_s":60`)) {
		t.Fatalf("new interval pushed: %q", cmds)
	}

	f.must("POST", "/api/v1/assets", coord, map[string]any{"id": "LY-TRK-0001", "kind": "truck", "name": "闽F 冷藏车",
		"band": map[string]any{"min_c": 0, "max_c": 4}}, 201, nil)
	f.field("POST", "/api/v1/assets", coord, map[string]any{"id": "LY-TRK-0002", "kind": "boat"}, 422, "kind")
	f.field("GET", "/api/v1/assets?kind=boat", coord, nil, 400, "kind")
	f.must("POST", "/api/v1/sensors", coord, map[string]any{"id": "LY-TRK-0001-A", "gateway_id": "LY-GW-0001", "asset_id": "LY-TRK-0001"}, 201, nil)
	f.field("POST", "/api/v1/sensors", coord, map[string]any{"id": "LY-TRK-0001-B", "gateway_id": "LY-GW-0404", "asset_id": "LY-TRK-0001"}, 422, "gateway_id")
	f.must("PATCH", "/api/v1/assets/LY-TRK-0001", coord, map[string]any{"band": map[string]any{"min_c": 1, "max_c": 4}}, 200, nil)
	f.must("DELETE", "/api/v1/assets/LY-TRK-0001", coord, nil, 409, nil) // a sensor is mounted in it
	f.must("DELETE", "/api/v1/sensors/LY-TRK-0001-A", coord, nil, 204, nil)
	f.must("DELETE", "/api/v1/gateways/LY-GW-0001", coord, nil, 204, nil)

	f.mu.Lock()
	sensors, gateways := f.sensors, f.gateways
	f.mu.Unlock()
	// Created, its asset's band changed, deleted: the running ingest forgets the sensor each time.
	if len(sensors) != 3 || sensors[0] != "LY-TRK-0001-A" || sensors[2] != "LY-TRK-0001-A" {
		t.Fatalf("sensor changes told to ingest: %v", sensors)
	}
	// Created, credentials reset, deleted: the broker reloads (and disconnects) each time.
	if len(gateways) != 3 {
		t.Fatalf("gateway changes told to the broker: %v", gateways)
	}

	for _, key := range []string{base, gw} {
		f.must("GET", "/api/v1/gateways", key, nil, 403, nil)
		f.must("POST", "/api/v1/gateways", key, map[string]any{"id": "LY-GW-0003"}, 403, nil)
		f.must("POST", "/api/v1/assets", key, map[string]any{"id": "LY-TRK-0003", "kind": "truck"}, 403, nil)
		f.must("GET", "/api/v1/sensors", key, nil, 403, nil)
		f.must("GET", "/api/v1/dead-letters", key, nil, 403, nil)
	}
	f.must("GET", "/api/v1/assets", gw, nil, 403, nil)
	var page struct{ Items []ingest.Asset }
	f.must("GET", "/api/v1/assets", base, nil, 200, &page) // a base sees only what carried its lots: here nothing
	if len(page.Items) != 0 {
		t.Fatalf("a base sees %d assets that never carried its lots", len(page.Items))
	}
	f.field("GET", "/api/v1/gateways?limit=0", coord, nil, 400, "limit")
}

// Alarms and the dead letter through the API: a coordinator acknowledges an alarm with a comment, which is
// published as it now stands; filters that cannot be read are problems naming the parameter.
func TestAlarmsAndDeadLettersThroughTheAPI(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, coord := authtest.Org(t, f.store.DB(), "广州市协作办", auth.RoleCoordinator)
	_, buyer := authtest.Org(t, f.store.DB(), "广州江南果菜批发市场", auth.RoleBuyer)
	if _, _, err := f.store.CreateGateway(ctx, ingest.Gateway{ID: "LY-GW-0001"}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.CreateAsset(ctx, ingest.Asset{ID: "LY-TRK-0001", Kind: ingest.KindTruck}); err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	changed, err := f.store.ApplyAlarms(ctx, []rules.Alarm{{SensorID: "LY-TRK-0001-A", AssetID: "LY-TRK-0001", Kind: rules.Excursion,
		Start: start, RaisedAt: start.Add(15 * time.Minute), End: start.Add(30 * time.Minute), PeakC: 8.5, BandLo: 0, BandHi: 4}})
	if err != nil || len(changed) != 1 {
		t.Fatalf("alarm: %v %v", changed, err)
	}
	id := changed[0].ID
	path := "/api/v1/alarms/" + itoa(id)

	var list struct {
		Items []ingest.Alarm
		Total int
	}
	f.must("GET", "/api/v1/alarms?status=active&kind=excursion", coord, nil, 200, &list)
	if list.Total != 1 || list.Items[0].ID != id || list.Items[0].Status != ingest.StatusOpen {
		t.Fatalf("open alarms: %+v", list)
	}
	f.field("GET", "/api/v1/alarms?status=ongoing", coord, nil, 400, "status")
	f.field("GET", "/api/v1/alarms?kind=fire", coord, nil, 400, "kind")
	f.field("GET", "/api/v1/alarms?from=yesterday", coord, nil, 400, "from")
	f.must("GET", "/api/v1/alarms/999999", coord, nil, 404, nil)
	f.must("GET", "/api/v1/alarms/x", coord, nil, 404, nil)
	f.must("POST", path+"/ack", buyer, map[string]any{"comment": "seen"}, 403, nil)

	var acked ingest.Alarm
	f.must("POST", path+"/ack", coord, map[string]any{"comment": "司机已关好后门 driver closed the rear door"}, 200, &acked)
	if acked.Status != ingest.StatusClosed || acked.AckComment == nil || *acked.AckComment != "司机已关好后门 driver closed the rear door" {
		t.Fatalf("acknowledged: %+v", acked)
	}
	msgs := f.published("coldchain/v1/alarms/LY-TRK-0001")
	var pub ingest.Alarm
	if len(msgs) != 1 || json.Unmarshal(msgs[0], &pub) != nil || pub.ID != id || pub.Status != ingest.StatusClosed {
		t.Fatalf("published on acknowledgement: %q", msgs)
	}

	if err := f.store.InsertDeadLetters(ctx, []ingest.DeadLetter{{ReceivedAt: time.Now(), GatewayID: "LY-GW-0001",
		Topic: "coldchain/v1/readings/LY-GW-0001", Reason: ingest.ReasonNaN, Field: "temp_c", Detail: "temp_c is NaN", Payload: `{"temp_c":NaN}`}}); err != nil {
		t.Fatal(err)
	}
	var dead struct {
		Items []ingest.DeadLetter
		Total int
	}
	f.must("GET", "/api/v1/dead-letters?reason=nan&gateway_id=LY-GW-0001", coord, nil, 200, &dead)
	if dead.Total != 1 || dead.Items[0].Field != "temp_c" {
		t.Fatalf("dead letters: %+v", dead)
	}
	f.field("GET", "/api/v1/dead-letters?reason=bad", coord, nil, 400, "reason")
	f.field("GET", "/api/v1/dead-letters?to=soon", coord, nil, 400, "to")
}

// Readings requests are checked before InfluxDB is asked: a window that cannot be read, a range that ends
// before it starts, too many windows.
func TestReadingsRequestsAreChecked(t *testing.T) {
	f := newFixture(t)
	_, coord := authtest.Org(t, f.store.DB(), "广州市协作办", auth.RoleCoordinator)
	if _, err := f.store.CreateAsset(context.Background(), ingest.Asset{ID: "LY-TRK-0001", Kind: ingest.KindTruck}); err != nil {
		t.Fatal(err)
	}
	p := "/api/v1/assets/LY-TRK-0001/readings"
	f.field("GET", p+"?every=soon", coord, nil, 400, "every")
	f.field("GET", p+"?from=2026-11-24T10:00:00Z&to=2026-11-24T09:00:00Z", coord, nil, 422, "to")
	f.field("GET", p+"?from=2026-11-01T00:00:00Z&to=2026-11-24T00:00:00Z&every=1s", coord, nil, 422, "every")
	var r ingestapi.Readings
	f.must("GET", p+"?from=2026-11-24T09:00:00Z&to=2026-11-24T10:00:00Z&every=5m", coord, nil, 200, &r)
	if r.Every != "5m0s" || len(r.Points) != 0 || len(r.Periods) != 1 {
		t.Fatalf("an hour without readings: %+v", r)
	}
	f.must("GET", "/api/v1/assets/LY-TRK-0404/readings", coord, nil, 404, nil)
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// The hook an external broker (EMQX's HTTP authenticator and authorizer) asks about clients: only with the
// hook's secret; a registered gateway with its password and its own client id is allowed, anything else
// denied; the platform's own client is a superuser; a gateway may publish its readings and status and
// subscribe to its commands, nothing of another gateway.
func TestBrokerHook(t *testing.T) {
	f := newFixture(t)
	f.svc.Platform = ingest.PlatformClient{User: "suilong-platform", Password: "platform-secret"}
	_, pw, err := f.store.CreateGateway(context.Background(), ingest.Gateway{ID: "LY-GW-0001"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.store.CreateGateway(context.Background(), ingest.Gateway{ID: "LY-GW-0001-B"}, false); err != nil {
		t.Fatal(err)
	}
	hook := func(path, secret string, body any) (int, map[string]any) {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", f.url+"/api/v1/mqtt/"+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		if secret != "" {
			req.Header.Set("Authorization", "Bearer "+secret)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out
	}
	auth := func(user, pass, clientID string) string {
		t.Helper()
		code, out := hook("auth", "broker-secret", map[string]any{"username": user, "password": pass, "clientid": clientID})
		if code != 200 {
			t.Fatalf("auth %s: %d %v", user, code, out)
		}
		if out["is_superuser"] == true {
			return out["result"].(string) + "+superuser"
		}
		return out["result"].(string)
	}
	for _, tt := range []struct{ user, pass, clientID, want string }{
		{"LY-GW-0001", pw, "LY-GW-0001", "allow"},
		{"LY-GW-0001", pw, "LY-GW-0001-fw2", "allow"},
		{"LY-GW-0001", pw, "LY-GW-0001-B", "deny"}, // another gateway's own id
		{"LY-GW-0001", "guess", "LY-GW-0001", "deny"},
		{"LY-GW-0404", pw, "LY-GW-0404", "deny"},
		{"", "", "anon", "deny"},
		{"suilong-platform", "platform-secret", "suilong-ingest-1", "allow+superuser"},
		{"suilong-platform", "wrong", "suilong-ingest-1", "deny"},
	} {
		if got := auth(tt.user, tt.pass, tt.clientID); got != tt.want {
			t.Errorf("%s with client id %s: %s, want %s", tt.user, tt.clientID, got, tt.want)
		}
	}
	acl := func(user, action, topic string) string {
		t.Helper()
		code, out := hook("acl", "broker-secret", map[string]any{"username": user, "clientid": user, "action": action, "topic": topic, "qos": 1, "retain": false})
		if code != 200 {
			t.Fatalf("acl: %d %v", code, out)
		}
		return out["result"].(string)
	}
	for _, tt := range []struct{ user, action, topic, want string }{
		{"LY-GW-0001", "publish", "coldchain/v1/readings/LY-GW-0001", "allow"},
		{"LY-GW-0001", "publish", "coldchain/v1/status/LY-GW-0001", "allow"},
		{"LY-GW-0001", "publish", "coldchain/v1/readings/LY-GW-0001-B", "deny"},
		{"LY-GW-0001", "subscribe", "coldchain/v1/commands/LY-GW-0001", "allow"},
		{"LY-GW-0001", "subscribe", "coldchain/v1/commands/#", "deny"},
		{"LY-GW-0001", "publish", "coldchain/v1/alarms/LY-TRK-0001", "deny"},
		{"suilong-platform", "subscribe", "$share/suilong-ingest/coldchain/v1/readings/+", "allow"},
	} {
		if got := acl(tt.user, tt.action, tt.topic); got != tt.want {
			t.Errorf("%s %s %s: %s, want %s", tt.user, tt.action, tt.topic, got, tt.want)
		}
	}
	if code, _ := hook("acl", "broker-secret", map[string]any{"username": "LY-GW-0001", "action": "delete", "topic": "x"}); code != 422 {
		t.Errorf("an unknown action: %d", code)
	}
	for _, secret := range []string{"", "guess"} {
		if code, _ := hook("auth", secret, map[string]any{"username": "LY-GW-0001", "password": pw, "clientid": "LY-GW-0001"}); code != 401 {
			t.Errorf("the hook answered a caller with secret %q: %d", secret, code)
		}
	}
}
