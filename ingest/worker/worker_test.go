package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/ingest/ingesttest"
	"github.com/suilong/suilong/ingest/mqttauth"
	"github.com/suilong/suilong/ingest/mqttsub"
	"github.com/suilong/suilong/ingest/rules"
	"github.com/suilong/suilong/internal/broker"
	"github.com/suilong/suilong/internal/broker/brokertest"
	"github.com/suilong/suilong/internal/influx"
	"github.com/suilong/suilong/internal/influx/influxtest"
	"github.com/suilong/suilong/internal/pg/pgtest"
)

const internalUser, internalPass = "suilong-platform", "internal-secret"

// fixture is what ingest runs against in a test: a fresh database and InfluxDB database, an embedded broker
// with the real auth hook and the ingest hook, a data directory. Services started on it may be stopped and
// started again on the same state.
type fixture struct {
	t      *testing.T
	db     *pgxpool.Pool
	store  *ingest.Store
	influx *influx.Client
	src    *mqttsub.BrokerSource
	broker *broker.Broker
	url    string
	data   string
	log    *slog.Logger
}

func newFixture(t *testing.T) *fixture { return newFixtureOn(t, influxtest.New(t)) }

func newFixtureOn(t *testing.T, ic *influx.Client) *fixture {
	t.Helper()
	db := pgtest.New(t)
	store := ingest.NewStore(db)
	log := testLog(t)
	src := mqttsub.NewBrokerSource()
	auth := mqttauth.New(store, internalUser, internalPass, log)
	b := brokertest.Start(t, broker.Options{Hooks: []broker.Hook{{Hook: auth}, {Hook: src}}, Logger: log})
	return &fixture{t: t, db: db, store: store, influx: ic, src: src, broker: b, url: b.URL(), data: t.TempDir(), log: log}
}

// env is a running ingest service.
type env struct {
	*fixture
	svc     *Worker
	metrics *prometheus.Registry
	cancel  context.CancelFunc
	done    chan struct{}
}

// start runs ingest on the fixture until the test ends (or stop).
func (f *fixture) start(cfg Config) *env {
	t := f.t
	t.Helper()
	cfg.DataDir = f.data
	if cfg.Watcher.DrainEvery == 0 {
		cfg.Watcher.DrainEvery = 50 * time.Millisecond
	}
	reg := prometheus.NewRegistry()
	d := Deps{Log: f.log, DB: f.db, Influx: f.influx, Registry: reg}
	if cfg.MQTTURL == "" {
		d.Broker, d.Source = f.broker.Server(), f.src
	}
	svc, err := New(cfg, d)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &env{fixture: f, svc: svc, metrics: reg, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(e.done)
		if err := svc.Run(ctx); err != nil {
			t.Errorf("ingest run: %v", err)
		}
	}()
	t.Cleanup(e.stop)
	select {
	case <-svc.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("ingest did not start")
	}
	return e
}

// start runs ingest against a fresh fixture.
func start(t *testing.T, cfg Config) *env { return newFixture(t).start(cfg) }

func (e *env) stop() {
	e.cancel()
	<-e.done
}

func TestEndToEndEmbeddedBroker(t *testing.T) {
	e := start(t, Config{})
	gw := ingesttest.Register(t, e.store, "LY-GW-0001", "LY-TRK-0001", ingest.KindTruck, ingesttest.Band(0, 4), "LY-TRK-0001-A", "LY-TRK-0001-B")
	other := ingesttest.Register(t, e.store, "GZ-GW-0001", "GZ-CS-0001", ingest.KindColdStore, ingesttest.Band(-25, -18), "GZ-CS-0001-A")
	c := ingesttest.Connect(t, e.url, gw.ID, gw.ID, gw.Password)
	now := time.Now().Truncate(time.Millisecond)
	topic := ingest.TopicReadings + gw.ID

	// One single reading, one batch with a bad neighbour, one malformed message, one foreign sensor.
	ingesttest.Publish(t, c, topic, ingesttest.Reading("LY-TRK-0001-A", now.Add(-3*time.Second), 3.4))
	ingesttest.Publish(t, c, topic, fmt.Appendf(nil, `{"readings":[
		{"sensor_id":"LY-TRK-0001-A","ts":%d,"temp_c":3.5,"door_open":false,"lat":25.07,"lon":117.01,"battery_pct":90},
		{"sensor_id":"LY-TRK-0001-B","ts":%d,"temp_c":99},
		{"sensor_id":"LY-TRK-0001-B","ts":%d,"temp_c":3.6,"humidity_pct":88}]}`,
		now.Add(-2*time.Second).UnixMilli(), now.Add(-2*time.Second).UnixMilli(), now.Add(-time.Second).UnixMilli()))
	ingesttest.Publish(t, c, topic, []byte(`{"sensor_id":"LY-TRK-0001-A","ts":`))
	ingesttest.Publish(t, c, topic, ingesttest.Reading("GZ-CS-0001-A", now, -20))
	ingesttest.Publish(t, c, topic, ingesttest.Reading("NO-SUCH-SENSOR", now, 3))

	// The broker acknowledged each publish only once it was durable, so the count is already final.
	from, to := now.Add(-time.Hour), now.Add(time.Hour)
	ingesttest.WaitCount(t, e.svc.Readings, "LY-TRK-0001", from, to, 3, 5*time.Second)

	dls, total, err := e.store.DeadLetters(context.Background(), ingest.DeadLetterFilter{}, ingest.Page{})
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[ingest.Reason]int{}
	for _, d := range dls {
		reasons[d.Reason]++
		if d.GatewayID != gw.ID || d.Payload == "" || d.Detail == "" {
			t.Errorf("dead letter lacks gateway, payload or detail: %+v", d)
		}
	}
	want := map[ingest.Reason]int{ingest.ReasonOutOfRange: 1, ingest.ReasonMalformedJSON: 1, ingest.ReasonForeignSensor: 1, ingest.ReasonUnknownSensor: 1}
	if total != 4 || fmt.Sprint(reasons) != fmt.Sprint(want) {
		t.Fatalf("dead letter reasons %v (total %d), want %v", reasons, total, want)
	}

	// The gateway cannot publish for another gateway: the broker refuses and disconnects it; nothing is stored.
	bad := ingesttest.Connect(t, e.url, gw.ID+"-2", gw.ID, gw.Password)
	tok := bad.Publish(ingest.TopicReadings+other.ID, 1, false, ingesttest.Reading("GZ-CS-0001-A", now, -19))
	tok.WaitTimeout(2 * time.Second)
	time.Sleep(300 * time.Millisecond)
	if n, _ := e.svc.Readings.Count(context.Background(), "GZ-CS-0001", from, to); n != 0 {
		t.Fatalf("a gateway published for another gateway: %d readings stored", n)
	}
	// Nor subscribe to another gateway's commands.
	st := bad.Subscribe(ingest.TopicCommands+other.ID, 1, nil)
	st.WaitTimeout(2 * time.Second)
	if sub, ok := st.(*paho.SubscribeToken); ok && st.Error() == nil {
		if codes := sub.Result(); codes[ingest.TopicCommands+other.ID] < 0x80 {
			t.Fatalf("subscription to another gateway's commands granted: %v", codes)
		}
	}

	// Wrong password: refused.
	opts := paho.NewClientOptions().AddBroker(e.url).SetClientID("intruder").SetUsername(gw.ID).SetPassword("guess")
	bc := paho.NewClient(opts)
	if ct := bc.Connect(); ct.WaitTimeout(5*time.Second) && ct.Error() == nil {
		bc.Disconnect(0)
		t.Fatal("connected with a wrong password")
	}
}

