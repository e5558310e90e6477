package influxtest

import (
	"context"
	"testing"
)

// A private server can be taken away and brought back with its data: ingest's outage tests rely on it.
func TestPrivateServerStopStart(t *testing.T) {
	srv := Start(t)
	c := NewOn(t, srv.URL)
	ctx := context.Background()
	if err := c.Write().WriteRecord(ctx, "reading,asset_id=a temp_c=1.5 1700000000000000000"); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	if err := c.Ping(ctx); err == nil {
		t.Fatal("ping succeeded with the server stopped")
	}
	srv.Start()
	res, err := c.Query().Query(ctx, `from(bucket: "`+c.Bucket+`") |> range(start: 2023-01-01T00:00:00Z) |> count()`)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	if !res.Next() || res.Record().Value() != int64(1) {
		t.Fatalf("point lost across restart: %v %v", res.Err(), res.Record())
	}
}
