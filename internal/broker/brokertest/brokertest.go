// Package brokertest starts an embedded broker on a free port for a test.
package brokertest

import (
	"testing"

	"github.com/suilong/suilong/internal/broker"
)

// New starts an allow-all embedded broker on a free loopback port, stopped at cleanup, and returns its URL
// ("tcp://127.0.0.1:NNNN").
func New(tb testing.TB, hooks ...broker.Hook) string {
	tb.Helper()
	b := Start(tb, broker.Options{Hooks: hooks})
	return b.URL()
}

// Start starts a broker with the given options on free ports (Listen, and TLSListen when TLS is set, are
// overridden), stopped at cleanup.
func Start(tb testing.TB, opts broker.Options) *broker.Broker {
	tb.Helper()
	opts.Listen = "127.0.0.1:0"
	if opts.TLS != nil {
		opts.TLSListen = "127.0.0.1:0"
	}
	b, err := broker.Start(opts)
	if err != nil {
		tb.Fatalf("brokertest: %v", err)
	}
	tb.Cleanup(func() { _ = b.Close() })
	return b
}
