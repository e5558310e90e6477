package worker

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/ingest/influxw"
	"github.com/suilong/suilong/ingest/ingesttest"
	"github.com/suilong/suilong/ingest/mqttauth"
	"github.com/suilong/suilong/ingest/mqttsub"
	"github.com/suilong/suilong/internal/broker"
	"github.com/suilong/suilong/internal/influx"
	"github.com/suilong/suilong/internal/influx/influxtest"
	"github.com/suilong/suilong/internal/pg"
	"github.com/suilong/suilong/internal/pg/pgtest"
)

// The crash test runs ingest, with its embedded broker, in a child process: this test binary started again with
// SUILONG_INGEST_CHILD set, assembled exactly as `suilong serve` assembles it.
func TestMain(m *testing.M) {
	if os.Getenv("SUILONG_INGEST_CHILD") != "" {
		if err := runChild(); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runChild() error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	db, err := pg.Open(ctx, os.Getenv("CHILD_DATABASE_URL"))
	if err != nil {
		return err
	}
	defer db.Close()
	ic := influx.New(influx.Config{URL: os.Getenv("CHILD_INFLUX_URL"), Bucket: os.Getenv("CHILD_INFLUX_BUCKET")})
	defer ic.Close()
	cfg := Config{DataDir: os.Getenv("CHILD_DATA_DIR")}
	if err := childConfig(&cfg); err != nil {
		return err
	}
	d := Deps{Log: log, DB: db, Pool: db, Influx: ic, Registry: prometheus.NewRegistry()}
	if cfg.MQTTURL == "" {
		store := ingest.NewStore(db)
		src := mqttsub.NewBrokerSource()
		auth := mqttauth.New(store, internalUser, internalPass, log)
		b, err := broker.Start(broker.Options{Listen: os.Getenv("CHILD_LISTEN"), DataDir: cfg.DataDir + "/mqtt", Logger: log,
			Hooks: []broker.Hook{{Hook: auth}, {Hook: src}}})
		if err != nil {
			return err
		}
		defer b.Close()
		d.Broker, d.Source = b.Server(), src
	}
	svc, err := New(cfg, d)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	<-svc.Ready()
	fmt.Println("READY")
	return <-done
}

// childConfig reads the child's configuration from CHILD_* variables.
func childConfig(cfg *Config) error {
	cfg.MQTTURL = os.Getenv("CHILD_MQTT_URL")
	cfg.Role = Role(os.Getenv("CHILD_ROLE"))
	cfg.ClientID, cfg.Group = os.Getenv("CHILD_CLIENT_ID"), os.Getenv("CHILD_GROUP")
	cfg.RulesClientID = os.Getenv("CHILD_RULES_CLIENT_ID")
	if v := os.Getenv("CHILD_SPOOL_MAX_BYTES"); v != "" {
		if _, err := fmt.Sscan(v, &cfg.SpoolMaxBytes); err != nil {
			return err
		}
	}
	durations := map[string]*time.Duration{
		"CHILD_STOP_TIMEOUT": &cfg.StopTimeout, "CHILD_OPEN_AFTER": &cfg.Rules.OpenAfter, "CHILD_CLOSE_AFTER": &cfg.Rules.CloseAfter,
		"CHILD_DOOR_LIMIT": &cfg.Rules.DoorLimit, "CHILD_SILENCE_LIMIT": &cfg.Rules.SilenceLimit, "CHILD_SWEEP_EVERY": &cfg.Watcher.SweepEvery,
		"CHILD_SWEEP_GRACE": &cfg.Watcher.SweepGrace, "CHILD_SNAPSHOT_EVERY": &cfg.Watcher.SnapshotEvery,
		"CHILD_DRAIN_EVERY": &cfg.Watcher.DrainEvery, "CHILD_CATCH_UP": &cfg.Watcher.CatchUp,
	}
	for name, dst := range durations {
		if v := os.Getenv(name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			*dst = d
		}
	}
	return nil
}

type child struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func startChild(t *testing.T, env []string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append(env, "SUILONG_INGEST_CHILD=1")...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) == "READY" {
				close(ready)
			}
		}
	}()
	go func() { _ = cmd.Wait(); close(c.done) }()
	select {
	case <-ready:
	case <-c.done:
		t.Fatal("ingest child exited at start")
	case <-time.After(60 * time.Second):
		t.Fatal("ingest child not ready within 60s")
	}
	t.Cleanup(func() { c.kill() })
	return c
}

