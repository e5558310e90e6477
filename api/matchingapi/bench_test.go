package matchingapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/suilong/suilong/api"
	"github.com/suilong/suilong/api/matchingapi"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/auth/authtest"
	"github.com/suilong/suilong/internal/pg/pgtest"
	"github.com/suilong/suilong/matching"
)

// POST /api/v1/demands through the whole HTTP stack (key, JSON, one INSERT, the answer), against the same
// one-row INSERT sent straight to PostgreSQL (BenchmarkPostDemand/insert), each from 8 goroutines: ns/op of
// insert ÷ api is the share of the database's write rate the API keeps (the client's cost included, as wrk's
// is in make bench-api, which measures the same with wrk and pgbench).
func BenchmarkPostDemand(b *testing.B) {
	db := pgtest.New(b)
	ctx := context.Background()
	org, key := authtest.Org(b, db, "广州江南果菜批发市场", auth.RoleBuyer)
	if _, err := db.Exec(ctx, `INSERT INTO products (name, shelf_life_hours) VALUES ('choy-sum', 72)`); err != nil {
		b.Fatal(err)
	}
	keys := auth.NewStore(db)
	keys.CacheKeys(5 * time.Second) // as suilong serve does by default
	s := api.New(api.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Auth: keys,
		Modules: []api.Module{matchingapi.New(matchingapi.Deps{Store: matching.NewStore(db)})}})
	srv := httptest.NewServer(s.Engine)
	defer srv.Close()
	body := demandBody("choy-sum", "")
	b.Run("insert", func(b *testing.B) {
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := db.Exec(ctx, `INSERT INTO demands (org_id, product, min_grade, quantity_kg, max_price_fen, destination,
					deliver_by) VALUES ($1, 'choy-sum', 2, 500, 500, 'jiangnan-market', '2026-12-21T04:00:00Z')`, org.ID); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("api", func(b *testing.B) {
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() && post(b, srv.URL, key, body) {
			}
		})
	})
}

// keepAlive reuses connections across the benchmark's goroutines (the default client keeps only 2 per host).
var keepAlive = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

func post(b *testing.B, url, key, body string) bool {
	req, _ := http.NewRequest("POST", url+"/api/v1/demands", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := keepAlive.Do(req)
	if err != nil {
		b.Error(err)
		return false
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 201 {
		b.Errorf("status %d", res.StatusCode)
		return false
	}
	return true
}
