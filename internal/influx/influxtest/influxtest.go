// Package influxtest gives integration tests a database of their own on the InfluxDB that deploy/local/up.sh
// started (SUILONG_INFLUX_URL), or a private influxd process they may stop and start.
package influxtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/suilong/suilong/internal/envfile"
	"github.com/suilong/suilong/internal/influx"
)

var loadEnv sync.Once

func env(tb testing.TB, name, hint string) string {
	tb.Helper()
	loadEnv.Do(func() { _, _ = envfile.Load() })
	v := os.Getenv(name)
	if v == "" {
		tb.Fatalf("influxtest: %s is not set and no var/suilong.env was found; %s", name, hint)
	}
	return v
}

// New creates a database on the shared test server and returns a client whose bucket is that database.
// The database is dropped at cleanup.
func New(tb testing.TB) *influx.Client {
	tb.Helper()
	base := env(tb, "SUILONG_INFLUX_URL", "run the tests with `make test` (or deploy/local/up.sh --test first)")
	return NewOn(tb, base)
}

// NewOn is New against the server at base.
func NewOn(tb testing.TB, base string) *influx.Client {
	tb.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	db := "test_" + hex.EncodeToString(b[:])
	if err := Exec(base, `CREATE DATABASE "`+db+`"`); err != nil {
		tb.Fatalf("influxtest: InfluxDB at %s: %v", base, err)
	}
	c := influx.New(influx.Config{URL: base, Bucket: db + "/autogen"})
	tb.Cleanup(func() {
		c.Close()
		if err := Exec(base, `DROP DATABASE "`+db+`"`); err != nil {
			tb.Logf("influxtest: drop %s: %v", db, err)
		}
	})
	return c
}

// Exec runs an InfluxQL statement on a 1.8 server (database administration only).
func Exec(base, q string) error { return ExecAs(base, "", "", q) }

// ExecAs is Exec as a user (none when user is empty).
func ExecAs(base, user, password, q string) error {
	req, err := http.NewRequest("POST", strings.TrimRight(base, "/")+"/query", strings.NewReader(url.Values{"q": {q}}.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 || strings.Contains(string(body), `"error"`) {
		return fmt.Errorf("%s: %s %s", q, resp.Status, body)
	}
	return nil
}

// Server is a private influxd process, for tests that take InfluxDB away and bring it back.
type Server struct {
	URL string
	// User and Password are the admin's when the server was started with authentication (Options.Auth).
	User, Password string
	tb             testing.TB
	bin            string
	conf           string
	log            string
	cmd            *exec.Cmd
	done           chan struct{}
}

// Options configure a private server.
type Options struct {
	// Auth turns authentication on, with an admin user (Server.User, Server.Password).
	Auth bool
	// MaxBodySize bounds a write request in bytes (influxd's [http] max-body-size; 0: its default).
	MaxBodySize int
}

// Start launches influxd (SUILONG_INFLUXD_BIN) on free ports with its data under a temporary directory.
// It is stopped at cleanup.
func Start(tb testing.TB) *Server { return StartWith(tb, Options{}) }

// StartWith is Start with options.
func StartWith(tb testing.TB, o Options) *Server {
	tb.Helper()
	bin := env(tb, "SUILONG_INFLUXD_BIN", "deploy/local/up.sh builds influxd into ./bin/tools and sets it")
	dir := tb.TempDir()
	httpPort, rpcPort := freePort(tb), freePort(tb)
	conf := filepath.Join(dir, "influxd.conf")
	cfg := fmt.Sprintf(`reporting-disabled = true
bind-address = "127.0.0.1:%d"
[meta]
  dir = %q
[data]
  dir = %q
  wal-dir = %q
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:%d"
  flux-enabled = true
  log-enabled = false
  auth-enabled = %t
  max-body-size = %d
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
`, rpcPort, filepath.Join(dir, "meta"), filepath.Join(dir, "data"), filepath.Join(dir, "wal"), httpPort, o.Auth, maxBody(o.MaxBodySize))
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		tb.Fatal(err)
	}
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", httpPort), tb: tb, bin: bin, conf: conf, log: filepath.Join(dir, "influxd.log")}
	s.Start()
	tb.Cleanup(s.Stop)
	if o.Auth {
		// With no user yet, influxd lets anyone create the first admin.
		s.User, s.Password = "admin", "first-"+hex.EncodeToString([]byte(tb.Name()))[:8]
		if err := Exec(s.URL, fmt.Sprintf(`CREATE USER %q WITH PASSWORD '%s' WITH ALL PRIVILEGES`, s.User, s.Password)); err != nil {
			tb.Fatalf("influxtest: create admin: %v", err)
		}
	}
	return s
}

func maxBody(n int) int {
	if n <= 0 {
		return 25000000 // influxd's own default
	}
	return n
}

// Exec runs an InfluxQL statement on this server, as its admin when it has authentication on.
func (s *Server) Exec(q string) error { return ExecAs(s.URL, s.User, s.Password, q) }

// Client returns a client of a database on this server (created if missing), as its admin when it has
// authentication on.
func (s *Server) Client(tb testing.TB, db string) *influx.Client {
	tb.Helper()
	if err := s.Exec(`CREATE DATABASE "` + db + `"`); err != nil {
		tb.Fatalf("influxtest: %v", err)
	}
	token := ""
	if s.User != "" {
		token = s.User + ":" + s.Password
	}
	c := influx.New(influx.Config{URL: s.URL, Token: token, Bucket: db + "/autogen"})
	tb.Cleanup(c.Close)
	return c
}

// Start (re)starts the process on the same ports and data, and waits until it answers.
func (s *Server) Start() {
	s.tb.Helper()
	if s.cmd != nil {
		return
	}
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.tb.Fatal(err)
	}
	cmd := exec.Command(s.bin, "-config", s.conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		s.tb.Fatalf("influxtest: start %s: %v", s.bin, err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(s.done) }()
	c := influx.New(influx.Config{URL: s.URL})
	defer c.Close()
	deadline := time.Now().Add(30 * time.Second)
	for c.Ping(context.Background()) != nil {
		if time.Now().After(deadline) {
			s.tb.Fatalf("influxtest: influxd did not answer at %s within 30s; see %s", s.URL, s.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop ends the process and waits for it.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

func freePort(tb testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
