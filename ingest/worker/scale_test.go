package worker

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/ingest/influxw"
	"github.com/suilong/suilong/ingest/ingesttest"
	"github.com/suilong/suilong/ingest/rules"
	"github.com/suilong/suilong/internal/influx/influxtest"
	"github.com/suilong/suilong/internal/pg"
	"github.com/suilong/suilong/internal/pg/pgtest"
)

// The rules of the scale test, in seconds where the real ones are in minutes.
var scaleRules = rules.Config{OpenAfter: 15 * time.Second, CloseAfter: 10 * time.Second, DoorLimit: 10 * time.Second,
	SilenceLimit: 8 * time.Second}

const (
	scaleSweepGrace = 2 * time.Second
	scaleGap        = 20 * time.Second // how long the third sensor stays silent
)

// scaleAlarm is an alarm with its times as offsets from the run's start, or as the number of the live sensor's
// reading they are (whose times differ from run to run), so that two runs compare.
type scaleAlarm struct {
	Sensor, Kind string
	Start, End   string
	Peak         float64
}

// scaleRun is what a run of the scenario published: when it started and the live sensor's readings.
type scaleRun struct {
	t0   time.Time
	live []time.Time
	n    int64
}

func (r *scaleRun) when(t time.Time) string {
	if i := slices.IndexFunc(r.live, t.Equal); i >= 0 {
		return fmt.Sprintf("live reading %d", i)
	}
	return t.Sub(r.t0).String()
}

