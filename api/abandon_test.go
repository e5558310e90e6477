package api_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/suilong/suilong/api"
	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/auth/authtest"
	"github.com/suilong/suilong/internal/pg"
	"github.com/suilong/suilong/internal/pg/pgtest"
)

// lockedBuffer is a log sink safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A client that gives up on a request while PostgreSQL works on it: the server cancels the query, and the
// request is logged and counted as 499 (the client closed it), not as a 500 at ERROR, so that people closing
// their browser do not fire the 5xx alert. A request that fails on its own is still a 500.
func TestAbandonedRequestIs499(t *testing.T) {
	db := pgtest.New(t)
	_, key := authtest.Org(t, db, "广州市对口办 admin", auth.RoleAdmin)
	logs := &lockedBuffer{}
	reg := prometheus.NewRegistry()
	slow := moduleFunc(func(v1 *gin.RouterGroup, _ *gin.Engine) {
		v1.GET("/slow", func(c *gin.Context) {
			_, err := db.Exec(c, `SELECT pg_sleep(30) /* abandoned-request test */`)
			rest.Reply(c, http.StatusOK, gin.H{"slept": true}, pg.Err(err, "sleep"))
		})
		v1.GET("/broken", func(c *gin.Context) {
			_, err := db.Exec(c, `SELECT no_such_function()`)
			rest.Reply(c, http.StatusOK, gin.H{}, pg.Err(err, "nothing"))
		})
	})
	s := api.New(api.Options{Addr: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(logs, nil)), Auth: auth.NewStore(db),
		Modules: []api.Module{slow}, Registry: reg})
	addr, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(sctx) }()
	t.Cleanup(func() { stop(); <-served })

	sleeping := func() int {
		var n int
		if err := db.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND state = 'active' AND query LIKE '%abandoned-request test%'
			AND query NOT LIKE '%pg_stat_activity%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr.String()+"/api/v1/slow", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	waitFor(t, 10*time.Second, "PostgreSQL to run the request's query", func() bool { return sleeping() == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("the client's request ended with %v, want its cancellation", err)
	}
	waitFor(t, 10*time.Second, "the request to be counted", func() bool {
		return counterOf(t, reg, "/api/v1/slow", "GET", "499") == 1
	})
	// The server notices its client gone within a second (client_connection_check_interval), not in 30 s.
	waitFor(t, 5*time.Second, "the abandoned request's query to stop", func() bool { return sleeping() == 0 })
	if n := counterOf(t, reg, "/api/v1/slow", "GET", "500"); n != 0 {
		t.Fatalf("the abandoned request was counted as a 500 too (%v)", n)
	}
	out := logs.String()
	if strings.Contains(out, "level=ERROR") || !strings.Contains(out, "status=499") || !strings.Contains(out, "route=/api/v1/slow") {
		t.Fatalf("log of the abandoned request, want one INFO line with status 499 and no ERROR:\n%s", out)
	}

	// The same route failing on its own, with its client waiting, is a server error as before.
	req, _ = http.NewRequest("GET", "http://"+addr.String()+"/api/v1/broken", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 500 || counterOf(t, reg, "/api/v1/broken", "GET", "500") != 1 {
		t.Fatalf("a failing query answered %d", resp.StatusCode)
	}
	waitFor(t, 5*time.Second, "the failure to be logged at ERROR", func() bool { return strings.Contains(logs.String(), "level=ERROR") })
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
