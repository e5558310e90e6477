package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alecthomas/kong"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/suilong/suilong/internal/influx"
	"github.com/suilong/suilong/internal/influx/influxtest"
	"github.com/suilong/suilong/internal/pg"
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

// DB is a pool on the serve's own database, for a test to arrange what the API does not (organisations and
// their keys); it closes when the test ends.
func (ts *testServer) DB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	db, err := pg.Open(context.Background(), ts.Cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

// mustFor returns a caller of the serve's API (as call) that fails the test unless the answer has the status
// wanted, and decodes the JSON body into out when out is not nil.
func (ts *testServer) mustFor(t *testing.T) func(method, path, key string, body any, want int, out any) []byte {
	return func(method, path, key string, body any, want int, out any) []byte {
		t.Helper()
		code, b := ts.call(t, method, path, key, body)
		if code != want {
			t.Fatalf("%s %s = %d, want %d: %s", method, path, code, want, b)
		}
		if out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				t.Fatalf("%s %s: %v in %s", method, path, err, b)
			}
		}
		return b
	}
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
