package deploytest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/suilong/suilong/internal/influx/influxtest"
	"github.com/suilong/suilong/internal/pg/pgtest"
)

const testImage = "localhost/suilong:deploytest"

// The image builds here from nothing pulled (deploy/image/build.sh), is FROM scratch with a non-root user and a
// health check, and runs: `suilong version`, then `suilong serve` against the test services, answering /healthz
// and /readyz, healthy by its own HEALTHCHECK, and stopping cleanly on SIGTERM.
func TestImage(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the image build takes a while the first time")
	}
	tool(t, "podman", "podman")
	// Prepared once per go.sum (a few minutes the first time), then a rebuild compiles only what changed.
	out := run(t, 15*time.Minute, path("deploy", "image", "build.sh"), testImage)
	t.Logf("build: %s", lastLine(out))

	var cfg []struct {
		Config struct {
			User       string
			Entrypoint []string
			Cmd        []string
			Env        []string
			Volumes    map[string]any
		}
		Healthcheck struct{ Test []string } // podman reports the docker-format health check beside Config
		Size        int64
	}
	if err := json.Unmarshal([]byte(run(t, time.Minute, "podman", "image", "inspect", testImage)), &cfg); err != nil || len(cfg) != 1 {
		t.Fatalf("podman image inspect: %v", err)
	}
	c := cfg[0].Config
	if uid, _, _ := strings.Cut(c.User, ":"); uid == "" || uid == "0" || uid == "root" {
		t.Errorf("image runs as %q; want a non-root numeric user", c.User)
	}
	if hc := cfg[0].Healthcheck.Test; strings.Join(hc, " ") != "CMD /suilong healthcheck" {
		t.Errorf("HEALTHCHECK = %q; want CMD /suilong healthcheck (needs --format docker)", hc)
	}
	if strings.Join(c.Entrypoint, " ") != "/suilong" {
		t.Errorf("entrypoint %q", c.Entrypoint)
	}
	if _, ok := c.Volumes["/data"]; !ok {
		t.Errorf("no /data volume: %v", c.Volumes)
	}
	if !hasEnv(c.Env, "SUILONG_DATA_DIR=/data") || !hasEnv(c.Env, "SUILONG_HTTP_ADDR=0.0.0.0:8080") {
		t.Errorf("env %v lacks SUILONG_DATA_DIR=/data or SUILONG_HTTP_ADDR=0.0.0.0:8080", c.Env)
	}
	t.Logf("image %s: %.1f MB, user %s", testImage, float64(cfg[0].Size)/1e6, c.User)
	checkRootfs(t)

	flags, why := containerFlags(t)
	if flags == nil {
		t.Logf("CONTAINERS CANNOT RUN HERE (%s): checked instead that the image builds, runs as %s, has its "+
			"HEALTHCHECK, and that the binary in its rootfs runs", why, c.User)
		return
	}
	if out := run(t, time.Minute, "podman", append(append([]string{"run", "--rm", "--no-healthcheck"}, flags...), testImage, "version")...); !strings.HasPrefix(out, "suilong ") {
		t.Errorf("suilong version in the image printed %q", out)
	}

	db := pgtest.CreateDB(t)
	ic := influxtest.New(t)
	port, mqtt := freePort(t), freePort(t)
	name := fmt.Sprintf("suilong-deploytest-%d", os.Getpid())
	args := append([]string{"run", "-d", "--name", name, "--read-only", "--network", "host",
		"-e", "SUILONG_DATABASE_URL=" + db, "-e", "SUILONG_INFLUX_URL=" + ic.URL, "-e", "SUILONG_INFLUX_BUCKET=" + ic.Bucket,
		"-e", fmt.Sprintf("SUILONG_HTTP_ADDR=127.0.0.1:%d", port), "-e", fmt.Sprintf("SUILONG_MQTT_LISTEN=127.0.0.1:%d", mqtt)},
		flags...)
	run(t, time.Minute, "podman", append(args, testImage, "serve")...)
	t.Cleanup(func() { _, _ = runErr(time.Minute, "podman", "rm", "-f", "-t", "5", name) })

	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(90 * time.Second)
	for httpStatus(base+"/readyz") != http.StatusOK {
		if time.Now().After(deadline) {
			logs, _ := runErr(time.Minute, "podman", "logs", "--tail", "30", name)
			t.Fatalf("serve in the container is not ready at %s/readyz after 90s (healthz %d)\n%s", base, httpStatus(base+"/healthz"), logs)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if s := httpStatus(base + "/healthz"); s != http.StatusOK {
		t.Errorf("/healthz = %d", s)
	}
	// The image's own HEALTHCHECK, run the way the engine runs it.
	if out, err := runErr(time.Minute, "podman", "healthcheck", "run", name); err != nil {
		t.Errorf("podman healthcheck run: %v\n%s", err, out)
	}
	if out := run(t, time.Minute, "podman", "exec", name, "/suilong", "healthcheck"); !strings.Contains(out, "/healthz: 200") {
		t.Errorf("suilong healthcheck in the container printed %q", out)
	}
	// A stop is SIGTERM: serve drains and exits 0.
	run(t, time.Minute, "podman", "stop", "-t", "30", name)
	if code := strings.TrimSpace(run(t, time.Minute, "podman", "inspect", "--format", "{{.State.ExitCode}}", name)); code != "0" {
		logs, _ := runErr(time.Minute, "podman", "logs", "--tail", "30", name)
		t.Errorf("serve exited %s after SIGTERM; want 0\n%s", code, logs)
	}
}

// checkRootfs looks inside the image: the static binary and nothing that makes it a distribution (no shell).
func checkRootfs(t *testing.T) {
	t.Helper()
	mnt := strings.TrimSpace(run(t, time.Minute, "podman", "image", "mount", testImage))
	t.Cleanup(func() { _, _ = runErr(time.Minute, "podman", "image", "unmount", testImage) })
	if _, err := os.Stat(filepath.Join(mnt, "bin", "sh")); err == nil {
		t.Errorf("the image has /bin/sh; it should be the binary alone")
	}
	if fi, err := os.Stat(filepath.Join(mnt, "data")); err != nil {
		t.Errorf("no /data in the image: %v", err)
	} else if st := fi.Sys().(*syscall.Stat_t); st.Uid != 65532 {
		t.Errorf("/data belongs to uid %d; want 65532, the image's user", st.Uid)
	}
	if _, err := os.Stat(filepath.Join(mnt, "etc", "ssl", "certs", "ca-certificates.crt")); err != nil {
		t.Errorf("no CA certificates in the image: %v", err)
	}
	bin := filepath.Join(mnt, "suilong")
	if out, err := exec.Command("ldd", bin).CombinedOutput(); err == nil && !strings.Contains(string(out), "not a dynamic") {
		t.Errorf("/suilong in the image is dynamically linked:\n%s", out)
	}
	if out := run(t, time.Minute, bin, "version"); !strings.HasPrefix(out, "suilong ") {
		t.Errorf("the image's /suilong version printed %q", out)
	}
}

// containerFlags finds how this machine lets podman start a container, or says why it cannot. Plain `podman run`
// first. In a sandbox without CAP_SYS_RESOURCE the runtime may not set podman's default rlimits, and crun refuses
// cgroups in hybrid mode; then runc (installed when missing) with limits no higher than this process's.
func containerFlags(t *testing.T) ([]string, string) {
	t.Helper()
	var lim syscall.Rlimit
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	nofile := min(lim.Cur, 65536)
	limits := []string{"--ulimit", fmt.Sprintf("nofile=%d:%d", nofile, nofile), "--ulimit", "nproc=4096:4096"}
	tries := [][]string{{}, limits}
	var why string
	try := func(flags []string) bool {
		args := append(append([]string{"run", "--rm", "--no-healthcheck", "--network", "host"}, flags...), testImage, "version")
		out, err := runErr(time.Minute, "podman", args...)
		if err == nil {
			return true
		}
		why = fmt.Sprintf("podman run %s: %s", strings.Join(flags, " "), firstLine(out))
		return false
	}
	for _, f := range tries {
		if try(f) {
			t.Logf("containers start with podman run %s", strings.Join(f, " "))
			return f, ""
		}
	}
	if _, err := exec.LookPath("runc"); err != nil && os.Geteuid() == 0 {
		aptInstall(t, "runc")
	}
	if _, err := exec.LookPath("runc"); err == nil {
		f := append([]string{"--runtime", "runc"}, limits...)
		if try(f) {
			t.Logf("containers start with podman run %s (crun cannot here)", strings.Join(f, " "))
			return f, ""
		}
	}
	return nil, why
}

func httpStatus(url string) int {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func hasEnv(env []string, kv string) bool {
	for _, e := range env {
		if e == kv {
			return true
		}
	}
	return false
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndex(s, "Error: "); i >= 0 {
		s = s[i:]
	}
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndex(s, "\n")+1:]
}