func TestExcursionAlarmIsStoredAndPublished(t *testing.T) {
	e := start(t, Config{Rules: rules.Config{OpenAfter: 10 * time.Minute, CloseAfter: 5 * time.Minute}})
	gw := ingesttest.Register(t, e.store, "LY-GW-0002", "LY-TRK-0002", ingest.KindTruck, ingesttest.Band(0, 4), "LY-TRK-0002-A")

	platform := ingesttest.Connect(t, e.url, "platform-test", internalUser, internalPass)
	var mu sync.Mutex
	var published []ingest.Alarm
	st := platform.Subscribe(ingest.TopicAlarms+"#", 1, func(_ paho.Client, m paho.Message) {
		var a ingest.Alarm
		if err := json.Unmarshal(m.Payload(), &a); err == nil && strings.HasSuffix(m.Topic(), "/"+a.AssetID) {
			mu.Lock()
			published = append(published, a)
			mu.Unlock()
		}
	})
	st.WaitTimeout(5 * time.Second)

	c := ingesttest.Connect(t, e.url, gw.ID, gw.ID, gw.Password)
	start := time.Now().Add(-2 * time.Hour).Truncate(time.Minute)
	var batch []string
	for m := 0; m < 60; m++ {
		temp := 3.0
		if m >= 20 && m < 35 { // 15 minutes at 7.5 °C
			temp = 7.5
		}
		batch = append(batch, fmt.Sprintf(`{"sensor_id":"LY-TRK-0002-A","ts":%d,"temp_c":%g}`, start.Add(time.Duration(m)*time.Minute).UnixMilli(), temp))
	}
	ingesttest.Publish(t, c, ingest.TopicReadings+gw.ID, []byte(`{"readings":[`+strings.Join(batch, ",")+`]}`))

	var alarms []ingest.Alarm
	ingesttest.Eventually(t, 10*time.Second, "an excursion alarm", func() bool {
		alarms, _, _ = e.store.Alarms(context.Background(), ingest.AlarmFilter{AssetID: "LY-TRK-0002"}, ingest.Page{})
		return len(alarms) == 1 && alarms[0].EndedAt != nil
	})
	a := alarms[0]
	if a.Kind != rules.Excursion || !a.StartedAt.Equal(start.Add(20*time.Minute)) || !a.EndedAt.Equal(start.Add(35*time.Minute)) ||
		*a.PeakC != 7.5 || *a.DegreeMinutes != 15*3.5 || a.Status != ingest.StatusOpen || a.MessageZH == "" {
		t.Fatalf("alarm %+v", a)
	}
	ingesttest.Eventually(t, 5*time.Second, "the alarm on MQTT", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(published) > 0 && published[len(published)-1].ID == a.ID
	})

	// A person acknowledges it; the condition is over, so it closes.
	acked, err := e.store.AckAlarm(context.Background(), a.ID, "coordinator@longyan", "门已关好，货物复检合格")
	if err != nil || acked.Status != ingest.StatusClosed || *acked.AckedBy != "coordinator@longyan" || acked.ClosedAt == nil {
		t.Fatalf("ack: %+v %v", acked, err)
	}
	if _, err := e.store.AckAlarm(context.Background(), a.ID, "x", ""); err == nil {
		t.Fatal("acknowledged twice")
	}
}

func testLog(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}
