package worker

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/ingest/ingesttest"
	"github.com/suilong/suilong/ingest/rules"
	"github.com/suilong/suilong/internal/influx/influxtest"
)

// outage is how long InfluxDB stays down in TestInfluxDBOutage: the 60 seconds unless
// SUILONG_TEST_INFLUX_OUTAGE says otherwise (e.g. 10s for a quick run).
func outage(t *testing.T) time.Duration {
	if s := os.Getenv("SUILONG_TEST_INFLUX_OUTAGE"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("SUILONG_TEST_INFLUX_OUTAGE: %v", err)
		}
		return d
	}
	return 60 * time.Second
}

func fleet(t *testing.T, store *ingest.Store, prefix string, gateways, sensors int) []ingesttest.Gateway {
	var out []ingesttest.Gateway
	for g := range gateways {
		id := fmt.Sprintf("%s-GW-%04d", prefix, g+1)
		asset := fmt.Sprintf("%s-TRK-%04d", prefix, g+1)
		var ss []string
		for s := range sensors {
			ss = append(ss, fmt.Sprintf("%s-%c", asset, 'A'+s))
		}
		out = append(out, ingesttest.Register(t, store, id, asset, ingest.KindTruck, ingesttest.Band(0, 4), ss...))
	}
	return out
}

// InfluxDB stops in the middle of a stream and comes back after a minute: every message is still acknowledged
// (its readings go to the spool), nothing is lost, and the spool drains.
func TestInfluxDBOutage(t *testing.T) {
	down := outage(t)
	srv := influxtest.Start(t)
	f := newFixtureOn(t, influxtest.NewOn(t, srv.URL))
	e := f.start(Config{})
	gws := fleet(t, f.store, "LY", 4, 5)
	const perSensor = 120
	perGateway := 5 * perSensor
	pace := (down + down/3) / time.Duration(perGateway) // publishing lasts a third longer than the outage
	var stoppedAt, startedAt atomic.Int64
	total := int64(4 * perGateway)
	load := ingesttest.Load{URL: f.url, Gateways: gws, PerSensor: perSensor, Batch: 1, Window: 20,
		Start: time.Now().Add(-time.Hour).Truncate(time.Second), Step: time.Second,
		Progress: func(n int64) {
			switch {
			case n == total/10:
				srv.Stop()
				stoppedAt.Store(time.Now().UnixNano())
				t.Logf("InfluxDB stopped after %d of %d messages", n, total)
			case stoppedAt.Load() != 0 && startedAt.Load() == 0 && time.Since(time.Unix(0, stoppedAt.Load())) >= down:
				if startedAt.CompareAndSwap(0, -1) {
					srv.Start()
					startedAt.Store(time.Now().UnixNano())
					t.Logf("InfluxDB started again after %s, %d of %d messages published", down, n, total)
				}
			}
			for n >= total*9/10 && startedAt.Load() <= 0 {
				time.Sleep(100 * time.Millisecond) // keep the end of the stream for after the outage
			}
			time.Sleep(pace)
		}}
	load.Run(t)
	if startedAt.Load() <= 0 || startedAt.Load()-stoppedAt.Load() < int64(down) {
		t.Fatal("the stream ended before InfluxDB came back; the test did not test an outage in mid-stream")
	}
	ingesttest.WaitCount(t, e.svc.Readings, "", load.Start.Add(-time.Minute), time.Now().Add(time.Hour), load.Readings(), 60*time.Second)
	m := e.svc.Metrics
	spooled, replayed := value(m.Spooled), value(m.Written.WithLabelValues("spool"))
	if spooled == 0 || replayed < spooled {
		t.Fatalf("spooled %v readings, replayed %v", spooled, replayed)
	}
	ingesttest.Eventually(t, 10*time.Second, "an empty spool", func() bool { return e.svc.spool.Empty() })
	t.Logf("%d readings, %v of them through the spool", load.Readings(), spooled)
}

