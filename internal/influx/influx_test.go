package influx_test

import (
	"context"
	"strings"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"

	"github.com/suilong/suilong/internal/influx"
	"github.com/suilong/suilong/internal/influx/influxtest"
)

func TestFluxString(t *testing.T) {
	tests := []struct{ in, want string }{
		{`LY-TRK-0001`, `"LY-TRK-0001"`},
		{`a"b`, `"a\"b"`},
		{`back\slash`, `"back\\slash"`},
		{`${injected}`, `"\${injected}"`},
		{`cost $5`, `"cost $5"`},
		{"two\nlines", `"two\nlines"`},
	}
	for _, tt := range tests {
		if got := influx.FluxString(tt.in); got != tt.want {
			t.Errorf("FluxString(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// A point written through the client comes back through a Flux query that filters on user-supplied text.
func TestWriteThenQuery(t *testing.T) {
	c := influxtest.New(t)
	ctx := context.Background()
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	id := `odd "id" ${x}`
	p := influxdb2.NewPoint("reading", map[string]string{"asset_id": id}, map[string]any{"temp_c": 3.5}, ts)
	if err := c.Write().WritePoint(ctx, p); err != nil {
		t.Fatal(err)
	}
	q := `from(bucket: ` + influx.FluxString(c.Bucket) + `)
  |> range(start: 2026-11-24T00:00:00Z, stop: 2026-11-25T00:00:00Z)
  |> filter(fn: (r) => r._measurement == "reading" and r.asset_id == ` + influx.FluxString(id) + ` and r._field == "temp_c")`
	res, err := c.Query().Query(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	var got []float64
	for res.Next() {
		got = append(got, res.Record().Value().(float64))
	}
	if res.Err() != nil {
		t.Fatal(res.Err())
	}
	if len(got) != 1 || got[0] != 3.5 {
		t.Fatalf("got %v, want [3.5]", got)
	}
}

// A retention policy shorter than asked is lengthened, a longer one or one that keeps readings forever is left
// alone, a missing one is created.
func TestEnsureRetention(t *testing.T) {
	c := influxtest.New(t)
	ctx := context.Background()
	db, _, _ := strings.Cut(c.Bucket, "/")
	if did, err := c.EnsureRetention(ctx, 17520*time.Hour); err != nil || did != "" {
		t.Fatalf("autogen keeps readings forever: %q %v", did, err)
	}
	if err := influxtest.Exec(c.URL, `CREATE RETENTION POLICY "short" ON "`+db+`" DURATION 720h REPLICATION 1`); err != nil {
		t.Fatal(err)
	}
	short := influx.New(influx.Config{URL: c.URL, Bucket: db + "/short"})
	defer short.Close()
	did, err := short.EnsureRetention(ctx, 17520*time.Hour)
	if err != nil || !strings.Contains(did, "lengthened from 720h0m0s to 17520h") {
		t.Fatalf("short policy: %q %v", did, err)
	}
	if did, err := short.EnsureRetention(ctx, 8760*time.Hour); err != nil || did != "" {
		t.Errorf("a longer policy was changed: %q %v", did, err)
	}
	fresh := influx.New(influx.Config{URL: c.URL, Bucket: db + "/records"})
	defer fresh.Close()
	if did, err := fresh.EnsureRetention(ctx, 26304*time.Hour); err != nil || !strings.Contains(did, "created retention policy") {
		t.Errorf("missing policy: %q %v", did, err)
	}
}