func scaleAlarms(t *testing.T, s *ingest.Store, r *scaleRun) []scaleAlarm {
	t.Helper()
	as, _, err := s.Alarms(context.Background(), ingest.AlarmFilter{Status: []string{ingest.StatusOpen, ingest.StatusAcknowledged, ingest.StatusClosed}},
		ingest.Page{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	var out []scaleAlarm
	for _, a := range as {
		v := scaleAlarm{Sensor: a.SensorID, Kind: string(a.Kind), Start: r.when(a.StartedAt), End: "ongoing"}
		if a.EndedAt != nil {
			v.End = r.when(*a.EndedAt)
		}
		if a.PeakC != nil {
			v.Peak = *a.PeakC
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b scaleAlarm) int { return strings.Compare(a.Sensor+a.Kind+a.Start, b.Sensor+b.Kind+b.Start) })
	return out
}

// scaleScenario publishes, from real gateways, the excursion and door scenario of the rules tests (sensor A:
// two excursions, one of them with a brief return inside the band; sensor B: a door left open), one reading a
// message so that the readings spread over every ingest worker, and a third sensor that reads live, falls silent
// for scaleGap and comes back. at(d, fn) calls fn d after the start, meanwhile.
func scaleScenario(t *testing.T, url, as string, g1, g2 ingesttest.Gateway, at map[time.Duration]func()) *scaleRun {
	t.Helper()
	t0 := time.Now().Truncate(time.Millisecond) // the rules keep milliseconds
	r := &scaleRun{t0: t0}
	var wg sync.WaitGroup
	var n sync.Map
	count := func(k string) { v, _ := n.LoadOrStore(k, new(int64)); *(v.(*int64))++ }
	for d, fn := range at {
		wg.Go(func() {
			time.Sleep(time.Until(t0.Add(d)))
			fn()
		})
	}
	wg.Go(func() {
		c := ingesttest.Connect(t, url, g1.ID+"-"+as, g1.ID, g1.Password)
		base := t0 // ahead of the clock as the publishing goes on: never silent meanwhile
		for k := 0; k < 150; k++ {
			ts := base.Add(time.Duration(k) * time.Second).UnixMilli()
			a := 3.0
			switch {
			case k >= 20 && k < 40, k >= 44 && k < 60:
				a = 6.5 + float64(k%5)/10
			case k >= 100 && k < 125:
				a = -1.5
			}
			for _, p := range []string{fmt.Sprintf(`{"sensor_id":%q,"ts":%d,"temp_c":%g}`, g1.Sensors[0], ts, a),
				fmt.Sprintf(`{"sensor_id":%q,"ts":%d,"temp_c":3.1,"door_open":%t}`, g1.Sensors[1], ts, k >= 70 && k < 85)} {
				ingesttest.Publish(t, c, ingest.TopicReadings+g1.ID, []byte(p))
				count("g1")
			}
			time.Sleep(time.Until(t0.Add(time.Duration(k+1) * 50 * time.Millisecond))) // 150 readings over 7.5 s
		}
	})
	wg.Go(func() {
		c := ingesttest.Connect(t, url, g2.ID+"-"+as, g2.ID, g2.Password)
		live := func(until time.Time) {
			for time.Now().Before(until) {
				ts := time.Now().Truncate(time.Millisecond)
				ingesttest.Publish(t, c, ingest.TopicReadings+g2.ID, ingesttest.Reading(g2.Sensors[0], ts, 3))
				r.live = append(r.live, ts)
				count("g2")
				time.Sleep(500 * time.Millisecond)
			}
		}
		live(t0.Add(5 * time.Second))
		time.Sleep(time.Until(t0.Add(5*time.Second + scaleGap)))
		live(t0.Add(8*time.Second + scaleGap))
	})
	wg.Wait()
	n.Range(func(_, v any) bool { r.n += *(v.(*int64)); return true })
	return r
}

// settleAlarms waits until the alarms stop changing (every reading stored, the watcher drained).
func settleAlarms(t *testing.T, s *ingest.Store, r *scaleRun) []scaleAlarm {
	t.Helper()
	var last []scaleAlarm
	stable := 0
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && stable < 6; time.Sleep(500 * time.Millisecond) {
		got := scaleAlarms(t, s, r)
		if slices.Equal(got, last) {
			stable++
		} else {
			stable, last = 0, got
		}
	}
	return last
}

func scaleRegister(t *testing.T, s *ingest.Store, run string) (ingesttest.Gateway, ingesttest.Gateway) {
	g1 := ingesttest.Register(t, s, "S"+run+"-GW-1", "S"+run+"-TRK-1", ingest.KindTruck, ingesttest.Band(0, 4), "S"+run+"-TRK-1-A", "S"+run+"-TRK-1-B")
	g2 := ingesttest.Register(t, s, "S"+run+"-GW-2", "S"+run+"-CS-1", ingest.KindColdStore, ingesttest.Band(0, 4), "S"+run+"-CS-1-A")
	return g1, g2
}

// Alarms stay right when ingest scales out. With three ingest workers on a shared subscription (Mosquitto gives
// each message to any of them), one of them SIGKILLed and started again and a fourth added mid-stream, and two
// rules processes of which the leader is SIGKILLed mid-stream so that the standby takes over, every reading is
// stored and the alarms (kind, sensor, start, end, peak) are exactly those of one process that does all of it.
func TestAlarmsWithManyWorkers(t *testing.T) {
	mosq := ingesttest.StartMosquitto(t, "", false)
	run := strings.ToUpper(randomHex(2))

	// One process.
	f := newFixture(t)
	g1, g2 := scaleRegister(t, f.store, run)
	e := f.start(Config{MQTTURL: mosq.URL, ClientID: "single-" + run, Rules: scaleRules,
		Watcher: ingest.WatcherConfig{SweepEvery: 250 * time.Millisecond, SweepGrace: scaleSweepGrace}})
	time.Sleep(500 * time.Millisecond) // subscribed
	one := scaleScenario(t, mosq.URL, "one", g1, g2, nil)
	ingesttest.WaitCount(t, e.svc.Readings, "", one.t0.Add(-2*time.Minute), time.Now().Add(5*time.Minute), one.n, 30*time.Second)
	want := settleAlarms(t, e.store, one)
	e.stop()
	kinds := map[string]int{}
	for _, a := range want {
		kinds[a.Kind]++
	}
	if kinds["excursion"] != 2 || kinds["door_open"] != 1 || kinds["sensor_silent"] != 1 || len(want) != 4 {
		t.Fatalf("the scenario's alarms in one process: %+v", want)
	}

	// Many processes.
	dbURL := pgtest.CreateDB(t)
	db, err := pg.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := pg.Migrate(context.Background(), db, nil); err != nil {
		t.Fatal(err)
	}
	store := ingest.NewStore(db)
	g1, g2 = scaleRegister(t, store, run)
	ic := influxtest.New(t)
	common := []string{"CHILD_DATABASE_URL=" + dbURL, "CHILD_INFLUX_URL=" + ic.URL, "CHILD_INFLUX_BUCKET=" + ic.Bucket,
		"CHILD_MQTT_URL=" + mosq.URL, "CHILD_OPEN_AFTER=15s", "CHILD_CLOSE_AFTER=10s", "CHILD_DOOR_LIMIT=10s", "CHILD_SILENCE_LIMIT=8s",
		"CHILD_SWEEP_EVERY=250ms", "CHILD_SWEEP_GRACE=" + scaleSweepGrace.String(), "CHILD_SNAPSHOT_EVERY=1s", "CHILD_DRAIN_EVERY=100ms",
		"CHILD_RULES_CLIENT_ID=rules-" + run}
	worker := func(i int, dir string) *child {
		return startChild(t, append(common, "CHILD_ROLE=store", "CHILD_GROUP=ingest-"+run, fmt.Sprintf("CHILD_CLIENT_ID=ingest-%s-%d", run, i),
			"CHILD_DATA_DIR="+dir))
	}
	rulesProc := func(i int) *child {
		return startChild(t, append(common, "CHILD_ROLE=rules", fmt.Sprintf("CHILD_CLIENT_ID=rules-proc-%s-%d", run, i), "CHILD_DATA_DIR="+t.TempDir()))
	}
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()}
	workers := []*child{worker(0, dirs[0]), worker(1, dirs[1]), worker(2, dirs[2])}
	leader := rulesProc(0)
	time.Sleep(2 * time.Second) // the first rules process leads
	standby := rulesProc(1)
	time.Sleep(time.Second) // everyone subscribed
	var mu sync.Mutex
	many := scaleScenario(t, mosq.URL, "many", g1, g2, map[time.Duration]func(){
		2 * time.Second: func() {
			workers[1].kill()
			t.Log("SIGKILLed ingest worker 1")
			time.Sleep(2 * time.Second)
			w := worker(1, dirs[1]) // back with its own session: what the broker kept for it comes now
			mu.Lock()
			workers[1] = w
			mu.Unlock()
		},
		3 * time.Second: func() {
			w := worker(3, dirs[3])
			mu.Lock()
			workers = append(workers, w)
			mu.Unlock()
			t.Log("added ingest worker 3")
		},
		4 * time.Second: func() {
			leader.kill()
			t.Log("SIGKILLed the rules' leader; the standby takes over")
		},
	})
	rs := influxw.NewStore(ic)
	ingesttest.WaitCount(t, rs, "", many.t0.Add(-2*time.Minute), time.Now().Add(5*time.Minute), many.n, 30*time.Second)
	got := settleAlarms(t, store, many)
	if !slices.Equal(got, want) {
		t.Fatalf("alarms of 4 ingest workers and 2 rules processes\n got %+v\nwant %+v", got, want)
	}
	t.Logf("%d readings stored from 4 ingest workers (one SIGKILLed and back, one added), alarms as one process: %+v", many.n, got)
	_ = standby.cmd.Process.Signal(syscall.SIGTERM)
	<-standby.done
}