// badMessage returns the k-th kind of bad message a gateway sends, and the reason it must be rejected with.
func badMessage(k int, gw ingesttest.Gateway, other ingesttest.Gateway, now time.Time) ([]byte, ingest.Reason) {
	s := gw.Sensors[k%len(gw.Sensors)]
	ts := now.Add(-time.Duration(k) * time.Millisecond).UnixMilli()
	switch k % 10 {
	case 0:
		return fmt.Appendf(nil, `{"sensor_id":%q,"ts":%d,"temp_c":`, s, ts), ingest.ReasonMalformedJSON
	case 1:
		return fmt.Appendf(nil, `{"sensor_id":%q,"ts":%d,"temp_c":NaN}`, s, ts), ingest.ReasonNaN
	case 2:
		return fmt.Appendf(nil, `{"sensor_id":%q,"ts":%d,"temp_c":99.5}`, s, ts), ingest.ReasonOutOfRange
	case 3:
		return fmt.Appendf(nil, `{"sensor_id":"GHOST-%d","ts":%d,"temp_c":3}`, k, ts), ingest.ReasonUnknownSensor
	case 4:
		return fmt.Appendf(nil, `{"sensor_id":%q,"ts":%d,"temp_c":3}`, other.Sensors[0], ts), ingest.ReasonForeignSensor
	case 5:
		return fmt.Appendf(nil, `{"sensor_id":%q,"ts":%d}`, s, ts), ingest.ReasonMissingField
	case 6:
		return fmt.Appendf(nil, `{"sensor_id":%q,"ts":%d,"temp_c":3}`, s, now.Add(time.Hour).UnixMilli()), ingest.ReasonTSFuture
	case 7:
		return fmt.Appendf(nil, `{"sensor_id":%q,"ts":%d,"temp_c":3}`, s, now.Add(-30*24*time.Hour).UnixMilli()), ingest.ReasonTSTooOld
	case 8:
		return fmt.Appendf(nil, `{"readings":[{"sensor_id":%q,"ts":%d,"temp_c":"warm"}]}`, s, ts), ingest.ReasonInvalidField
	default:
		return []byte{0xff, 0x00, 0x13, byte(k)}, ingest.ReasonMalformedJSON
	}
}

// 10,000 malformed and foreign messages interleaved with good ones: every good reading is stored, every bad
// one is in the dead letter with its reason, and ingest keeps going.
func TestMalformedAndForeignFlood(t *testing.T) {
	e := start(t, Config{})
	gws := fleet(t, e.store, "LY", 4, 5)
	now := time.Now()
	want := map[ingest.Reason]int{}
	var bad atomic.Int64
	const perGateway = 2500
	for g := range gws {
		for k := range perGateway {
			_, r := badMessage(k, gws[g], gws[(g+1)%len(gws)], now)
			want[r]++
		}
	}
	load := ingesttest.Load{URL: e.url, Gateways: gws, PerSensor: perGateway / 5, Batch: 1, Window: 100,
		Start: now.Add(-time.Hour).Truncate(time.Second), Step: time.Second,
		Extra: func(g, k int) []byte {
			if k >= perGateway {
				return nil
			}
			bad.Add(1)
			p, _ := badMessage(k, gws[g], gws[(g+1)%len(gws)], now)
			return p
		}}
	load.Run(t)
	if bad.Load() != 10000 {
		t.Fatalf("sent %d bad messages, want 10000", bad.Load())
	}
	ingesttest.WaitCount(t, e.svc.Readings, "", load.Start.Add(-time.Minute), now.Add(time.Minute), load.Readings(), 30*time.Second)
	var got map[ingest.Reason]int
	ingesttest.Eventually(t, 30*time.Second, "10,000 dead letters", func() bool {
		got, _ = e.store.DeadLetterCounts(context.Background())
		total := 0
		for _, n := range got {
			total += n
		}
		return total >= 10000
	})
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("dead letter by reason\n got %v\nwant %v", got, want)
	}
	for _, r := range []ingest.Reason{ingest.ReasonMalformedJSON, ingest.ReasonForeignSensor} {
		if v := value(e.svc.Metrics.Rejected.WithLabelValues(string(r))); int(v) != want[r] {
			t.Errorf("rejected_total{reason=%s} = %v, want %d", r, v, want[r])
		}
	}
	// Still alive and well.
	c := ingesttest.Connect(t, e.url, gws[0].ID+"-after", gws[0].ID, gws[0].Password)
	ingesttest.Publish(t, c, ingest.TopicReadings+gws[0].ID, ingesttest.Reading(gws[0].Sensors[0], now, 2.2))
	ingesttest.WaitCount(t, e.svc.Readings, "", load.Start.Add(-time.Minute), now.Add(time.Minute), load.Readings()+1, 10*time.Second)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = crand.Read(b)
	return hex.EncodeToString(b)
}

