// Package influxw writes ingest's line protocol to InfluxDB through the official client and classifies every
// failure (ingest.WriteError): a refusal of the data itself, a request too large, or one of the many ways the
// data could not be stored now (a token rotated, a database dropped, the server away), which the spool covers.
package influxw

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"syscall"

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

// WriteLines writes line protocol and returns once InfluxDB has it, or an *ingest.WriteError.
func (w *Writer) WriteLines(ctx context.Context, lines []byte) error {
	if len(lines) == 0 {
		return nil
	}
	err := w.w.WriteRecord(ctx, string(lines))
	if err == nil {
		return nil
	}
	return Classify(ctx, err)
}

// Classify turns an error of the InfluxDB client into an *ingest.WriteError.
func Classify(ctx context.Context, err error) error {
	var he *ihttp.Error
	if errors.As(err, &he) && he.StatusCode != 0 {
		msg := he.Header.Get("X-Influxdb-Error") // 1.8 says there what went wrong; 2.x in its JSON body
		if msg == "" {
			msg = he.Error()
		}
		return &ingest.WriteError{Status: ingest.HTTPStatus(he.StatusCode), Err: errors.New(msg)}
	}
	return &ingest.WriteError{Status: transportStatus(ctx, err), Err: err}
}

// transportStatus names what kept a request from an answer.
func transportStatus(ctx context.Context, err error) string {
	var dnsErr *net.DNSError
	var netErr net.Error
	var certErr *tls.CertificateVerificationError
	var unknownAuthority x509.UnknownAuthorityError
	var recordErr tls.RecordHeaderError
	switch {
	case errors.As(err, &dnsErr):
		return "dns"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.As(err, &certErr), errors.As(err, &unknownAuthority), errors.As(err, &recordErr):
		return "tls"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), ctx.Err() != nil,
		errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	}
	return "network"
}
