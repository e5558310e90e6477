package ingest

import (
	"time"

	"github.com/suilong/suilong/internal/coldchain"
	"github.com/suilong/suilong/internal/errs"
)

// AssetKind is what a sensor is mounted in.
type AssetKind string

// Asset kinds (the asset_kind tag in InfluxDB).
const (
	KindTruck     AssetKind = "truck"
	KindColdStore AssetKind = "cold_store"
)

// Band is the cold chain's one temperature band (coldchain.Band), named here for ingest's own types.
type Band = coldchain.Band

// Gateway is an IoT gateway on a truck or in a cold store; it connects to the broker as MQTT user ID.
type Gateway struct {
	ID                string     `json:"id"`
	Name              string     `json:"name"`
	OrgID             *int64     `json:"org_id,omitempty"`
	SamplingIntervalS int        `json:"sampling_interval_s"`
	Status            string     `json:"status"` // online, offline or unknown (from its retained status topic)
	StatusAt          *time.Time `json:"status_at,omitempty"`
	LastSeenAt        *time.Time `json:"last_seen_at,omitempty"`
	CreatedAt         time.Time  `json:"created_at"`
}

// Asset is a reefer truck or a cold store.
type Asset struct {
	ID   string    `json:"id"`
	Kind AssetKind `json:"kind"`
	Name string    `json:"name"`
	// City is where a cold store stands or a truck is based (e.g. 龙岩 Longyan, 广州 Guangzhou).
	City  string `json:"city"`
	OrgID *int64 `json:"org_id,omitempty"`
	// Band is the asset's own setting, used when nothing it carries has a product profile.
	Band Band `json:"band"`
	// Product names a product profile (matching's products) whose band applies by default.
	Product   string    `json:"product,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Sensor is a probe mounted in an asset and attached to a gateway.
type Sensor struct {
	ID        string    `json:"id"`
	GatewayID string    `json:"gateway_id"`
	AssetID   string    `json:"asset_id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// ValidID checks an operator-chosen id (gateway, asset, sensor): it becomes an MQTT topic level and an InfluxDB
// tag value.
func ValidID(field, id string, fe *errs.FieldErrors) {
	if msg := checkID([]byte(id)); msg != "" {
		fe.Add(field, "%s", msg)
	}
}

// Validate checks an asset before it is stored.
func (a *Asset) Validate() error {
	var fe errs.FieldErrors
	ValidID("id", a.ID, &fe)
	if a.Kind != KindTruck && a.Kind != KindColdStore {
		fe.Add("kind", "must be truck or cold_store")
	}
	if len(a.Name) > 200 {
		fe.Add("name", "must be at most 200 bytes")
	}
	checkBound := func(field string, v *float64) {
		if v != nil && !(*v >= MinTempC && *v <= MaxTempC) {
			fe.Add(field, "must be between -60 and 60")
		}
	}
	checkBound("band.min_c", a.Band.MinC)
	checkBound("band.max_c", a.Band.MaxC)
	if a.Band.MinC != nil && a.Band.MaxC != nil && *a.Band.MinC > *a.Band.MaxC {
		fe.Add("band.max_c", "must not be below band.min_c")
	}
	return fe.Err()
}

// Validate checks a sensor before it is stored.
func (s *Sensor) Validate() error {
	var fe errs.FieldErrors
	ValidID("id", s.ID, &fe)
	ValidID("gateway_id", s.GatewayID, &fe)
	ValidID("asset_id", s.AssetID, &fe)
	if len(s.Name) > 200 {
		fe.Add("name", "must be at most 200 bytes")
	}
	return fe.Err()
}

// Validate checks a gateway before it is stored.
func (g *Gateway) Validate() error {
	var fe errs.FieldErrors
	ValidID("id", g.ID, &fe)
	if len(g.Name) > 200 {
		fe.Add("name", "must be at most 200 bytes")
	}
	if g.SamplingIntervalS < 1 || g.SamplingIntervalS > 3600 {
		fe.Add("sampling_interval_s", "must be between 1 and 3600")
	}
	return fe.Err()
}
