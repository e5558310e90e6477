package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/auth/authtest"
)

// An order's shipment, across matching and traceability through `suilong serve`: the base registers the lot
// for its order (another base cannot), the buyer sees the lot and records its receipt, and the order is then
// delivered and lists the lot with its public page.
func TestOrderShippedByALot(t *testing.T) {
	ts := startServe(t)
	db := ts.DB(t)
	_, coord := authtest.Org(t, db, "龙岩市商务局", auth.RoleCoordinator)
	_, base := authtest.Org(t, db, "上杭县蛟洋蔬菜专业合作社", auth.RoleBase)
	_, otherBase := authtest.Org(t, db, "长汀县河田合作社", auth.RoleBase)
	_, buyer := authtest.Org(t, db, "广州江南果菜批发市场", auth.RoleBuyer)
	must := ts.mustFor(t)
	harvest := time.Now().Add(-8 * time.Hour).Truncate(time.Minute)
	must("POST", "/api/v1/products", coord, map[string]any{"name": "choy-sum", "name_zh": "菜心", "shelf_life_hours": 72,
		"temp_min_c": 0, "temp_max_c": 4}, 201, nil)
	must("POST", "/api/v1/lanes", coord, map[string]any{"origin": "shanghang", "destination": "jiangnan-market",
		"cost_per_kg": 0.4, "transit_hours": 7}, 201, nil)
	must("POST", "/api/v1/offers", base, map[string]any{"product": "choy-sum", "grade": 1, "quantity_kg": 2000,
		"min_price_per_kg": 3.2, "origin": "shanghang", "harvested_at": harvest}, 201, nil)
	must("POST", "/api/v1/demands", buyer, map[string]any{"product": "choy-sum", "min_grade": 1, "quantity_kg": 2000,
		"max_price_per_kg": 5, "destination": "jiangnan-market", "deliver_by": harvest.Add(20 * time.Hour)}, 201, nil)
	var run struct{ Allocations []struct{ ID int64 } }
	must("POST", "/api/v1/matching/runs", coord, nil, 201, &run)
	if len(run.Allocations) != 1 {
		t.Fatalf("run: %+v", run)
	}
	accept := fmt.Sprintf("/api/v1/allocations/%d/accept", run.Allocations[0].ID)
	must("POST", accept, base, nil, 200, nil)
	var dec struct{ Order struct{ ID int64 } }
	must("POST", accept, buyer, nil, 200, &dec)
	orderID := dec.Order.ID

	lotBody := func() map[string]any {
		return map[string]any{"product": "choy-sum", "grade": 1, "quantity_kg": 2000, "base_name": "蛟洋镇高山蔬菜基地",
			"county": "上杭县", "harvested_at": harvest, "order_id": orderID}
	}
	must("POST", "/api/v1/lots", otherBase, lotBody(), 422, nil)
	var lot struct {
		ID   int64
		Code string
	}
	must("POST", "/api/v1/lots", base, lotBody(), 201, &lot)
	must("GET", fmt.Sprintf("/api/v1/lots/%d", lot.ID), buyer, nil, 200, nil)
	must("POST", fmt.Sprintf("/api/v1/lots/%d/events", lot.ID), buyer, map[string]any{"kind": "receive",
		"at": harvest.Add(7 * time.Hour), "location": "广州江南果菜批发市场"}, 201, nil)

	var order struct {
		Status      string
		DeliveredAt *time.Time `json:"delivered_at"`
		Lots        []struct{ Code, URL string }
	}
	must("GET", fmt.Sprintf("/api/v1/orders/%d", orderID), buyer, nil, 200, &order)
	if order.Status != "delivered" || order.DeliveredAt == nil || !order.DeliveredAt.Equal(harvest.Add(7*time.Hour)) ||
		len(order.Lots) != 1 || order.Lots[0].Code != lot.Code || order.Lots[0].URL != ts.Cfg.PublicBaseURL+"/t/"+lot.Code {
		t.Fatalf("order after the receipt: %+v", order)
	}
}
