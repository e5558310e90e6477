package deploytest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/internal/envfile"
	"github.com/suilong/suilong/internal/influx"
	"github.com/suilong/suilong/internal/influx/influxtest"
	"github.com/suilong/suilong/internal/pg/pgtest"
)

// The PostgreSQL backup of docs/operations.md, end to end: a database with the platform's data (suilong migrate
// and suilong demo), pg_dump in custom format, pg_restore into a fresh database, and every table of the restored
// one identical to the original, row for row; suilong migrate then finds nothing to do.
func TestPostgresBackupRestore(t *testing.T) {
	pgDump, pgRestore := tool(t, "pg_dump", "postgresql-client"), tool(t, "pg_restore", "postgresql-client")
	bin := buildSuilong(t)
	src := pgtest.CreateDB(t)
	ic := influxServer(t)
	if err := ic.exec(`CREATE DATABASE coldchain`); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "SUILONG_ENV_FILE=/dev/null", "SUILONG_DATABASE_URL="+src,
		"SUILONG_INFLUX_URL="+ic.url, "SUILONG_INFLUX_BUCKET=coldchain/autogen")
	for _, args := range [][]string{{"migrate"}, {"demo"}} {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("suilong %v: %v\n%s", args, err, out)
		}
	}
	dump := filepath.Join(t.TempDir(), "suilong.dump")
	run(t, 2*time.Minute, pgDump, "--format=custom", "--no-owner", "--file="+dump, src)
	dst := pgtest.CreateDB(t)
	run(t, 2*time.Minute, pgRestore, "--no-owner", "--exit-on-error", "--dbname="+dst, dump)

	before, after := tableDigests(t, src), tableDigests(t, dst)
	if len(before) < 10 {
		t.Fatalf("only %d tables in the source database: %v", len(before), before)
	}
	rows := 0
	for table, d := range before {
		if after[table] != d {
			t.Errorf("table %s differs after the restore: %s, then %s", table, d, after[table])
		}
		var n int
		fmt.Sscan(strings.SplitN(d, " ", 2)[0], &n)
		rows += n
	}
	if rows < 50 {
		t.Errorf("the demo data has only %d rows; the restore proves little", rows)
	}
	cmd := exec.Command(bin, "migrate")
	cmd.Env = append(env, "SUILONG_DATABASE_URL="+dst)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("suilong migrate on the restored database: %v\n%s", err, out)
	}
	t.Logf("restored %d tables, %d rows", len(before), rows)
}

// tableDigests gives "rows md5" of every table in the public schema, rows in a fixed order.
func tableDigests(t *testing.T, url string) map[string]string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, tb := range tables {
		var n int
		var sum string
		q := fmt.Sprintf(`SELECT count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM %s x`, pgx.Identifier{tb}.Sanitize())
		if err := conn.QueryRow(ctx, q).Scan(&n, &sum); err != nil {
			t.Fatalf("%s: %v", tb, err)
		}
		out[tb] = fmt.Sprintf("%d %s", n, sum)
	}
	return out
}

// The InfluxDB 1.8 backup of docs/operations.md, end to end: readings in the schema of DESIGN.md written to
// coldchain on one server, influxd backup -portable over its RPC port, influxd restore -portable into a second,
// fresh server, and the same readings read back there with Flux.
func TestInfluxBackupRestore(t *testing.T) {
	a, b := influxServer(t), influxServer(t)
	ctx := context.Background()
	ca := influx.New(influx.Config{URL: a.url, Bucket: "coldchain/autogen"})
	defer ca.Close()
	if err := a.exec(`CREATE DATABASE coldchain`); err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	var lines []string
	for i := range 240 {
		for _, s := range []struct{ asset, kind, sensor, gw string }{{"LY-TRK-0001", "truck", "LY-TRK-0001-A", "LY-GW-0001"}, {"LY-CS-0001", "cold_store", "LY-CS-0001-A", "LY-GW-0101"}} {
			lines = append(lines, fmt.Sprintf("reading,asset_id=%s,asset_kind=%s,gateway_id=%s,sensor_id=%s temp_c=%.2f,humidity_pct=88,door_open=false,battery_pct=90i %d",
				s.asset, s.kind, s.gw, s.sensor, 2+float64(i%20)/10, base.Add(time.Duration(i)*30*time.Second).UnixNano()))
		}
	}
	if err := ca.Write().WriteRecord(ctx, lines...); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "influx-backup")
	run(t, 2*time.Minute, a.bin, "backup", "-portable", "-db", "coldchain", "-host", a.rpc, dir)
	run(t, 2*time.Minute, b.bin, "restore", "-portable", "-db", "coldchain", "-host", b.rpc, dir)

	cb := influx.New(influx.Config{URL: b.url, Bucket: "coldchain/autogen"})
	defer cb.Close()
	q := fmt.Sprintf(`from(bucket: "coldchain/autogen")
  |> range(start: %s)
  |> filter(fn: (r) => r._measurement == "reading" and r._field == "temp_c")
  |> group(columns: ["asset_id"])
  |> sum()`, influx.FluxTime(base.Add(-time.Minute)))
	sums := func(c *influx.Client) map[string]float64 {
		res, err := c.Query().Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Close()
		m := map[string]float64{}
		for res.Next() {
			m[fmt.Sprint(res.Record().ValueByKey("asset_id"))] = res.Record().Value().(float64)
		}
		return m
	}
	// The restored shard opens in the background after restore returns (seconds on a busy machine).
	want, got := sums(ca), sums(cb)
	for deadline := time.Now().Add(30 * time.Second); fmt.Sprint(want) != fmt.Sprint(got) && time.Now().Before(deadline); got = sums(cb) {
		time.Sleep(250 * time.Millisecond)
	}
	if len(want) != 2 || fmt.Sprint(want) != fmt.Sprint(got) {
		t.Errorf("temperatures summed per asset: %v before, %v after the restore", want, got)
	}
}

type influxd struct {
	bin, url, rpc string
}

func (s influxd) exec(q string) error { return influxtest.Exec(s.url, q) }

// influxServer starts a private influxd 1.8 (SUILONG_INFLUXD_BIN) with its RPC port, which backup and restore
// use, on free ports.
func influxServer(t *testing.T) influxd {
	t.Helper()
	_, _ = envfile.Load()
	bin := os.Getenv("SUILONG_INFLUXD_BIN")
	if bin == "" {
		t.Fatal("SUILONG_INFLUXD_BIN is not set: run the tests with make test (deploy/local/up.sh builds influxd)")
	}
	dir := t.TempDir()
	s := influxd{bin: bin, url: fmt.Sprintf("http://127.0.0.1:%d", freePort(t)), rpc: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	conf := fmt.Sprintf(`reporting-disabled = true
bind-address = %q
[meta]
  dir = %q
[data]
  dir = %q
  wal-dir = %q
  query-log-enabled = false
[http]
  bind-address = %q
  flux-enabled = true
  log-enabled = false
[monitor]
  store-enabled = false
`, s.rpc, filepath.Join(dir, "meta"), filepath.Join(dir, "data"), filepath.Join(dir, "wal"), strings.TrimPrefix(s.url, "http://"))
	if err := os.WriteFile(filepath.Join(dir, "influxd.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	startProcess(t, "influxd", os.Environ(), bin, "-config", filepath.Join(dir, "influxd.conf"))
	c := influx.New(influx.Config{URL: s.url})
	defer c.Close()
	waitFor(t, 30*time.Second, "influxd to answer", func() (bool, string) {
		err := c.Ping(context.Background())
		return err == nil, fmt.Sprint(err)
	})
	return s
}
