// Command bench compares `suilong match` with LEMON's network simplex as whole processes on the same
// instances, in one run: `make bench-matching` (bench.sh builds the LEMON driver, lemon/lemon_match.cc, beside
// this file, then runs this). It generates the instances, runs each program on each of them -runs times
// (alternating which goes first), checks that the objectives are equal, and prints the median wall time and
// peak resident memory of each, with the ratios Suilong/LEMON. It exits non-zero when an objective differs
// or a program fails. Without -lemon it runs Suilong's side alone and says so.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"
)

// shapes are the instances of issue 16: where LEMON solving each product alone used to win (many small
// products, and 1,000 × 1,000), and the large pools.
var shapes = []shape{
	{Name: "1k-1", Offers: 1000, Demands: 1000, Products: 1},
	{Name: "1k-15", Offers: 1000, Demands: 1000, Products: 15},
	{Name: "3k-15", Offers: 3000, Demands: 3000, Products: 15},
	{Name: "10k-50", Offers: 10000, Demands: 10000, Products: 50},
	{Name: "10k-1", Offers: 10000, Demands: 10000, Products: 1},
	{Name: "30k-50", Offers: 30000, Demands: 30000, Products: 50},
	{Name: "50k-15", Offers: 50000, Demands: 50000, Products: 15},
}

// goals are issue 16's targets for one instance, beyond "no slower than LEMON".
var goals = map[string]struct {
	time time.Duration
	rss  int64 // bytes
}{
	"1k-1":   {time: 30 * time.Millisecond},
	"50k-15": {time: 5 * time.Second, rss: 500 << 20},
}

type sample struct {
	wall time.Duration
	cpu  time.Duration // user + system
	rss  int64         // peak resident set, bytes
}

type outcome struct {
	samples   []sample
	objective string
	outBytes  int64
}

