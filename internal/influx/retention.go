package influx

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// EnsureRetention makes InfluxDB 1.8 keep the bucket's readings at least min: the bucket "db/rp" names a
// database and retention policy; a policy that is missing is created, one that keeps readings for less than
// min is lengthened, and one that keeps them longer (or forever) is left alone. It returns what it did ("" for
// nothing). InfluxDB 2.x (an organisation is configured) keeps retention on the bucket, which the platform
// does not change: it returns an error saying so when asked.
func (c *Client) EnsureRetention(ctx context.Context, min time.Duration) (string, error) {
	if c.Org != "" {
		return "", fmt.Errorf("InfluxDB 2.x: set the retention of bucket %q to at least %s yourself (influx bucket update --retention %dh)",
			c.Bucket, min, int(min.Hours()+0.5))
	}
	db, rp, ok := strings.Cut(c.Bucket, "/")
	if !ok || rp == "" {
		rp = "autogen"
	}
	hours := int64(min.Hours() + 0.999)
	res, err := c.influxQL(ctx, "SHOW RETENTION POLICIES ON "+quoteIdent(db))
	if err != nil {
		return "", err
	}
	var have *time.Duration
	for _, s := range res.Series {
		col := map[string]int{}
		for i, n := range s.Columns {
			col[n] = i
		}
		for _, v := range s.Values {
			if name, _ := v[col["name"]].(string); name == rp {
				d, err := time.ParseDuration(fmt.Sprint(v[col["duration"]]))
				if err != nil {
					return "", fmt.Errorf("retention policy %s.%s: duration %v: %w", db, rp, v[col["duration"]], err)
				}
				have = &d
			}
		}
	}
	switch {
	case have == nil:
		q := fmt.Sprintf("CREATE RETENTION POLICY %s ON %s DURATION %dh REPLICATION 1", quoteIdent(rp), quoteIdent(db), hours)
		if _, err := c.influxQL(ctx, q); err != nil {
			return "", err
		}
		return fmt.Sprintf("created retention policy %s.%s of %dh", db, rp, hours), nil
	case *have == 0 || *have >= min: // 0: forever
		return "", nil
	}
	q := fmt.Sprintf("ALTER RETENTION POLICY %s ON %s DURATION %dh", quoteIdent(rp), quoteIdent(db), hours)
	if _, err := c.influxQL(ctx, q); err != nil {
		return "", err
	}
	return fmt.Sprintf("retention policy %s.%s lengthened from %s to %dh", db, rp, *have, hours), nil
}

type qlResult struct {
	Series []struct {
		Columns []string `json:"columns"`
		Values  [][]any  `json:"values"`
	} `json:"series"`
	Error string `json:"error"`
}

// influxQL runs one InfluxQL statement on a 1.8 server (administration only: readings are read with Flux).
func (c *Client) influxQL(ctx context.Context, q string) (qlResult, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", strings.TrimRight(c.URL, "/")+"/query", strings.NewReader(url.Values{"q": {q}}.Encode()))
	if err != nil {
		return qlResult{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user, pass, ok := strings.Cut(c.token, ":"); ok {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return qlResult{}, fmt.Errorf("influxdb at %s: %w", c.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var doc struct {
		Results []qlResult `json:"results"`
		Error   string     `json:"error"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || resp.StatusCode/100 != 2 || doc.Error != "" {
		return qlResult{}, fmt.Errorf("influxdb %s: %s %s", q, resp.Status, strconv.Quote(string(body)))
	}
	if len(doc.Results) == 0 {
		return qlResult{}, nil
	}
	if doc.Results[0].Error != "" {
		return qlResult{}, fmt.Errorf("influxdb %s: %s", q, doc.Results[0].Error)
	}
	return doc.Results[0], nil
}

func quoteIdent(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
