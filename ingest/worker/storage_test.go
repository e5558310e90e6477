package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/ingest/ingesttest"
	"github.com/suilong/suilong/internal/influx/influxtest"
	"github.com/suilong/suilong/internal/netfault"
	"github.com/suilong/suilong/internal/pg"
)

// storageOutage is how long InfluxDB refuses writes in the storage fault tests (SUILONG_TEST_STORAGE_OUTAGE,
// default 6s: long enough for several failed writes, backoffs and replays).
func storageOutage(t *testing.T) time.Duration {
	if s := os.Getenv("SUILONG_TEST_STORAGE_OUTAGE"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("SUILONG_TEST_STORAGE_OUTAGE: %v", err)
		}
		return d
	}
	return 6 * time.Second
}

// paced publishes the load's messages evenly over about d (the gateways publish side by side).
func paced(l ingesttest.Load, d time.Duration, then func(n int64)) ingesttest.Load {
	total := l.Readings() / int64(max(l.Batch, 1))
	pace := d * time.Duration(len(l.Gateways)) / time.Duration(max(total, 1))
	l.Progress = func(n int64) {
		if then != nil {
			then(n)
		}
		time.Sleep(pace)
	}
	return l
}

func (e *env) failures(status string) float64 {
	return value(e.svc.Metrics.WriteFailures.WithLabelValues(status))
}

