package ingest

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/coldchain"
	"github.com/suilong/suilong/internal/pg"
)

// FleetFilter narrows the fleet. Zero fields do not filter.
type FleetFilter struct {
	City    string
	Kind    AssetKind
	AssetID string
}

// AssetStatus is an asset as the console shows it now.
type AssetStatus struct {
	Asset
	// Band is the band in force: that of what it carries, else its own, else its product profile's.
	Band    Band           `json:"band"`
	Sensors []SensorStatus `json:"sensors"`
	Cargo   []Load         `json:"cargo"`
	// Open and Acknowledged count its alarms in those states.
	Open         int `json:"open_alarms"`
	Acknowledged int `json:"acknowledged_alarms"`
}

// SensorStatus is a sensor with its latest reading and its gateway's state.
type SensorStatus struct {
	Sensor
	Latest          *LatestReading `json:"latest,omitempty"`
	GatewayName     string         `json:"gateway_name"`
	GatewayStatus   string         `json:"gateway_status"`
	GatewayLastSeen *time.Time     `json:"gateway_last_seen_at,omitempty"`
	// OutOfBand is the latest temperature outside the asset's band.
	OutOfBand bool `json:"out_of_band"`
}

// Attention reports whether the asset needs a look: an open alarm, a temperature out of band, a gateway
// offline.
func (a AssetStatus) Attention() bool {
	if a.Open > 0 {
		return true
	}
	for _, s := range a.Sensors {
		if s.OutOfBand || s.GatewayStatus == "offline" {
			return true
		}
	}
	return false
}