// Two ingest processes on a shared subscription on Mosquitto: each gets a share of the readings, and together
// they store every one exactly once.
func TestSharedSubscriptionOnMosquitto(t *testing.T) {
	url := os.Getenv("SUILONG_TEST_MOSQUITTO_URL")
	if url == "" {
		t.Fatal("SUILONG_TEST_MOSQUITTO_URL is not set: run the tests with `make test` (deploy/local/up.sh --test starts " +
			"or finds a Mosquitto), or set it to tcp://127.0.0.1:1883")
	}
	f := newFixture(t)
	run := strings.ToUpper(randomHex(3)) // this run's ids and group, apart from anything else on the broker
	group := "suilong-ingest-test-" + run
	var ids []string
	var es []*env
	for i := range 2 {
		id := fmt.Sprintf("suilong-ingest-test-%s-%d", run, i)
		ids = append(ids, id)
		g := *f
		g.data = t.TempDir()
		es = append(es, g.start(Config{MQTTURL: url, ClientID: id, Group: group}))
	}
	t.Cleanup(func() { forgetSessions(url, ids) })
	time.Sleep(500 * time.Millisecond) // both subscribed before the first message, so that both can get a share
	gws := fleet(t, f.store, "T"+run, 4, 5)
	// Paced at about 2,000 messages a second: a broker with Mosquitto's default limits (20 messages in flight
	// and 1,000 queued per subscriber) silently drops what a subscriber cannot take in time, and this test
	// runs against whatever Mosquitto the machine has. deploy/broker.md gives the settings for real loads.
	load := ingesttest.Load{URL: url, Gateways: gws, PerSensor: 250, Batch: 1, Window: 20,
		Start: time.Now().Add(-time.Hour).Truncate(time.Second), Step: time.Second,
		Progress: func(int64) { time.Sleep(2 * time.Millisecond) }}
	load.Run(t)
	ingesttest.WaitCount(t, es[0].svc.Readings, "", load.Start.Add(-time.Minute), time.Now().Add(time.Hour), load.Readings(), 60*time.Second)
	var shares []float64
	total := 0.0
	for _, e := range es {
		n := value(e.svc.Metrics.Accepted)
		shares = append(shares, n)
		total += n
	}
	t.Logf("shares of %d readings: %v", load.Readings(), shares)
	for i, n := range shares {
		if n < float64(load.Readings())/10 {
			t.Errorf("ingest %d got %v of %d readings: no fair share", i, n, load.Readings())
		}
	}
	if total != float64(load.Readings()) {
		t.Errorf("the two processes took %v readings together, want %d", total, load.Readings())
	}
}

// forgetSessions removes the persistent sessions a test left on a shared broker.
func forgetSessions(url string, clientIDs []string) {
	for _, id := range clientIDs {
		for _, cid := range []string{id, id + "-pub"} {
			c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID(cid).SetCleanSession(true))
			if t := c.Connect(); t.WaitTimeout(5*time.Second) && t.Error() == nil {
				c.Disconnect(100)
			}
		}
	}
}

// scenarioReadings: two sensors of a truck over two and a half hours, one reading a minute: an excursion split
// by a short return inside the band, a second excursion, a door left open.
func scenarioReadings(start time.Time) []string {
	var out []string
	for m := 0; m < 150; m++ {
		ts := start.Add(time.Duration(m) * time.Minute).UnixMilli()
		a := 3.0
		switch {
		case m >= 20 && m < 40, m >= 44 && m < 60:
			a = 6.5 + float64(m%5)/10
		case m >= 100 && m < 125:
			a = -1.5
		}
		out = append(out, fmt.Sprintf(`{"sensor_id":"LY-TRK-0007-A","ts":%d,"temp_c":%g}`, ts, a))
		door := m >= 70 && m < 85
		out = append(out, fmt.Sprintf(`{"sensor_id":"LY-TRK-0007-B","ts":%d,"temp_c":3.1,"door_open":%t}`, ts, door))
	}
	return out
}

type alarmView struct {
	Sensor, Kind, Start, End, Raised string
	Peak, DM                         float64
}

