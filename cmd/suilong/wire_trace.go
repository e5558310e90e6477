package main

// Owned by the trace area: register the trace part here (see app.go's part) and fill TraceConfig.

// TraceConfig is traceability's configuration (flags prefixed "trace-", variables SUILONG_TRACE_*).
type TraceConfig struct{}
