package ingest

import (
	"context"
	"errors"
	"strconv"
)

// PointWriter writes line protocol to InfluxDB.
type PointWriter interface {
	// WriteLines returns once InfluxDB has the points. A failure is a *WriteError: errors.Is(err, ErrRejected)
	// when InfluxDB refused (some of) the data itself, errors.Is(err, ErrTooLarge) when the request was too large
	// for it; anything else means the data could not be stored now and must be kept and tried again.
	WriteLines(ctx context.Context, lines []byte) error
}

// ErrRejected marks data InfluxDB refuses (a field type conflict, an unparseable line): retrying the same
// points cannot help, so the pipeline narrows the batch down to the refused readings and dead-letters those.
var ErrRejected = errors.New("influxdb rejected the data")

// ErrTooLarge marks a write larger than InfluxDB accepts (413, its max-body-size): the batch is split.
var ErrTooLarge = errors.New("write too large for influxdb")

// WriteError is a failed write, classified for what the pipeline does next and labelled for operators.
type WriteError struct {
	// Status is one of WriteStatuses: the HTTP status of InfluxDB's answer ("401", "404", "413"; every 5xx is
	// "5xx"), or what kept the request from an answer ("timeout", "refused", "dns", "network").
	Status string
	Err    error
}

func (e *WriteError) Error() string {
	return "influxdb write failed (" + e.Status + "): " + e.Err.Error()
}

func (e *WriteError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrRejected) and errors.Is(err, ErrTooLarge) follow the status.
func (e *WriteError) Is(target error) bool {
	switch target {
	case ErrRejected:
		return e.Status == "400" || e.Status == "422"
	case ErrTooLarge:
		return e.Status == "413"
	}
	return false
}

// WriteStatuses are the values of the status label of suilong_ingest_influx_write_failures_total: a fixed set,
// so that nothing a server or a client sends can add series.
var WriteStatuses = []string{"400", "401", "403", "404", "408", "413", "422", "429", "4xx", "5xx",
	"timeout", "refused", "dns", "tls", "network"}

// HTTPStatus is the status label of an HTTP answer.
func HTTPStatus(code int) string {
	switch {
	case code >= 500:
		return "5xx"
	case code == 400 || code == 401 || code == 403 || code == 404 || code == 408 || code == 413 || code == 422 || code == 429:
		return strconv.Itoa(code)
	case code >= 400:
		return "4xx"
	}
	return "network"
}

func writeStatus(err error) string {
	var we *WriteError
	if errors.As(err, &we) {
		return we.Status
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return "network"
}