func alarmsOf(t *testing.T, s *ingest.Store) []alarmView {
	t.Helper()
	as, _, err := s.Alarms(context.Background(), ingest.AlarmFilter{Status: []string{ingest.StatusOpen, ingest.StatusAcknowledged, ingest.StatusClosed}},
		ingest.Page{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	var out []alarmView
	for _, a := range as {
		v := alarmView{Sensor: a.SensorID, Kind: string(a.Kind), Start: a.StartedAt.UTC().Format(time.RFC3339), Raised: a.RaisedAt.UTC().Format(time.RFC3339)}
		if a.EndedAt != nil {
			v.End = a.EndedAt.UTC().Format(time.RFC3339)
		}
		if a.PeakC != nil {
			v.Peak, v.DM = *a.PeakC, *a.DegreeMinutes
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b alarmView) int { return strings.Compare(a.Sensor+a.Kind+a.Start, b.Sensor+b.Kind+b.Start) })
	return out
}

// The same excursion scenario, published in order, shuffled, with a restart in the middle, and with a restart
// that lost the rules' saved state (they rebuild it from InfluxDB), gives the same alarms.
func TestExcursionScenarioOrderAndRestart(t *testing.T) {
	cfg := Config{Rules: rules.Config{OpenAfter: 15 * time.Minute, CloseAfter: 10 * time.Minute, DoorLimit: 10 * time.Minute,
		SilenceLimit: 24 * time.Hour}, Watcher: ingest.WatcherConfig{CatchUp: 4 * time.Hour}}
	start0 := time.Now().Add(-3 * time.Hour).Truncate(time.Minute)
	readings := scenarioReadings(start0)

	publish := func(t *testing.T, e *env, gw ingesttest.Gateway, rs []string, batch int) {
		c := ingesttest.Connect(t, e.url, gw.ID+"-"+randomHex(2), gw.ID, gw.Password)
		for i := 0; i < len(rs); i += batch {
			j := min(i+batch, len(rs))
			ingesttest.Publish(t, c, ingest.TopicReadings+gw.ID, []byte(`{"readings":[`+strings.Join(rs[i:j], ",")+`]}`))
		}
	}
	settle := func(t *testing.T, e *env, n int) []alarmView {
		ingesttest.WaitCount(t, e.svc.Readings, "", start0.Add(-time.Minute), time.Now(), int64(n), 10*time.Second)
		time.Sleep(300 * time.Millisecond) // a few drains of the watcher
		e.svc.Watcher.Flush(context.Background())
		return alarmsOf(t, e.store)
	}
	register := func(f *fixture) ingesttest.Gateway {
		return ingesttest.Register(t, f.store, "LY-GW-0007", "LY-TRK-0007", ingest.KindTruck, ingesttest.Band(0, 4), "LY-TRK-0007-A", "LY-TRK-0007-B")
	}

	var want []alarmView
	t.Run("in order", func(t *testing.T) {
		f := newFixture(t)
		gw := register(f)
		e := f.start(cfg)
		publish(t, e, gw, readings, 10)
		want = settle(t, e, len(readings))
		kinds := map[string]int{}
		for _, a := range want {
			kinds[a.Kind]++
		}
		if kinds["excursion"] != 2 || kinds["door_open"] != 1 || len(want) != 3 {
			t.Fatalf("scenario alarms: %+v", want)
		}
	})
	t.Run("shuffled", func(t *testing.T) {
		f := newFixture(t)
		gw := register(f)
		e := f.start(cfg)
		shuffled := slices.Clone(readings)
		rand.New(rand.NewPCG(42, 7)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		publish(t, e, gw, shuffled, 1)
		if got := settle(t, e, len(readings)); !slices.Equal(got, want) {
			t.Fatalf("shuffled\n got %+v\nwant %+v", got, want)
		}
	})
	for _, lose := range []bool{false, true} {
		name := "restart in the middle"
		if lose {
			name = "restart that lost the saved rule state"
		}
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			gw := register(f)
			e := f.start(cfg)
			half := 2 * 32 // mid-excursion: minute 32
			publish(t, e, gw, readings[:half], 8)
			ingesttest.WaitCount(t, e.svc.Readings, "", start0.Add(-time.Minute), time.Now(), int64(half), 10*time.Second)
			e.stop()
			if lose {
				if _, err := f.db.Exec(context.Background(), `DELETE FROM rule_states`); err != nil {
					t.Fatal(err)
				}
			}
			e = f.start(cfg)
			publish(t, e, gw, readings[half:], 8)
			if got := settle(t, e, len(readings)); !slices.Equal(got, want) {
				t.Fatalf("after a restart\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// value reads a counter.
func value(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}