// Fleet is the assets p sees, with their sensors' latest readings, gateways, cargo and alarm counts: a few
// queries for the whole fleet, whatever its size. Errors: Forbidden.
func (c *Console) Fleet(ctx context.Context, p auth.Principal, f FleetFilter) ([]AssetStatus, error) {
	sc, err := ScopeOf(p)
	if err != nil {
		return nil, err
	}
	args := []any{}
	where := []string{sc.where("a", &args)}
	if f.City != "" {
		args = append(args, f.City)
		where = append(where, fmt.Sprintf("a.city = $%d", len(args)))
	}
	if f.Kind != "" {
		args = append(args, f.Kind)
		where = append(where, fmt.Sprintf("a.kind = $%d", len(args)))
	}
	if f.AssetID != "" {
		args = append(args, f.AssetID)
		where = append(where, fmt.Sprintf("a.id = $%d", len(args)))
	}
	w := strings.Join(where, " AND ")
	rows, err := c.Store.db.Query(ctx, `SELECT a.id, a.kind, a.name, a.city, a.org_id, a.band_min_c, a.band_max_c,
		coalesce(a.product, ''), a.created_at FROM assets a WHERE `+w+` ORDER BY a.id`, args...)
	if err != nil {
		return nil, pg.Err(err, "fleet")
	}
	assets, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Asset, error) { return scanAsset(r) })
	if err != nil {
		return nil, pg.Err(err, "fleet")
	}
	out := make([]AssetStatus, len(assets))
	index := make(map[string]int, len(assets))
	ids := make([]string, len(assets))
	for i, a := range assets {
		out[i] = AssetStatus{Asset: a, Band: a.Band, Sensors: []SensorStatus{}, Cargo: []Load{}}
		index[a.ID] = i
		ids[i] = a.ID
	}
	if len(out) == 0 {
		return out, nil
	}
	// Sensors with their latest readings and gateways, in one query.
	rows, err = c.Store.db.Query(ctx, `SELECT s.id, s.gateway_id, s.asset_id, s.name, s.created_at,
		g.name, g.status, g.last_seen_at,
		l.ts, l.temp_c, l.humidity_pct, l.door_open, l.battery_pct, l.lat, l.lon
		FROM sensors s JOIN assets a ON a.id = s.asset_id JOIN gateways g ON g.id = s.gateway_id
		LEFT JOIN sensor_latest l ON l.sensor_id = s.id
		WHERE `+w+` ORDER BY s.asset_id, s.id`, args...)
	if err != nil {
		return nil, pg.Err(err, "fleet sensors")
	}
	for rows.Next() {
		var s SensorStatus
		var ts *time.Time
		var temp *float64
		var l LatestReading
		if err := rows.Scan(&s.ID, &s.GatewayID, &s.AssetID, &s.Name, &s.CreatedAt, &s.GatewayName, &s.GatewayStatus, &s.GatewayLastSeen,
			&ts, &temp, &l.HumidityPct, &l.DoorOpen, &l.BatteryPct, &l.Lat, &l.Lon); err != nil {
			rows.Close()
			return nil, pg.Err(err, "fleet sensors")
		}
		if ts != nil && temp != nil {
			l.SensorID, l.TS, l.TempC = s.ID, *ts, *temp
			s.Latest = &l
		}
		if i, ok := index[s.AssetID]; ok {
			out[i].Sensors = append(out[i].Sensors, s)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, pg.Err(err, "fleet sensors")
	}
	// Alarm counts, in one query.
	rows, err = c.Store.db.Query(ctx, `SELECT x.asset_id, x.status, count(*) FROM alarms x JOIN assets a ON a.id = x.asset_id
		WHERE x.status IN ('open', 'acknowledged') AND `+w+` GROUP BY 1, 2`, args...)
	if err != nil {
		return nil, pg.Err(err, "fleet alarms")
	}
	for rows.Next() {
		var id, st string
		var n int
		if err := rows.Scan(&id, &st, &n); err != nil {
			rows.Close()
			return nil, pg.Err(err, "fleet alarms")
		}
		if i, ok := index[id]; ok {
			if st == StatusOpen {
				out[i].Open = n
			} else {
				out[i].Acknowledged = n
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, pg.Err(err, "fleet alarms")
	}
	if c.Cargo != nil {
		loads, err := c.Cargo.OnBoard(ctx, ids)
		if err != nil {
			return nil, err
		}
		for id, ls := range loads {
			if i, ok := index[id]; ok {
				out[i].Cargo = ls
			}
		}
	}
	productBands := map[string]Band{}
	for i := range out {
		a := &out[i]
		a.Band = c.band(ctx, a, productBands)
		for k := range a.Sensors {
			if s := &a.Sensors[k]; s.Latest != nil {
				s.OutOfBand = !a.Band.Contains(s.Latest.TempC)
			}
		}
	}
	return out, nil
}

// band is the band in force in an asset now, as the rules judge it: what it carries, else its own, else its
// product profile's.
func (c *Console) band(ctx context.Context, a *AssetStatus, products map[string]Band) Band {
	var bands []Band
	for _, l := range a.Cargo {
		if !l.Band.IsZero() {
			bands = append(bands, l.Band)
		}
	}
	if len(bands) > 0 {
		if b, ok := coldchain.Intersect(bands...); ok {
			return b
		}
	}
	if !a.Asset.Band.IsZero() || a.Product == "" || c.Products == nil {
		return a.Asset.Band
	}
	b, seen := products[a.Product]
	if !seen {
		if pb, ok, err := c.Products.ProductBand(ctx, a.Product); err == nil && ok {
			b = pb
		}
		products[a.Product] = b
	}
	return b
}

// Cities lists the cities of the assets p sees, for the fleet's filter. Errors: Forbidden.
func (c *Console) Cities(ctx context.Context, p auth.Principal) ([]string, error) {
	sc, err := ScopeOf(p)
	if err != nil {
		return nil, err
	}
	args := []any{}
	rows, err := c.Store.db.Query(ctx, `SELECT DISTINCT a.city FROM assets a WHERE a.city <> '' AND `+sc.where("a", &args)+` ORDER BY 1`, args...)
	if err != nil {
		return nil, pg.Err(err, "cities")
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return out, pg.Err(err, "cities")
}

// Asset returns one asset as the console shows it. Errors: Forbidden, NotFound (also for assets p may not see).
func (c *Console) Asset(ctx context.Context, p auth.Principal, id string) (AssetStatus, error) {
	fleet, err := c.Fleet(ctx, p, FleetFilter{AssetID: id})
	if err != nil {
		return AssetStatus{}, err
	}
	if len(fleet) == 0 {
		return AssetStatus{}, notFound(id)
	}
	return fleet[0], nil
}
