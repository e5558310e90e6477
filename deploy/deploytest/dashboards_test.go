package deploytest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/internal/influx"
	"github.com/suilong/suilong/internal/influx/influxtest"
	"github.com/suilong/suilong/internal/pg/pgtest"
)

// platform is a real suilong serve with the demo fleet and its simulator (readings in the schema of DESIGN.md,
// excursions, open doors, malformed messages), its database and InfluxDB, and a real Prometheus scraping it
// with the platform's alert rules loaded.
type platform struct {
	dbURL   string
	influx  *influx.Client
	serve   string // http://127.0.0.1:port of suilong serve
	prom    string // http://127.0.0.1:port of Prometheus
	metrics string // one scrape of /metrics
}

// buildSuilong builds the binary from the checkout once per test run.
func buildSuilong(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "suilong")
	run(t, 5*time.Minute, "go", "build", "-o", bin, "./cmd/suilong")
	return bin
}

func startPlatform(t *testing.T) *platform {
	t.Helper()
	prometheus := tool(t, "prometheus", "prometheus")
	bin := buildSuilong(t)
	p := &platform{dbURL: pgtest.CreateDB(t), influx: influxtest.New(t)}
	port, mqtt := freePort(t), freePort(t)
	env := append(os.Environ(),
		"SUILONG_ENV_FILE=/dev/null", // nothing from the checkout's var/suilong.env
		"SUILONG_DATABASE_URL="+p.dbURL, "SUILONG_INFLUX_URL="+p.influx.URL, "SUILONG_INFLUX_BUCKET="+p.influx.Bucket,
		fmt.Sprintf("SUILONG_HTTP_ADDR=127.0.0.1:%d", port), fmt.Sprintf("SUILONG_MQTT_LISTEN=127.0.0.1:%d", mqtt),
		"SUILONG_DATA_DIR="+t.TempDir(), "SUILONG_LOG_FORMAT=json", "SUILONG_MQTT_URL=",
		// Short rule durations, so that the simulator's faults become alarms within the backfill.
		"SUILONG_INGEST_EXCURSION_OPEN=5m", "SUILONG_INGEST_DOOR_OPEN_LIMIT=5m")
	for _, args := range [][]string{{"migrate"}, {"demo"}} {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("suilong %v: %v\n%s", args, err, out)
		}
	}
	p.serve = fmt.Sprintf("http://127.0.0.1:%d", port)
	startProcess(t, "suilong serve", env, bin, "serve", "--sim", "--no-migrate", "--drain-timeout", "5s")
	waitFor(t, 90*time.Second, "suilong serve to store readings and raise alarms", func() (bool, string) {
		m := body(p.serve + "/metrics")
		written := metricSum(m, `suilong_ingest_readings_written_total`)
		changes := metricSum(m, `suilong_ingest_alarm_changes_total`)
		return written > 0 && changes > 0, fmt.Sprintf("written %v, alarm changes %v", written, changes)
	})
	// Some API traffic of each kind, so the HTTP panels have series: a page, a refused request, a miss.
	for _, pth := range []string{"/healthz", "/readyz", "/api/v1/alarms", "/api/v1/no-such-thing", "/api/openapi.yaml"} {
		body(p.serve + pth)
	}

	promPort := freePort(t)
	dir := t.TempDir()
	alerts, err := os.ReadFile(path("deploy", "prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts.yml"), alerts, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [alerts.yml]
scrape_configs:
  - job_name: suilong
    static_configs:
      - targets: ["127.0.0.1:%d"]
`, port)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p.prom = fmt.Sprintf("http://127.0.0.1:%d", promPort)
	startProcess(t, "prometheus", nil, prometheus, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), fmt.Sprintf("--web.listen-address=127.0.0.1:%d", promPort))
	waitFor(t, 60*time.Second, "Prometheus to have scraped suilong a few times", func() (bool, string) {
		if body(p.prom+"/-/ready") == "" {
			return false, "not ready"
		}
		r := promQuery(t, p.prom, `count_over_time(up{job="suilong"}[1m])`)
		n := 0.0
		if len(r) > 0 {
			n = r[0].last()
		}
		return n >= 8, fmt.Sprintf("%v scrapes", n)
	})
	p.metrics = body(p.serve + "/metrics")
	return p
}

// startProcess runs a program until the test ends (SIGTERM, then SIGKILL), its output in the test log on failure.
func startProcess(t *testing.T, what string, env []string, name string, args ...string) {
	t.Helper()
	logf, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", what, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			out, _ := os.ReadFile(logf.Name())
			if len(out) > 4000 {
				out = out[len(out)-4000:]
			}
			t.Logf("%s output (tail):\n%s", what, out)
		}
		logf.Close()
	})
}

func waitFor(t *testing.T, limit time.Duration, what string, ok func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		done, state := ok()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s: %s", limit, what, state)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func body(u string) string {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// metricSum adds up the samples of a metric in Prometheus text format.
func metricSum(text, name string) float64 {
	sum := 0.0
	for _, l := range strings.Split(text, "\n") {
		if !strings.HasPrefix(l, name+"{") && !strings.HasPrefix(l, name+" ") {
			continue
		}
		f := strings.Fields(l)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			sum += v
		}
	}
	return sum
}

type promSeries struct {
	Metric map[string]string
	Values [][2]any
	Value  [2]any
}

func (s promSeries) last() float64 {
	v := s.Value
	if len(s.Values) > 0 {
		v = s.Values[len(s.Values)-1]
	}
	str, _ := v[1].(string)
	f, _ := strconv.ParseFloat(str, 64)
	return f
}

func promAPI(t *testing.T, u string, out any) {
	t.Helper()
	var r struct {
		Status, Error string
		Data          json.RawMessage
	}
	if err := json.Unmarshal([]byte(body(u)), &r); err != nil || r.Status != "success" {
		t.Fatalf("Prometheus %s: %v %s", u, err, r.Error)
	}
	if err := json.Unmarshal(r.Data, out); err != nil {
		t.Fatalf("Prometheus %s: %v", u, err)
	}
}

func promQuery(t *testing.T, base, q string) []promSeries {
	t.Helper()
	var d struct{ Result []promSeries }
	promAPI(t, base+"/api/v1/query?query="+url.QueryEscape(q), &d)
	return d.Result
}

func promRange(t *testing.T, base, q string, from, to time.Time) []promSeries {
	t.Helper()
	var d struct{ Result []promSeries }
	promAPI(t, fmt.Sprintf("%s/api/v1/query_range?query=%s&start=%d&end=%d&step=1", base, url.QueryEscape(q), from.Unix(), to.Unix()), &d)
	return d.Result
}

// dashboard is the part of Grafana's dashboard JSON the test runs.
type dashboard struct {
	UID, Title string
	Templating struct{ List []variable }
	Panels     []struct {
		Title      string
		Datasource struct{ UID string }
		Targets    []target
	}
}

type variable struct {
	Name, Type string
	Datasource struct{ UID string }
	Query      json.RawMessage
}

type target struct {
	RefID      string
	Datasource struct{ UID string }
	Expr       string // Prometheus
	Query      string // Flux
	RawSQL     string `json:"rawSql"`
}

// Every query of every dashboard, with the dashboard's variables substituted, runs against the real services and
// returns data: PromQL on the Prometheus scraping suilong serve, Flux on the InfluxDB the simulator's readings
// went to, SQL on its PostgreSQL. Every metric the dashboards and alert rules name is one that suilong serves,
// and the alert rules evaluate without error on its real series.
func TestDashboardQueries(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts suilong serve with the simulator and a Prometheus")
	}
	p := startPlatform(t)
	files, err := filepath.Glob(path("deploy", "grafana", "dashboards", "*.json"))
	if err != nil || len(files) < 4 {
		t.Fatalf("dashboards: %v %v", files, err)
	}
	db, err := pgx.Connect(context.Background(), p.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	to := time.Now().Add(time.Minute)
	from := to.Add(-3 * time.Hour)
	names := map[string]bool{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, n := range regexp.MustCompile(`suilong_[a-z_]+`).FindAllString(string(raw), -1) {
			names[n] = true
		}
		t.Run(d.UID, func(t *testing.T) {
			q := &querier{t: t, p: p, db: db, from: from, to: to, vars: map[string]string{}}
			for _, v := range d.Templating.List {
				q.vars[v.Name] = q.variable(v)
			}
			n := 0
			for _, panel := range d.Panels {
				for _, tg := range panel.Targets {
					if tg.Datasource.UID == "" {
						tg.Datasource.UID = panel.Datasource.UID
					}
					q.target(panel.Title, tg)
					n++
				}
			}
			t.Logf("%s: %d queries returned data (variables %v)", d.Title, n, q.vars)
		})
	}

	// The names in the dashboards and the alert rules exist in what suilong serves.
	alerts, err := os.ReadFile(path("deploy", "prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range regexp.MustCompile(`suilong_[a-z_]+`).FindAllString(string(alerts), -1) {
		names[n] = true
	}
	for n := range names {
		if !regexp.MustCompile(`(?m)^` + n + `[{ ]`).MatchString(p.metrics) {
			t.Errorf("%s is in the dashboards or alert rules but suilong serve does not export it", n)
		}
	}

	var rules struct {
		Groups []struct {
			Rules []struct{ Name, Health, LastError string }
		}
	}
	promAPI(t, p.prom+"/api/v1/rules", &rules)
	count := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			count++
			if r.Health == "err" || r.LastError != "" {
				t.Errorf("alert %s fails on real series: %s", r.Name, r.LastError)
			}
		}
	}
	if count < 8 {
		t.Errorf("Prometheus loaded %d alert rules from alerts.yml", count)
	}
}

type querier struct {
	t        *testing.T
	p        *platform
	db       *pgx.Conn
	from, to time.Time
	vars     map[string]string
}

// grafanaRegex is what Grafana's ${var:regex} format escapes: a value cannot end a Flux regex literal (/) or
// widen the match. The dashboards use it where a variable reaches Flux, which Grafana has no quoting for.
var grafanaRegex = regexp.MustCompile(`[/\\^$*+?.()|[\]{}]`)

// subst replaces Grafana's variables and macros the way Grafana does before a query leaves it.
func (q *querier) subst(s string) string {
	for name, v := range q.vars {
		s = strings.ReplaceAll(s, "${"+name+":sqlstring}", "'"+strings.ReplaceAll(v, "'", "''")+"'")
		s = strings.ReplaceAll(s, "${"+name+":regex}", grafanaRegex.ReplaceAllString(v, `\$0`))
		s = strings.ReplaceAll(s, "${"+name+"}", v)
		s = strings.ReplaceAll(s, "$"+name, v)
	}
	lit := func(t time.Time) string { return "'" + t.UTC().Format(time.RFC3339) + "'" }
	s = strings.ReplaceAll(s, "$__rate_interval", "5s")
	s = strings.ReplaceAll(s, "$__interval", "1s")
	s = strings.ReplaceAll(s, "$__timeFrom()", lit(q.from))
	s = strings.ReplaceAll(s, "$__timeTo()", lit(q.to))
	s = regexp.MustCompile(`\$__timeFilter\(([a-z_]+)\)`).ReplaceAllString(s, "$1 BETWEEN "+lit(q.from)+" AND "+lit(q.to))
	if strings.Contains(s, "$") && !strings.Contains(s, "${") {
		// A Flux or SQL dollar is fine; a Grafana variable left over is not.
		if m := regexp.MustCompile(`\$[a-zA-Z_]+`).FindString(s); m != "" && !strings.HasPrefix(m, "$__") {
			q.t.Errorf("unknown variable %s in %q", m, s)
		}
	}
	return s
}

// flux prefixes the record Grafana's InfluxDB datasource defines for Flux queries.
func (q *querier) flux(s string) string {
	return fmt.Sprintf("v = {timeRangeStart: %s, timeRangeStop: %s, windowPeriod: 1m, defaultBucket: %s}\n%s",
		influx.FluxTime(q.from), influx.FluxTime(q.to), influx.FluxString(q.p.influx.Bucket), q.subst(s))
}

// fluxRows runs a Flux query and returns the values of column col (every column as text when col is "").
func (q *querier) fluxRows(what, query string) []string {
	q.t.Helper()
	res, err := q.p.influx.Query().Query(context.Background(), q.flux(query))
	if err != nil {
		q.t.Errorf("%s: Flux: %v\n%s", what, err, query)
		return nil
	}
	defer res.Close()
	var vals []string
	for res.Next() {
		vals = append(vals, fmt.Sprint(res.Record().Value()))
	}
	if err := res.Err(); err != nil {
		q.t.Errorf("%s: Flux: %v", what, err)
	}
	return vals
}

func (q *querier) variable(v variable) string {
	q.t.Helper()
	var query string
	if err := json.Unmarshal(v.Query, &query); err != nil {
		var obj struct{ Query string }
		_ = json.Unmarshal(v.Query, &obj)
		query = obj.Query
	}
	var vals []string
	switch v.Datasource.UID {
	case "suilong-influxdb":
		vals = q.fluxRows("variable "+v.Name, query)
	case "suilong-prometheus":
		m := regexp.MustCompile(`^label_values\((.+),\s*([a-z_]+)\)$`).FindStringSubmatch(strings.TrimSpace(query))
		if m == nil {
			q.t.Fatalf("variable %s: only label_values(selector, label) is understood here: %q", v.Name, query)
		}
		promAPI(q.t, q.p.prom+"/api/v1/label/"+m[2]+"/values?match[]="+url.QueryEscape(q.subst(m[1])), &vals)
	default:
		q.t.Fatalf("variable %s: datasource %q", v.Name, v.Datasource.UID)
	}
	if len(vals) == 0 {
		q.t.Fatalf("variable %s: its query returned nothing: %s", v.Name, query)
	}
	slices.Sort(vals)
	return vals[0]
}

func (q *querier) target(panel string, tg target) {
	q.t.Helper()
	what := panel + " / " + tg.RefID
	switch tg.Datasource.UID {
	case "suilong-prometheus":
		// A rate over a short window has a value only where the window saw the counter move: the simulator
		// reads every 10 s, so on a busy machine the first scrapes may not hold such a window yet. Ask again
		// for a while before calling the panel empty.
		finite := false
		for deadline := time.Now().Add(45 * time.Second); !finite; time.Sleep(time.Second) {
			series := promRange(q.t, q.p.prom, q.subst(tg.Expr), q.to.Add(-time.Minute-2*time.Minute), time.Now())
			for _, s := range series {
				for _, v := range s.Values {
					if f, err := strconv.ParseFloat(fmt.Sprint(v[1]), 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
						finite = true
					}
				}
			}
			if time.Now().After(deadline) {
				break
			}
		}
		if !finite {
			q.t.Errorf("%s: PromQL returned no data: %s", what, q.subst(tg.Expr))
		}
	case "suilong-influxdb":
		if rows := q.fluxRows(what, tg.Query); len(rows) == 0 {
			q.t.Errorf("%s: Flux returned no rows:\n%s", what, q.flux(tg.Query))
		}
	case "suilong-postgres":
		rows, err := q.db.Query(context.Background(), q.subst(tg.RawSQL))
		if err != nil {
			q.t.Errorf("%s: SQL: %v\n%s", what, err, q.subst(tg.RawSQL))
			return
		}
		n := 0
		for rows.Next() {
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil || n == 0 {
			q.t.Errorf("%s: SQL returned %d rows (%v):\n%s", what, n, err, q.subst(tg.RawSQL))
		}
	default:
		q.t.Errorf("%s: datasource %q is none of the provisioned ones", what, tg.Datasource.UID)
	}
}
