package browsertest

import (
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
)

func TestRendersPageAndKeepsScreenshot(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><html lang="zh"><body><h1>穗龙 Suilong</h1><p class="x">一</p><p class="x">二</p></body></html>`))
	}))
	defer srv.Close()
	b := New(t, 390, 844)
	b.Open(t, srv.URL)
	if got := b.Text(t, "h1"); got != "穗龙 Suilong" {
		t.Fatalf("h1 = %q", got)
	}
	if n := b.Count(t, "p.x"); n != 2 {
		t.Fatalf("count = %d, want 2", n)
	}
	p := b.Screenshot(t, "hello")
	if st, err := os.Stat(p); err != nil || st.Size() < 1000 {
		t.Fatalf("screenshot %s: %v", p, err)
	}
}
