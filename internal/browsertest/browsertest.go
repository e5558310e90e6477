// Package browsertest drives Debian's Chromium headless from Go (chromedp) for page tests, and keeps
// screenshots under var/artifacts/ so that a person can look at what the test saw.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/suilong/suilong/internal/envfile"
)

// Browser is one headless Chromium with one tab.
type Browser struct {
	Ctx context.Context
}

// New starts Chromium (SUILONG_CHROMIUM, default /usr/bin/chromium) with the given viewport, closed at cleanup.
// It fails the test when Chromium is missing: `make test` installs it.
func New(tb testing.TB, width, height int) *Browser {
	tb.Helper()
	_, _ = envfile.Load()
	bin := os.Getenv("SUILONG_CHROMIUM")
	if bin == "" {
		bin = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(bin); err != nil {
		tb.Fatalf("browsertest: Chromium not found at %s; `make test` installs Debian's chromium (apt-get install chromium)", bin)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.WindowSize(width, height),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	tb.Cleanup(func() { cancelCtx(); cancelAlloc() })
	// Start the browser now so that a failure to launch is reported here. The first call must not carry a
	// timeout: the browser lives as long as that call's context.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height))); err != nil {
		tb.Fatalf("browsertest: start Chromium: %v", err)
	}
	return &Browser{Ctx: ctx}
}

// Do runs steps with a timeout, failing the test on error.
func (b *Browser) Do(tb testing.TB, steps ...chromedp.Action[chromedp.Void]) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tb.Fatalf("browsertest: %v", err)
	}
}

// Get runs one action that returns a value, failing the test on error.
func Get[T any](tb testing.TB, b *Browser, a chromedp.Action[T]) T {
	tb.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		tb.Fatalf("browsertest: %v", err)
	}
	return v
}

// Open navigates to url and waits for the body.
func (b *Browser) Open(tb testing.TB, url string) {
	tb.Helper()
	b.Do(tb, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("body")))
}

// Text returns the visible text of the first element matching the CSS selector sel (e.g. "body").
func (b *Browser) Text(tb testing.TB, sel string) string {
	tb.Helper()
	return Get(tb, b, chromedp.Text(chromedp.CSS(sel)))
}

// Count returns how many elements match the CSS selector.
func (b *Browser) Count(tb testing.TB, sel string) int {
	tb.Helper()
	return Get(tb, b, chromedp.Evaluate[int]("document.querySelectorAll("+jsString(sel)+").length"))
}

func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`).Replace(s) + "'"
}

// Screenshot saves a full-page PNG as var/artifacts/<test>-<name>.png and returns its path.
func (b *Browser) Screenshot(tb testing.TB, name string) string {
	tb.Helper()
	png := Get(tb, b, chromedp.FullScreenshot(100))
	dir := ArtifactsDir(tb)
	p := filepath.Join(dir, safe(tb.Name())+"-"+safe(name)+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		tb.Fatalf("browsertest: save screenshot: %v", err)
	}
	tb.Logf("screenshot: %s", p)
	return p
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func safe(s string) string { return strings.Trim(unsafeChars.ReplaceAllString(s, "_"), "_") }

// ArtifactsDir is SUILONG_ARTIFACTS_DIR, or var/artifacts at the repository root.
func ArtifactsDir(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv("SUILONG_ARTIFACTS_DIR")
	if dir == "" {
		wd, _ := os.Getwd()
		root := wd
		for d := wd; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				root = d
				break
			}
			if filepath.Dir(d) == d {
				break
			}
		}
		dir = filepath.Join(root, "var", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	return dir
}
