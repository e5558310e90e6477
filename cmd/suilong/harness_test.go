package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alecthomas/kong"

	"github.com/suilong/suilong/internal/influx"
	"github.com/suilong/suilong/internal/influx/influxtest"
	"github.com/suilong/suilong/internal/pg/pgtest"
)

// testServer is a real `suilong serve` running in the test process against the test services: its own
// database, its own InfluxDB database, an embedded broker on a free port, HTTP on a free port. Its addresses
// come from the running Main.
type testServer struct {
	URL     string // http://127.0.0.1:port
	MQTT    string // host:port of the embedded broker's plain listener ("" when off)
	MQTTTLS string // host:port of its TLS listener ("" when off)
	Main    *Main
	Cfg     *Config
	Logs    *syncBuffer
	stop    context.CancelFunc
	done    chan error
}

// parseCLI parses args as the command line would, defaults and all.
func parseCLI(t *testing.T, args ...string) (*CLI, *kong.Context) {
	t.Helper()
	var cli CLI
	k, err := kong.New(&cli, kong.Name("suilong"), kong.Exit(func(int) { t.Fatal("kong wanted to exit") }))
	if err != nil {
		t.Fatal(err)
	}
	kctx, err := k.Parse(args)
	if err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	return &cli, kctx
}

// startServe starts serve with the given extra arguments (after "serve") on a database and an InfluxDB
// database of its own, and waits until it listens.
func startServe(t *testing.T, extra ...string) *testServer {
	t.Helper()
	return startServeOn(t, pgtest.CreateDB(t), influxtest.New(t), extra...)
}

// startServeOn is startServe on a given database: another process of the same platform (a replica).
func startServeOn(t *testing.T, dbURL string, ic *influx.Client, extra ...string) *testServer {
	t.Helper()
	args := append([]string{"serve",
		"--database-url", dbURL,
		"--influx-url", ic.URL,
		"--influx-bucket", ic.Bucket,
		"--mqtt-listen", "127.0.0.1:0",
		"--http-addr", "127.0.0.1:0",
		"--data-dir", t.TempDir(),
		"--drain-timeout", "5s",
	}, extra...)
	cli, _ := parseCLI(t, args...)
	logs := &syncBuffer{}
	m := NewMain(&cli.Config, slog.New(slog.NewTextHandler(logs, nil)), cli.Serve.Options)
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{Main: m, Cfg: &cli.Config, Logs: logs, stop: cancel, done: make(chan error, 1)}
	if err := m.Open(ctx); err != nil {
		cancel()
		m.Close()
		t.Fatalf("serve did not start: %v\n%s", err, logs)
	}
	ts.URL = "http://" + m.HTTPAddr()
	if m.Broker != nil {
		ts.MQTT, ts.MQTTTLS = m.Broker.Addr(), m.Broker.TLSAddr()
	}
	go func() {
		err := m.Run(ctx)
		m.Close()
		ts.done <- err
	}()
	t.Cleanup(func() { ts.Stop(t) })
	return ts
}

// Stop shuts the server down as SIGTERM would and waits for it.
func (ts *testServer) Stop(t *testing.T) {
	t.Helper()
	if ts.stop == nil {
		return
	}
	ts.stop()
	ts.stop = nil
	select {
	case err := <-ts.done:
		if err != nil {
			t.Errorf("serve returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("serve did not stop within 30s")
	}
}

func (ts *testServer) get(t *testing.T, path, key string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", ts.URL+path, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) Contains(s string) bool { return strings.Contains(b.String(), s) }