func (e *env) deadLetters(t *testing.T, f ingest.DeadLetterFilter) []ingest.DeadLetter {
	t.Helper()
	ds, _, err := e.store.DeadLetters(context.Background(), f, ingest.Page{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// waitUnhealthy waits until readiness reports failing writes with the status given.
func (e *env) waitUnhealthy(t *testing.T, status string) {
	t.Helper()
	ingesttest.Eventually(t, 30*time.Second, "readiness reporting failing writes ("+status+")", func() bool {
		err := e.svc.Healthy(context.Background())
		return err != nil && strings.Contains(err.Error(), "status "+status)
	})
}

// An operator drops the coldchain database and creates it again while gateways publish: InfluxDB answers 404
// meanwhile. Nothing goes to the dead letter; the readings wait in the spool and are all there once the
// database is back. (What was stored before the drop went with the database: the drop's doing, not ingest's.)
func TestInfluxDatabaseDroppedMidStream(t *testing.T) {
	down := storageOutage(t)
	ic := influxtest.New(t)
	e := newFixtureOn(t, ic).start(Config{})
	gws := fleet(t, e.store, "LY", 3, 4)
	db := strings.TrimSuffix(ic.Bucket, "/autogen")
	base := time.Now().Add(-2 * time.Hour).Truncate(time.Second)

	before := ingesttest.Load{URL: e.url, Gateways: gws, PerSensor: 20, Window: 10, Start: base, Step: time.Second}
	before.Run(t)
	ingesttest.WaitCount(t, e.svc.Readings, "", base, base.Add(time.Hour), before.Readings(), 30*time.Second)

	if err := influxtest.Exec(ic.URL, `DROP DATABASE "`+db+`"`); err != nil {
		t.Fatal(err)
	}
	var recreated atomic.Bool
	during := paced(ingesttest.Load{URL: e.url, Gateways: gws, PerSensor: 150, Window: 10, Start: base.Add(time.Hour), Step: time.Second},
		down*3/2, nil)
	go func() {
		e.waitUnhealthy(t, "404")
		time.Sleep(down)
		if err := influxtest.Exec(ic.URL, `CREATE DATABASE "`+db+`"`); err != nil {
			t.Error(err)
		}
		recreated.Store(true)
	}()
	during.Run(t)
	if !recreated.Load() {
		t.Fatal("the stream ended before the database was created again; the test did not test a drop mid-stream")
	}
	ingesttest.WaitCount(t, e.svc.Readings, "", base.Add(time.Hour), base.Add(2*time.Hour), during.Readings(), 60*time.Second)
	ingesttest.WaitCount(t, e.svc.Readings, "", base.Add(-time.Minute), time.Now().Add(time.Hour), during.Readings(), 5*time.Second)
	if ds := e.deadLetters(t, ingest.DeadLetterFilter{}); len(ds) != 0 {
		t.Fatalf("%d dead letters (first: %+v); a missing database must not dead-letter readings", len(ds), ds[0])
	}
	if e.failures("404") == 0 || value(e.svc.Metrics.Spooled) == 0 {
		t.Fatalf("404 failures %v, spooled %v: the outage was not seen", e.failures("404"), value(e.svc.Metrics.Spooled))
	}
	ingesttest.Eventually(t, 10*time.Second, "readiness to recover", func() bool { return e.svc.Healthy(context.Background()) == nil })
	t.Logf("published %d readings during the drop and after: %d stored, 0 dead-lettered; %v readings through the spool, %v 404 answers",
		during.Readings(), during.Readings(), value(e.svc.Metrics.Spooled), e.failures("404"))
}

// InfluxDB with authentication on; the password ingest uses is changed in the middle of a stream (a rotated
// token) and changed back. The 401 answers keep every reading in the spool until writes are allowed again.
func TestInfluxPasswordChangedMidStream(t *testing.T) {
	down := storageOutage(t)
	srv := influxtest.StartWith(t, influxtest.Options{Auth: true})
	ic := srv.Client(t, "coldchain")
	e := newFixtureOn(t, ic).start(Config{})
	gws := fleet(t, e.store, "LY", 3, 4)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	var changed, restored atomic.Bool
	load := ingesttest.Load{URL: e.url, Gateways: gws, PerSensor: 150, Window: 10, Start: base, Step: time.Second}
	total := load.Readings()
	load = paced(load, 2*down, func(n int64) {
		if n == total/4 && changed.CompareAndSwap(false, true) {
			if err := srv.Exec(fmt.Sprintf(`SET PASSWORD FOR %q = 'rotated-elsewhere'`, srv.User)); err != nil {
				t.Error(err)
			}
			go func() {
				e.waitUnhealthy(t, "401")
				time.Sleep(down)
				if err := influxtest.ExecAs(srv.URL, srv.User, "rotated-elsewhere",
					fmt.Sprintf(`SET PASSWORD FOR %q = '%s'`, srv.User, srv.Password)); err != nil {
					t.Error(err)
				}
				restored.Store(true)
			}()
		}
	})
	load.Run(t)
	if !restored.Load() {
		t.Fatal("the stream ended before the password was changed back")
	}
	ingesttest.WaitCount(t, e.svc.Readings, "", base.Add(-time.Minute), time.Now().Add(time.Hour), total, 60*time.Second)
	if ds := e.deadLetters(t, ingest.DeadLetterFilter{}); len(ds) != 0 {
		t.Fatalf("%d dead letters (first: %+v)", len(ds), ds[0])
	}
	if e.failures("401") == 0 {
		t.Fatal("no 401 answer was seen: the password change did not reach ingest")
	}
	t.Logf("published %d readings: %d stored, 0 dead-lettered; %v through the spool, %v 401 answers",
		total, total, value(e.svc.Metrics.Spooled), e.failures("401"))
}

// InfluxDB with a small max-body-size answers 413 to ingest's batches: they are split until they fit, and
// every reading is stored.
func TestInfluxBodyLimitSplitsBatches(t *testing.T) {
	srv := influxtest.StartWith(t, influxtest.Options{MaxBodySize: 4096})
	e := newFixtureOn(t, srv.Client(t, "coldchain")).start(Config{})
	gws := fleet(t, e.store, "LY", 4, 5)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	load := ingesttest.Load{URL: e.url, Gateways: gws, PerSensor: 100, Batch: 25, Window: 20, Start: base, Step: time.Second}
	load.Run(t)
	ingesttest.WaitCount(t, e.svc.Readings, "", base.Add(-time.Minute), time.Now().Add(time.Hour), load.Readings(), 60*time.Second)
	if e.failures("413") == 0 {
		t.Fatal("no 413 answer: the batches never exceeded the body limit, so the test tested nothing")
	}
	if ds := e.deadLetters(t, ingest.DeadLetterFilter{}); len(ds) != 0 {
		t.Fatalf("%d dead letters (first: %+v)", len(ds), ds[0])
	}
	t.Logf("published %d readings: all stored after %v 413 answers", load.Readings(), e.failures("413"))
}

// A field of one sensor already has another type in InfluxDB (someone wrote battery_pct as a string): InfluxDB
// refuses the readings that carry it. Those, and only those, are in the dead letter, one record per reading
// with its whole JSON; the readings around them in the same batches are stored.
func TestInfluxRefusesSomeReadings(t *testing.T) {
	ic := influxtest.New(t)
	e := newFixtureOn(t, ic).start(Config{})
	gw := fleet(t, e.store, "LY", 1, 2)[0]
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	conflict := fmt.Sprintf(`reading,asset_id=LY-TRK-0001,asset_kind=truck,gateway_id=%s,sensor_id=%s battery_pct="low" %d`,
		gw.ID, gw.Sensors[0], base.Add(-time.Minute).UnixNano())
	if err := ic.Write().WriteRecord(context.Background(), conflict); err != nil {
		t.Fatal(err)
	}
	c := ingesttest.Connect(t, e.url, gw.ID, gw.ID, gw.Password)
	refused, stored := map[string]bool{}, 0
	for k := range 40 {
		var parts []string
		for j := range 5 {
			ts := base.Add(time.Duration(k*5+j) * time.Second)
			s := gw.Sensors[(k+j)%2]
			r := fmt.Sprintf(`{"sensor_id":%q,"ts":%q,"temp_c":3.1`, s, ts.Format(time.RFC3339))
			if s == gw.Sensors[0] && j%2 == 0 {
				r += `,"battery_pct":80`
				refused[ts.UTC().Format(time.RFC3339Nano)] = true
			} else {
				stored++
			}
			parts = append(parts, r+"}")
		}
		ingesttest.Publish(t, c, ingest.TopicReadings+gw.ID, []byte(`{"readings":[`+strings.Join(parts, ",")+`]}`))
	}
	ingesttest.WaitCount(t, e.svc.Readings, "", base.Add(-2*time.Minute), time.Now().Add(time.Hour), int64(stored), 30*time.Second)
	var ds []ingest.DeadLetter
	ingesttest.Eventually(t, 30*time.Second, "the refused readings in the dead letter", func() bool {
		ds = e.deadLetters(t, ingest.DeadLetterFilter{Reason: ingest.ReasonStorageRejected})
		return len(ds) >= len(refused)
	})
	if len(ds) != len(refused) {
		t.Fatalf("%d dead letters, want %d (one per refused reading)", len(ds), len(refused))
	}
	for _, d := range ds {
		var r struct {
			SensorID string  `json:"sensor_id"`
			TS       string  `json:"ts"`
			TempC    float64 `json:"temp_c"`
			Battery  float64 `json:"battery_pct"`
		}
		if err := json.Unmarshal([]byte(d.Payload), &r); err != nil {
			t.Fatalf("dead letter payload is not the reading's JSON: %q: %v", d.Payload, err)
		}
		if !refused[r.TS] || r.SensorID != gw.Sensors[0] || r.TempC != 3.1 || r.Battery != 80 || d.GatewayID != gw.ID {
			t.Fatalf("dead letter %+v holds %+v, not one of the refused readings", d, r)
		}
		delete(refused, r.TS)
	}
	t.Logf("published %d readings in 40 messages: %d stored, %d dead-lettered one by one", stored+len(ds), stored, len(ds))
}

// Readings arrive from a sensor registered a moment ago while PostgreSQL is unreachable from ingest: the cache
// cannot say whose sensor it is. They are acknowledged only once held on disk, and admitted when PostgreSQL
// answers again: stored, nothing dead-lettered.
func TestRegistryOutageHoldsReadings(t *testing.T) {
	f := newFixture(t)
	proxy, proxied := proxiedDB(t, f)
	f.db = proxied
	e := f.start(Config{CacheRefresh: time.Hour})
	gws := fleet(t, e.store, "LY", 2, 2) // registered after ingest started: not in its cache
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	proxy.Cut()
	load := ingesttest.Load{URL: e.url, Gateways: gws, PerSensor: 50, Window: 10, Start: base, Step: time.Second}
	load.Run(t) // every message acknowledged while PostgreSQL is away
	if held := value(e.svc.Metrics.Held); held != float64(load.Readings()) {
		t.Fatalf("%v readings held, want %d", held, load.Readings())
	}
	if n, _ := e.svc.Readings.Count(context.Background(), "", base.Add(-time.Minute), time.Now()); n != 0 {
		t.Fatalf("%d readings stored without knowing their asset", n)
	}
	proxy.Restore()
	ingesttest.WaitCount(t, e.svc.Readings, "", base.Add(-time.Minute), time.Now().Add(time.Hour), load.Readings(), 60*time.Second)
	for _, g := range gws {
		for _, s := range g.Sensors {
			asset := strings.TrimSuffix(s, s[strings.LastIndexByte(s, '-'):])
			ingesttest.WaitCount(t, e.svc.Readings, asset, base.Add(-time.Minute), time.Now().Add(time.Hour), int64(len(g.Sensors)*50), 10*time.Second)
		}
	}
	ingesttest.Eventually(t, 10*time.Second, "an empty registry-wait spool", func() bool { return e.svc.holdSpool.Empty() })
	if ds := e.deadLetters(t, ingest.DeadLetterFilter{}); len(ds) != 0 {
		t.Fatalf("%d dead letters (first: %+v)", len(ds), ds[0])
	}
	t.Logf("published %d readings while PostgreSQL was away: all held, then all stored, 0 dead-lettered", load.Readings())
}

// One broken gateway sends nothing but bad messages: it gets its burst of dead-letter records, then one summary
// record a minute (here: every 200 ms) with the count by reason; another gateway's bad messages are stored one
// by one as before.
func TestDeadLetterBudgetPerGateway(t *testing.T) {
	e := start(t, Config{Pipeline: ingest.PipelineConfig{DeadLetterBurst: 50, DeadLetterRate: 0.001, SummaryEvery: 200 * time.Millisecond}})
	gws := fleet(t, e.store, "LY", 2, 1)
	broken := ingesttest.Connect(t, e.url, gws[0].ID, gws[0].ID, gws[0].Password)
	other := ingesttest.Connect(t, e.url, gws[1].ID, gws[1].ID, gws[1].Password)
	for k := range 200 {
		ingesttest.Publish(t, broken, ingest.TopicReadings+gws[0].ID, fmt.Appendf(nil, `{"sensor_id":"GHOST-%d","ts":%d,"temp_c":3}`, k, time.Now().UnixMilli()))
	}
	for k := range 20 {
		ingesttest.Publish(t, other, ingest.TopicReadings+gws[1].ID, fmt.Appendf(nil, `{"sensor_id":"GHOST-%d","ts":%d,"temp_c":3}`, k, time.Now().UnixMilli()))
	}
	suppressed := 0
	ingesttest.Eventually(t, 30*time.Second, "150 rejections summed up", func() bool {
		suppressed = 0
		for _, d := range e.deadLetters(t, ingest.DeadLetterFilter{GatewayID: gws[0].ID, Reason: ingest.ReasonSuppressed}) {
			var n int
			if _, err := fmt.Sscanf(d.Detail, "%d more rejected", &n); err != nil {
				t.Fatalf("summary %q: %v", d.Detail, err)
			}
			if !strings.Contains(d.Detail, "unknown_sensor×") {
				t.Fatalf("summary without the reasons: %q", d.Detail)
			}
			suppressed += n
		}
		return suppressed >= 150
	})
	if suppressed != 150 {
		t.Fatalf("summaries count %d rejections, want 150", suppressed)
	}
	if got := len(e.deadLetters(t, ingest.DeadLetterFilter{GatewayID: gws[0].ID, Reason: ingest.ReasonUnknownSensor})); got != 50 {
		t.Fatalf("%d records of the broken gateway stored one by one, want its burst of 50", got)
	}
	if got := len(e.deadLetters(t, ingest.DeadLetterFilter{GatewayID: gws[1].ID, Reason: ingest.ReasonUnknownSensor})); got != 20 {
		t.Fatalf("%d records of the other gateway, want 20", got)
	}
	if v := value(e.svc.Metrics.DeadSuppressed); v != 150 {
		t.Fatalf("dead_letters_suppressed_total %v, want 150", v)
	}
}

// proxiedDB returns a pool on the fixture's database through a proxy the test can cut, so that PostgreSQL goes
// away for ingest alone.
func proxiedDB(t *testing.T, f *fixture) (*netfault.Proxy, *pgxpool.Pool) {
	t.Helper()
	u, err := url.Parse(f.db.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	proxy := netfault.Start(t, u.Host)
	u.Host = proxy.Addr()
	q := u.Query()
	q.Set("connect_timeout", "2")
	u.RawQuery = q.Encode()
	pool, err := pg.Open(context.Background(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return proxy, pool
}
