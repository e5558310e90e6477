// Package influx is Suilong's access to InfluxDB: one client for writes and Flux queries that works against
// InfluxDB 1.8 with Flux enabled (bucket "db/retention-policy", no org, token "user:password" or empty) and
// against InfluxDB 2.x (bucket, org and token).
package influx

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	"github.com/prometheus/client_golang/prometheus"
)

// Config names the server and where readings live.
type Config struct {
	URL    string
	Token  string
	Org    string
	Bucket string
}

// Client wraps the official client with the bucket and org Suilong uses.
type Client struct {
	raw      influxdb2.Client
	Org      string
	Bucket   string
	URL      string
	token    string
	hc       *http.Client
	requests *prometheus.CounterVec
}

// New returns a client. It does not contact the server; use Ping for that.
func New(cfg Config) *Client {
	opts := influxdb2.DefaultOptions().SetHTTPRequestTimeout(30)
	c := &Client{
		Org:    cfg.Org,
		Bucket: cfg.Bucket,
		URL:    cfg.URL,
		token:  cfg.Token,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "suilong_influx_requests_total",
			Help: "Requests this process made to InfluxDB, by kind (query, write, ping, other): what the pages and ingest cost it."}, []string{"op"}),
	}
	c.hc = opts.HTTPClient()
	c.hc.Transport = counting{next: c.hc.Transport, requests: c.requests}
	c.raw = influxdb2.NewClientWithOptions(cfg.URL, cfg.Token, opts)
	return c
}

// Collector is the client's request counter, for a registry.
func (c *Client) Collector() prometheus.Collector { return c.requests }

// counting counts requests by the kind of the API path, a fixed set of labels.
type counting struct {
	next     http.RoundTripper
	requests *prometheus.CounterVec
}

func (t counting) RoundTrip(r *http.Request) (*http.Response, error) {
	op := "other"
	switch p := r.URL.Path; {
	case strings.HasSuffix(p, "/api/v2/query"), strings.HasSuffix(p, "/query"):
		op = "query"
	case strings.HasSuffix(p, "/api/v2/write"), strings.HasSuffix(p, "/write"):
		op = "write"
	case strings.HasSuffix(p, "/ping"), strings.HasSuffix(p, "/health"):
		op = "ping"
	}
	t.requests.WithLabelValues(op).Inc()
	return t.next.RoundTrip(r)
}

// Write returns a blocking writer for the configured bucket: a write returns once the server has the points.
func (c *Client) Write() api.WriteAPIBlocking { return c.raw.WriteAPIBlocking(c.Org, c.Bucket) }

// Query returns the Flux query API.
func (c *Client) Query() api.QueryAPI { return c.raw.QueryAPI(c.Org) }

// Raw exposes the underlying client for what this package does not wrap.
func (c *Client) Raw() influxdb2.Client { return c.raw }

// Ping reports whether the server answers.
func (c *Client) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	ok, err := c.raw.Ping(ctx)
	if err != nil {
		return fmt.Errorf("influxdb at %s: %w", c.URL, err)
	}
	if !ok {
		return fmt.Errorf("influxdb at %s does not answer ping", c.URL)
	}
	return nil
}

// Close releases the client's connections.
func (c *Client) Close() { c.raw.Close() }

// FluxString quotes s as a Flux string literal. Every piece of user text that reaches a Flux query goes through
// it: Flux interpolates "${...}" inside strings, so that sequence is escaped along with quotes and backslashes.
func FluxString(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; ch {
		case '\\', '"':
			b.WriteByte('\\')
			b.WriteByte(ch)
		case '$':
			if i+1 < len(s) && s[i+1] == '{' {
				b.WriteString(`\$`)
			} else {
				b.WriteByte('$')
			}
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteByte(ch)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// FluxTime formats t as a Flux time literal.
func FluxTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
