package influx_test

import (
	"context"
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
