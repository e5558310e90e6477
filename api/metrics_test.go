package api_test

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/suilong/suilong/api"
)

// series returns the label sets of the HTTP metrics in the registry, one string per series.
func series(t *testing.T, reg *prometheus.Registry) map[string]map[string]string {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]string{}
	for _, f := range fams {
		if !strings.HasPrefix(f.GetName(), "suilong_http_") {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			key := f.GetName()
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
				key += fmt.Sprintf(" %s=%q", l.GetName(), l.GetValue())
			}
			out[key] = labels
		}
	}
	return out
}

func counterOf(t *testing.T, reg *prometheus.Registry, route, method, status string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"route": route, "method": method, "status": status}
	for _, f := range fams {
		if f.GetName() != "suilong_http_requests_total" {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if want[l.GetName()] != l.GetValue() {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// No input chooses a metric label: 1,000 requests with invented methods on random paths (matching a route,
// matching none, under /api/v1 and outside it) add no series to the HTTP metrics; each one is still counted,
// under route "unmatched" and method "other".
func TestHTTPMetricsIgnoreInventedMethodsAndPaths(t *testing.T) {
	reg := prometheus.NewRegistry()
	things := moduleFunc(func(v1 *gin.RouterGroup, root *gin.Engine) {
		root.GET("/things/:id", func(c *gin.Context) { c.String(200, c.Param("id")) })
		root.POST("/things/:id", func(c *gin.Context) { c.Status(204) })
	})
	s := api.New(api.Options{Logger: slog.New(slog.DiscardHandler), Registry: reg, Modules: []api.Module{things}})
	srv := httptest.NewServer(s.Engine)
	t.Cleanup(srv.Close)
	do := func(method, path string) int {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, nil)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}

	// One of each kind of request first: a route's own methods, a method the route lacks (400, "method not
	// allowed"), invented methods on a route and off every route, a known method off every route.
	for _, r := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/things/1", 200}, {"POST", "/things/2", 204}, {"DELETE", "/things/3", 400}, {"BREW", "/things/4", 400},
		{"BREW", "/nowhere", 404}, {"GET", "/nowhere", 404}, {"BREW", "/api/v1/nowhere", 404},
	} {
		if got := do(r.method, r.path); got != r.status {
			t.Fatalf("%s %s = %d, want %d", r.method, r.path, got, r.status)
		}
	}
	before := series(t, reg)
	if len(before) == 0 {
		t.Fatal("no HTTP series after the first requests")
	}
	if counterOf(t, reg, "/things/:id", "GET", "200") != 1 || counterOf(t, reg, "unmatched", "DELETE", "400") != 1 {
		t.Fatalf("a route's requests are not labelled by its template and method (a method it lacks is unmatched): %v", before)
	}
	unmatched0 := counterOf(t, reg, "unmatched", "other", "404") + counterOf(t, reg, "unmatched", "other", "400")

	// 1,000 invented methods (valid HTTP tokens) on random paths.
	rng := rand.New(rand.NewPCG(1, 2))
	const tokenChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-.^_`|~"
	word := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteByte(tokenChars[rng.IntN(len(tokenChars))])
		}
		return b.String()
	}
	for i := range 1000 {
		method := "X" + word(1+rng.IntN(12)) // never one of the standard methods
		var path string
		switch i % 4 {
		case 0:
			path = "/things/" + fmt.Sprint(rng.Int64())
		case 1:
			path = "/api/v1/" + url.PathEscape(word(8)) + "/" + fmt.Sprint(i)
		case 2:
			path = "/" + fmt.Sprintf("%x", rng.Uint64()) + "/" + fmt.Sprintf("%x", rng.Uint64())
		default:
			path = "/healthz"
		}
		if st := do(method, path); st != 404 && st != 400 {
			t.Fatalf("%s %s = %d, want 404 or 400", method, path, st)
		}
	}
	after := series(t, reg)
	if len(after) != len(before) {
		var added []string
		for k := range after {
			if before[k] == nil {
				added = append(added, k)
			}
		}
		t.Fatalf("1,000 invented methods added %d series: %s", len(after)-len(before), strings.Join(added, "\n"))
	}
	t.Logf("HTTP series before and after 1,000 invented methods: %d and %d", len(before), len(after))
	// Every label value is one of the fixed ones.
	routes := map[string]bool{"unmatched": true}
	for _, r := range s.Engine.Routes() {
		routes[r.Path] = true
	}
	methods := map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true, "OPTIONS": true, "other": true}
	for k, l := range after {
		if !routes[l["route"]] || !methods[l["method"]] {
			t.Errorf("series with a label not from the fixed set: %s", k)
		}
	}
	// They were counted, not dropped.
	if got := counterOf(t, reg, "unmatched", "other", "404") + counterOf(t, reg, "unmatched", "other", "400"); got != unmatched0+1000 {
		t.Errorf("unmatched requests counted %v, want %v", got, unmatched0+1000)
	}
}
