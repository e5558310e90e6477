package influx

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// InfluxDB 1.8 runs Flux in a separate engine that pushes only range and tag filters down to storage: a
// windowed aggregate of a month of one truck's readings reads every point through the Flux interpreter and
// takes seconds, where the same InfluxQL statement, run by the storage engine itself, takes a few hundred
// milliseconds. The aggregates of the pages therefore go through InfluxQL on 1.x; on 2.x, which has no
// native InfluxQL without a DBRP mapping, through Flux.

// V1 reports whether the server is addressed as InfluxDB 1.x is (bucket "database/retention-policy", no org),
// where InfluxQL is native.
func (c *Client) V1() bool { return c.Org == "" && strings.Count(c.Bucket, "/") == 1 }

// QLRows are the rows of one InfluxQL statement, all series together in the order the server gave them. Times
// are Unix nanoseconds (epoch=ns); other numbers are json.Number; missing values nil.
type QLRows struct {
	Columns []string
	Values  [][]any
}

// Col returns the index of a column, or -1.
func (r QLRows) Col(name string) int {
	for i, c := range r.Columns {
		if c == name {
			return i
		}
	}
	return -1
}

// QL runs one InfluxQL statement on the bucket's database and retention policy. Caller values go in params and
// are bound by the server ($name in the statement), never written into the statement. V1 servers only.
func (c *Client) QL(ctx context.Context, statement string, params map[string]any) (QLRows, error) {
	db, rp, ok := strings.Cut(c.Bucket, "/")
	if !ok {
		return QLRows{}, fmt.Errorf("influxql: bucket %q is not database/retention-policy", c.Bucket)
	}
	p, err := json.Marshal(params)
	if err != nil {
		return QLRows{}, fmt.Errorf("influxql: params: %w", err)
	}
	form := url.Values{"db": {db}, "rp": {rp}, "q": {statement}, "params": {string(p)}, "epoch": {"ns"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.URL, "/")+"/query", strings.NewReader(form.Encode()))
	if err != nil {
		return QLRows{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user, pass, ok := strings.Cut(c.token, ":"); ok {
		req.SetBasicAuth(user, pass)
	} else if c.token != "" {
		req.Header.Set("Authorization", "Token "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return QLRows{}, fmt.Errorf("influxql: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return QLRows{}, fmt.Errorf("influxql: %w", err)
	}
	var out struct {
		Error   string `json:"error"`
		Results []struct {
			Error  string `json:"error"`
			Series []struct {
				Columns []string `json:"columns"`
				Values  [][]any  `json:"values"`
			} `json:"series"`
		} `json:"results"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return QLRows{}, fmt.Errorf("influxql: %s: %.200s", resp.Status, body)
	}
	if out.Error != "" {
		return QLRows{}, fmt.Errorf("influxql: %s: %s", resp.Status, out.Error)
	}
	if resp.StatusCode != http.StatusOK {
		return QLRows{}, fmt.Errorf("influxql: %s", resp.Status)
	}
	var rows QLRows
	for _, r := range out.Results {
		if r.Error != "" {
			return QLRows{}, fmt.Errorf("influxql: %s", r.Error)
		}
		for _, s := range r.Series {
			if rows.Columns == nil {
				rows.Columns = s.Columns
			}
			rows.Values = append(rows.Values, s.Values...)
		}
	}
	return rows, nil
}