func main() {
	suilong := flag.String("suilong", "bin/suilong", "the suilong binary")
	lemon := flag.String("lemon", "", "the LEMON driver (lemon-match); empty: Suilong's side only")
	lemonMissing := flag.String("lemon-missing", "", "why there is no LEMON driver, to print")
	runs := flag.Int("runs", 5, "runs of each program on each instance; medians are reported")
	dir := flag.String("dir", "var/bench-matching", "where the instances and results are written")
	only := flag.String("only", "", "a regular expression: only the instances whose name matches ("+names()+")")
	flag.Parse()
	if err := run(*suilong, *lemon, *lemonMissing, *runs, *dir, *only); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func names() string {
	var n []string
	for _, s := range shapes {
		n = append(n, s.Name)
	}
	return strings.Join(n, ", ")
}

func run(suilong, lemon, lemonMissing string, runs int, dir, only string) error {
	re, err := regexp.Compile(only)
	if err != nil {
		return fmt.Errorf("-only: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var todo []shape
	for _, s := range shapes {
		if re.MatchString(s.Name) {
			todo = append(todo, s)
		}
	}
	if lemon == "" {
		fmt.Println("LEMON: not available, so only Suilong's side runs and there are no ratios.")
		if lemonMissing != "" {
			fmt.Println("LEMON:", lemonMissing)
		}
	}
	if gnuTime == "" {
		fmt.Println("peak memory: /usr/bin/time (GNU time) is missing, so the figures include this process's own memory")
	}
	fmt.Printf("generating %d instances in %s\n", len(todo), dir)
	files := map[string]string{}
	for _, s := range todo {
		path := filepath.Join(dir, s.Name+".json")
		b, err := json.Marshal(generate(s))
		if err != nil {
			return err
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return err
		}
		files[s.Name] = path
	}
	su, le := map[string]*outcome{}, map[string]*outcome{}
	for _, s := range todo {
		su[s.Name], le[s.Name] = &outcome{}, &outcome{}
	}
	// One untimed run of each program first, so that neither pays for loading its binary from disk.
	if len(todo) > 0 {
		warm := todo[0]
		if err := runSuilong(suilong, files[warm.Name], filepath.Join(dir, warm.Name+".result.json"), &outcome{}); err != nil {
			return err
		}
		if lemon != "" {
			if err := runLemon(lemon, files[warm.Name], &outcome{}); err != nil {
				return err
			}
		}
	}
	fmt.Printf("running: %d rounds; in each, every instance by both programs (which goes first alternates)\n", runs)
	for r := range runs {
		for _, s := range todo {
			steps := []func() error{
				func() error {
					return runSuilong(suilong, files[s.Name], filepath.Join(dir, s.Name+".result.json"), su[s.Name])
				},
			}
			if lemon != "" {
				steps = append(steps, func() error { return runLemon(lemon, files[s.Name], le[s.Name]) })
				if r%2 == 1 {
					steps[0], steps[1] = steps[1], steps[0]
				}
			}
			for _, step := range steps {
				if err := step(); err != nil {
					return fmt.Errorf("%s: %w", s.Name, err)
				}
			}
		}
		fmt.Printf("  round %d of %d done\n", r+1, runs)
	}
	return report(todo, su, le, lemon != "", runs)
}

// measure runs cmd to the end and returns its wall time and peak resident set. The peak comes from GNU
// time (-f %M), which forks the program from its own small process: the kernel counts, in a child's peak,
// the memory of the process it was started from, and Go starts children sharing this process's memory
// (which holds the largest instance), so the resource usage Go reports would include it. Without
// /usr/bin/time the peak is Go's figure, and says so.
func measure(cmd *exec.Cmd) (sample, error) {
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	var rssFile string
	if gnuTime != "" {
		f, err := os.CreateTemp("", "bench-rss-*")
		if err != nil {
			return sample{}, err
		}
		f.Close()
		rssFile = f.Name()
		defer os.Remove(rssFile)
		cmd.Args = append([]string{gnuTime, "-f", "%M", "-o", rssFile, "--"}, cmd.Args...)
		cmd.Path = gnuTime
	}
	t0 := time.Now()
	err := cmd.Run()
	wall := time.Since(t0)
	if err != nil {
		return sample{}, fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, tail(stderr.String()))
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return sample{}, errors.New("no resource usage on this system")
	}
	// User and system time of the process (and of GNU time's child, which it waits for), to the microsecond.
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	if rssFile != "" {
		b, err := os.ReadFile(rssFile)
		if err != nil {
			return sample{}, err
		}
		var kb int64
		if _, err := fmt.Sscan(string(b), &kb); err != nil {
			return sample{}, fmt.Errorf("GNU time wrote %q: %w", b, err)
		}
		return sample{wall: wall, cpu: cpu, rss: kb * 1024}, nil
	}
	return sample{wall: wall, cpu: cpu, rss: ru.Maxrss * 1024}, nil // Linux reports kilobytes
}

// gnuTime is /usr/bin/time when it is GNU time, which measure runs the programs under.
var gnuTime = func() string {
	out, err := exec.Command("/usr/bin/time", "-f", "%M", "true").CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) == 0 {
		return ""
	}
	return "/usr/bin/time"
}()

func tail(s string) string {
	if len(s) > 2000 {
		return "…" + s[len(s)-2000:]
	}
	return s
}

func runSuilong(bin, in, out string, o *outcome) error {
	_ = os.Remove(out)
	cmd := exec.Command(bin, "match", "--in", in, "--out", out)
	cmd.Env = append(os.Environ(), "SUILONG_LOG_LEVEL=warn")
	s, err := measure(cmd)
	if err != nil {
		return err
	}
	obj, size, err := resultObjective(out)
	if err != nil {
		return err
	}
	o.samples = append(o.samples, s)
	o.objective, o.outBytes = obj, size
	return nil
}

// resultObjective reads the objective from the head of a result file: `{"objective": 1234.56, …`.
func resultObjective(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", 0, err
	}
	head := make([]byte, 200)
	n, _ := f.Read(head)
	m := regexp.MustCompile(`^\{\s*"objective":\s*(-?[0-9]+\.[0-9]{2}),`).FindSubmatch(head[:n])
	if m == nil {
		return "", 0, fmt.Errorf("%s does not start with an objective: %q", path, head[:n])
	}
	return string(m[1]), st.Size(), nil
}

func runLemon(bin, in string, o *outcome) error {
	cmd := exec.Command(bin, in)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	s, err := measure(cmd)
	if err != nil {
		return err
	}
	o.samples = append(o.samples, s)
	o.objective = strings.TrimSpace(stdout.String())
	return nil
}

func median[T any](xs []sample, key func(sample) T, less func(a, b T) int) T {
	vs := make([]T, len(xs))
	for i, x := range xs {
		vs[i] = key(x)
	}
	slices.SortFunc(vs, less)
	return vs[len(vs)/2]
}

