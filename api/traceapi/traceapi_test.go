package traceapi_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/traceapi"
	"github.com/suilong/suilong/trace"
)

// Public pages are limited per client IP: a burst, then 429 with Retry-After, while another address still gets
// through. Codes that cannot exist are answered with the friendly 404 without a database.
func TestPublicPagesRateLimitedPerIP(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	_ = e.SetTrustedProxies(nil) // as api.New does without SUILONG_TRUSTED_PROXIES
	svc := &trace.Service{Store: trace.NewStore(nil)}
	traceapi.New(traceapi.Deps{Service: svc, PublicRate: 0.001, PublicBurst: 3}).Routes(e.Group("/api/v1"), e)
	get := func(ip string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/t/x", nil)
		r.RemoteAddr = ip + ":40000"
		r.Header.Set("X-Forwarded-For", "10.9.9.9") // forged; must not matter
		w := httptest.NewRecorder()
		e.ServeHTTP(w, r)
		return w
	}
	for i := range 3 {
		if w := get("203.0.113.7"); w.Code != 404 || !strings.Contains(w.Body.String(), "未找到该批次") {
			t.Fatalf("request %d: %d", i, w.Code)
		}
	}
	w := get("203.0.113.7")
	if w.Code != 429 || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), "Too many requests") {
		t.Fatalf("over the burst: %d %q", w.Code, w.Body.String())
	}
	if w := get("198.51.100.2"); w.Code != 404 {
		t.Fatalf("another address: %d", w.Code)
	}

	// Behind a trusted proxy, the client is the address the proxy names.
	_ = e.SetTrustedProxies([]string{"192.0.2.1"})
	viaProxy := func(client string) int {
		r := httptest.NewRequest("GET", "/t/x", nil)
		r.RemoteAddr = "192.0.2.1:40000"
		r.Header.Set("X-Forwarded-For", client)
		w := httptest.NewRecorder()
		e.ServeHTTP(w, r)
		return w.Code
	}
	for range 3 {
		viaProxy("203.0.113.9")
	}
	if viaProxy("203.0.113.9") != 429 || viaProxy("203.0.113.10") != 404 {
		t.Fatal("clients behind the trusted proxy are not told apart")
	}
}

func TestQRSVG(t *testing.T) {
	bits := [][]bool{{true, true, false}, {false, true, true}, {false, false, false}}
	got := string(traceapi.QRSVG(bits))
	want := `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 3 3" shape-rendering="crispEdges"><rect width="3" height="3" fill="#fff"/><path fill="#000" d="M0 0h2v1h-2zM1 1h2v1h-2z"/></svg>`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}
