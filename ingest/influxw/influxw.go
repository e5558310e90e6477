// Package influxw writes ingest's line protocol to InfluxDB through the official client, telling a refusal of
// the data (which retrying cannot fix) from an unreachable server (which the spool covers).
package influxw

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/influxdata/influxdb-client-go/v2/api"
	ihttp "github.com/influxdata/influxdb-client-go/v2/api/http"

	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/internal/influx"
)

// Writer implements ingest.PointWriter.
type Writer struct {
	w api.WriteAPIBlocking
}

// New returns a writer to c's bucket.
func New(c *influx.Client) *Writer { return &Writer{w: c.Write()} }

var _ ingest.PointWriter = (*Writer)(nil)

// WriteLines writes line protocol and returns once InfluxDB has it. A 4xx answer other than 408/429 wraps
// ingest.ErrRejected.
func (w *Writer) WriteLines(ctx context.Context, lines []byte) error {
	if len(lines) == 0 {
		return nil
	}
	err := w.w.WriteRecord(ctx, string(lines))
	if err == nil {
		return nil
	}
	var he *ihttp.Error
	if errors.As(err, &he) && he.StatusCode >= 400 && he.StatusCode < 500 &&
		he.StatusCode != http.StatusRequestTimeout && he.StatusCode != http.StatusTooManyRequests {
		return fmt.Errorf("%w: %s", ingest.ErrRejected, err)
	}
	return err
}