func medians(o *outcome) (time.Duration, int64) {
	w := median(o.samples, func(s sample) time.Duration { return s.wall }, func(a, b time.Duration) int { return int(a - b) })
	r := median(o.samples, func(s sample) int64 { return s.rss }, func(a, b int64) int { return int(a - b) })
	return w, r
}

func medianCPU(o *outcome) time.Duration {
	return median(o.samples, func(s sample) time.Duration { return s.cpu }, func(a, b time.Duration) int { return int(a - b) })
}

func spread(o *outcome) string {
	lo, hi := o.samples[0].wall, o.samples[0].wall
	for _, s := range o.samples {
		lo, hi = min(lo, s.wall), max(hi, s.wall)
	}
	return fmt.Sprintf("%s–%s", dur(lo), dur(hi))
}

func dur(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
}

func mb(b int64) string { return fmt.Sprintf("%.0f MB", float64(b)/(1<<20)) }

func report(todo []shape, su, le map[string]*outcome, withLemon bool, runs int) error {
	fmt.Printf("\nmedians of %d runs (whole processes: start, read, solve, write; peak resident memory)\n\n", runs)
	fmt.Println("| instance | Suilong time | Suilong RSS | LEMON time | LEMON RSS | time Suilong/LEMON | RSS Suilong/LEMON | objective (CNY) |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- | --- |")
	var bad []string
	for _, s := range todo {
		sw, sr := medians(su[s.Name])
		row := fmt.Sprintf("| %s | %s | %s", s, dur(sw), mb(sr))
		if withLemon {
			lw, lr := medians(le[s.Name])
			row += fmt.Sprintf(" | %s | %s | %.2f | %.2f", dur(lw), mb(lr), float64(sw)/float64(lw), float64(sr)/float64(lr))
			if su[s.Name].objective != le[s.Name].objective {
				bad = append(bad, fmt.Sprintf("%s: objective %s (Suilong) ≠ %s (LEMON)", s.Name, su[s.Name].objective, le[s.Name].objective))
				row += fmt.Sprintf(" | **differ**: %s vs %s |", su[s.Name].objective, le[s.Name].objective)
			} else {
				row += fmt.Sprintf(" | %s, equal |", su[s.Name].objective)
			}
			if sw > lw {
				bad = append(bad, fmt.Sprintf("%s: Suilong is slower than LEMON (%s against %s)", s.Name, dur(sw), dur(lw)))
			}
		} else {
			row += fmt.Sprintf(" | – | – | – | – | %s |", su[s.Name].objective)
		}
		fmt.Println(row)
	}
	fmt.Println()
	fmt.Println("wall time range over the runs, and median CPU time (user + system: less disturbed by the machine's other work):")
	for _, s := range todo {
		fmt.Printf("%-7s Suilong %s, CPU %s (result %s)", s.Name, spread(su[s.Name]), dur(medianCPU(su[s.Name])), mb(su[s.Name].outBytes))
		if withLemon {
			fmt.Printf("; LEMON %s, CPU %s; CPU Suilong/LEMON %.2f", spread(le[s.Name]), dur(medianCPU(le[s.Name])),
				float64(medianCPU(su[s.Name]))/float64(medianCPU(le[s.Name])))
		}
		fmt.Println()
	}
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("load average at the end: %s", la)
	}
	fmt.Println()
	for _, s := range todo {
		g, ok := goals[s.Name]
		if !ok {
			continue
		}
		sw, sr := medians(su[s.Name])
		verdict := "met"
		if sw > g.time || (g.rss > 0 && sr > g.rss) {
			verdict = "MISSED"
			bad = append(bad, fmt.Sprintf("%s: goal missed", s.Name))
		}
		want := "≤ " + dur(g.time)
		if g.rss > 0 {
			want += " and ≤ " + mb(g.rss)
		}
		fmt.Printf("goal %s %s: %s (%s, %s)\n", s.Name, want, verdict, dur(sw), mb(sr))
	}
	if len(bad) > 0 {
		fmt.Println()
		for _, b := range bad {
			fmt.Println("NOTE:", b)
		}
	}
	for _, b := range bad {
		if strings.Contains(b, "objective") {
			return errors.New("objectives differ")
		}
	}
	return nil
}