func (c *child) kill() {
	_ = c.cmd.Process.Kill()
	<-c.done
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// SIGKILL the ingest process (broker included) twice in the middle of a stream from eight gateways; the
// gateways reconnect and send again what was not acknowledged. Every reading is in InfluxDB, counted exactly.
func TestSIGKILLMidStreamLosesNothing(t *testing.T) {
	dbURL := pgtest.CreateDB(t)
	db, err := pg.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := pg.Migrate(context.Background(), db, nil); err != nil {
		t.Fatal(err)
	}
	ic := influxtest.New(t)
	store := ingest.NewStore(db)
	var gws []ingesttest.Gateway
	for g := range 8 {
		id := fmt.Sprintf("LY-GW-%04d", g+1)
		asset := fmt.Sprintf("LY-TRK-%04d", g+1)
		var sensors []string
		for s := range 5 {
			sensors = append(sensors, fmt.Sprintf("%s-%c", asset, 'A'+s))
		}
		gws = append(gws, ingesttest.Register(t, store, id, asset, ingest.KindTruck, ingesttest.Band(0, 4), sensors...))
	}
	addr := freeAddr(t)
	env := []string{"CHILD_DATABASE_URL=" + dbURL, "CHILD_INFLUX_URL=" + ic.URL, "CHILD_INFLUX_BUCKET=" + ic.Bucket,
		"CHILD_LISTEN=" + addr, "CHILD_DATA_DIR=" + t.TempDir()}
	c := startChild(t, env)

	var published atomic.Int64
	killAt := []int64{3000, 7000}
	killed := make(chan struct{}, len(killAt))
	load := ingesttest.Load{URL: "tcp://" + addr, Gateways: gws, PerSensor: 300, Batch: 1, Window: 50,
		Start: time.Now().Add(-2 * time.Hour).Truncate(time.Second), Step: 10 * time.Second,
		Progress: func(n int64) {
			published.Store(n)
			for _, k := range killAt {
				if n == k {
					killed <- struct{}{}
				}
			}
		}}
	go func() {
		for range killAt {
			<-killed
			c.kill() // SIGKILL: no goodbye, no final flush
			t.Logf("killed ingest after %d messages published", published.Load())
			c = startChild(t, env)
		}
	}()
	load.Run(t)
	ingesttest.WaitCount(t, influxw.NewStore(ic), "", load.Start.Add(-time.Minute), time.Now().Add(time.Hour), load.Readings(), 60*time.Second)
	if n, _, _ := store.DeadLetters(context.Background(), ingest.DeadLetterFilter{}, ingest.Page{}); len(n) != 0 {
		t.Fatalf("dead letters after a crash: %+v", n)
	}
}

// SIGTERM while InfluxDB is away and the spool is full: ingest has stopped acknowledging (backpressure), and
// still exits within its stop timeout, acknowledging nothing that is not durable: once it runs again with
// InfluxDB there, every reading published is stored, counted exactly (the gateways resend what was not
// acknowledged; what was acknowledged came from the spool).
func TestSIGTERMWithInfluxAwayAndSpoolFull(t *testing.T) {
	dbURL := pgtest.CreateDB(t)
	db, err := pg.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := pg.Migrate(context.Background(), db, nil); err != nil {
		t.Fatal(err)
	}
	ic := influxtest.New(t)
	store := ingest.NewStore(db)
	gws := fleet(t, store, "LY", 2, 5)
	addr, data := freeAddr(t), t.TempDir()
	const stopTimeout = 4 * time.Second
	common := []string{"CHILD_DATABASE_URL=" + dbURL, "CHILD_LISTEN=" + addr, "CHILD_DATA_DIR=" + data,
		"CHILD_SPOOL_MAX_BYTES=65536", "CHILD_STOP_TIMEOUT=" + stopTimeout.String(), "CHILD_INFLUX_BUCKET=" + ic.Bucket}
	away := "CHILD_INFLUX_URL=http://" + freeAddr(t) // nothing listens there
	c := startChild(t, append(common, away))

	var published, last atomic.Int64
	load := ingesttest.Load{URL: "tcp://" + addr, Gateways: gws, PerSensor: 400, Window: 20,
		Start: time.Now().Add(-time.Hour).Truncate(time.Second), Step: time.Second,
		Progress: func(n int64) { published.Store(n); last.Store(time.Now().UnixNano()) }}
	done := make(chan struct{})
	go func() {
		defer close(done)
		load.Run(t)
	}()
	ingesttest.Eventually(t, 60*time.Second, "the spool to fill and acknowledgements to stop", func() bool {
		return published.Load() > 0 && time.Since(time.Unix(0, last.Load())) > 2*time.Second
	})
	if published.Load() >= load.Readings() {
		t.Fatal("everything was acknowledged: the spool never filled")
	}
	start := time.Now()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.done:
	case <-time.After(stopTimeout + 10*time.Second):
		t.Fatalf("ingest did not exit within %s of SIGTERM", stopTimeout+10*time.Second)
	}
	took := time.Since(start)
	if took > stopTimeout+2*time.Second {
		t.Fatalf("ingest took %s to stop; its stop timeout is %s", took, stopTimeout)
	}
	t.Logf("stopped %s after SIGTERM with %d of %d messages acknowledged", took.Round(time.Millisecond), published.Load(), load.Readings())

	startChild(t, append(common, "CHILD_INFLUX_URL="+ic.URL))
	<-done
	ingesttest.WaitCount(t, influxw.NewStore(ic), "", load.Start.Add(-time.Minute), time.Now().Add(time.Hour), load.Readings(), 60*time.Second)
}
