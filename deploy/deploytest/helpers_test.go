package deploytest

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// root is the checkout's top level.
var root = func() string {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	return filepath.Clean(filepath.Join(wd, "..", ".."))
}()

// path joins parts under the checkout.
func path(parts ...string) string { return filepath.Join(append([]string{root}, parts...)...) }

var aptMu sync.Mutex

// tool returns the path of command name. When it is missing, root installs Debian's package pkg (log:
// var/log/apt.log), as deploy/local does for its services. Only a machine that cannot install it (not root, or
// no apt-get) skips the test, saying so.
func tool(t *testing.T, name, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if os.Geteuid() != 0 {
		t.Skipf("%s is not installed and only root can install it here: sudo apt-get install -y %s", name, pkg)
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Skipf("%s is not installed and this machine has no apt-get to install Debian's %s", name, pkg)
	}
	aptInstall(t, pkg)
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("Debian's %s was installed but %s is still not on PATH", pkg, name)
	}
	return p
}

// aptInstall installs Debian packages as root, updating the package lists once when the install fails.
func aptInstall(t *testing.T, pkgs ...string) {
	t.Helper()
	aptMu.Lock()
	defer aptMu.Unlock()
	if err := os.MkdirAll(path("var", "log"), 0o755); err != nil {
		t.Fatal(err)
	}
	logf, err := os.OpenFile(path("var", "log", "apt.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	apt := func(args ...string) error {
		cmd := exec.Command("apt-get", append([]string{"-o", "DPkg::Lock::Timeout=300", "-y"}, args...)...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = logf, logf
		return cmd.Run()
	}
	t.Logf("installing Debian packages %v (log: var/log/apt.log)", pkgs)
	install := append([]string{"install", "--no-install-recommends"}, pkgs...)
	if apt(install...) == nil {
		return
	}
	_ = apt("update")
	if err := apt(install...); err != nil {
		t.Fatalf("apt-get install %v: %v (see var/log/apt.log)", pkgs, err)
	}
}

// run runs a command in the checkout and returns its combined output, failing the test when it fails.
func run(t *testing.T, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	out, err := runErr(timeout, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// runErr is run that returns the error.
func runErr(timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = root
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	return b.String(), err
}

// freePort returns a TCP port on 127.0.0.1 that nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
