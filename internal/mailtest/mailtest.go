// Package mailtest runs a real SMTP server for tests: mailpit (built from the Go module proxy into ./bin/tools by
// deploy/local/up.sh --test, named by SUILONG_MAILPIT_BIN), on free ports, with its HTTP API read to see what
// arrived.
package mailtest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/suilong/suilong/internal/envfile"
)

// Server is a running mailpit.
type Server struct {
	Host    string // 127.0.0.1
	Port    int    // SMTP
	API     string // http://127.0.0.1:port
	cmd     *exec.Cmd
	logPath string
}

// Message is a mail as mailpit's API lists it.
type Message struct {
	ID      string    `json:"ID"`
	Subject string    `json:"Subject"`
	From    Address   `json:"From"`
	To      []Address `json:"To"`
	Text    string    `json:"Text"`
}

// Address is a mailbox.
type Address struct {
	Name    string `json:"Name"`
	Address string `json:"Address"`
}

func bin(tb testing.TB) string {
	_, _ = envfile.Load()
	if b := os.Getenv("SUILONG_MAILPIT_BIN"); b != "" {
		return b
	}
	wd, _ := os.Getwd()
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			p := filepath.Join(d, "bin", "tools", "mailpit")
			if _, err := os.Stat(p); err == nil {
				return p
			}
			break
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	tb.Fatal("mailtest: mailpit not found; `make test` (deploy/local/up.sh --test) builds it into ./bin/tools " +
		"(go install github.com/axllent/mailpit@v1.33.1), or set SUILONG_MAILPIT_BIN")
	return ""
}

func freePort(tb testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start launches mailpit on free ports; it is stopped at cleanup.
func Start(tb testing.TB) *Server {
	tb.Helper()
	dir := tb.TempDir()
	s := &Server{Host: "127.0.0.1", Port: freePort(tb), logPath: filepath.Join(dir, "mailpit.log")}
	httpPort := freePort(tb)
	s.API = "http://127.0.0.1:" + strconv.Itoa(httpPort)
	logf, err := os.Create(s.logPath)
	if err != nil {
		tb.Fatal(err)
	}
	s.cmd = exec.Command(bin(tb), "--smtp", "127.0.0.1:"+strconv.Itoa(s.Port), "--listen", "127.0.0.1:"+strconv.Itoa(httpPort),
		"--database", filepath.Join(dir, "mailpit.db"), "--disable-version-check", "--smtp-auth-accept-any", "--smtp-auth-allow-insecure")
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		tb.Fatalf("mailtest: start mailpit: %v", err)
	}
	tb.Cleanup(func() {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		logf.Close()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.API + "/api/v1/messages")
		if err == nil {
			resp.Body.Close()
			if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.Port)); err == nil {
				c.Close()
				return s
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(s.logPath)
			tb.Fatalf("mailtest: mailpit did not answer within 30s:\n%s", b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Messages returns every message received, newest first, each with its text body.
func (s *Server) Messages(tb testing.TB) []Message {
	tb.Helper()
	var list struct {
		Messages []Message `json:"messages"`
	}
	s.get(tb, "/api/v1/messages", &list)
	for i := range list.Messages {
		var full Message
		s.get(tb, "/api/v1/message/"+list.Messages[i].ID, &full)
		list.Messages[i].Text = full.Text
	}
	return list.Messages
}

func (s *Server) get(tb testing.TB, path string, v any) {
	tb.Helper()
	resp, err := http.Get(s.API + path)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		tb.Fatalf("mailtest: GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		tb.Fatalf("mailtest: GET %s: %v", path, err)
	}
}
