package ingest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
)

// Store is the ingest registry and its records in PostgreSQL: gateways, assets, sensors, alarms, the dead letter
// and the rules' saved state.
type Store struct {
	db  pg.DB
	Now func() time.Time
}

// NewStore returns a store on db.
func NewStore(db pg.DB) *Store { return &Store{db: db, Now: time.Now} }

// DB returns the store's database.
func (s *Store) DB() pg.DB { return s.db }

// Page is a page request.
type Page struct {
	Limit  int
	Offset int
}

func (p Page) limit() int {
	if p.Limit <= 0 || p.Limit > 500 {
		return 50
	}
	return p.Limit
}

// newPassword returns an MQTT password of 192 random bits.
func newPassword() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashPassword is how gateway passwords are stored.
func HashPassword(pw string) []byte {
	h := sha256.Sum256([]byte(pw))
	return h[:]
}

// PasswordMatches compares a password with a stored hash in constant time.
func PasswordMatches(hash []byte, pw string) bool {
	h := HashPassword(pw)
	return len(hash) == len(h) && subtle.ConstantTimeCompare(hash, h) == 1
}

const gatewayCols = `id, name, org_id, sampling_interval_s, status, status_at, last_seen_at, created_at`

func scanGateway(row pgx.Row) (Gateway, error) {
	var g Gateway
	err := row.Scan(&g.ID, &g.Name, &g.OrgID, &g.SamplingIntervalS, &g.Status, &g.StatusAt, &g.LastSeenAt, &g.CreatedAt)
	return g, err
}

// CreateGateway registers a gateway and returns it with its MQTT password, which is not stored in clear and
// cannot be shown again. Errors: Unprocessable (bad fields), Conflict (id taken).
func (s *Store) CreateGateway(ctx context.Context, g Gateway, simulated bool) (Gateway, string, error) {
	if g.SamplingIntervalS == 0 {
		g.SamplingIntervalS = 30
	}
	if err := g.Validate(); err != nil {
		return Gateway{}, "", err
	}
	pw := newPassword()
	const q = `INSERT INTO gateways (id, name, org_id, password_hash, sampling_interval_s, simulated)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING ` + gatewayCols
	out, err := scanGateway(s.db.QueryRow(ctx, q, g.ID, g.Name, g.OrgID, HashPassword(pw), g.SamplingIntervalS, simulated))
	if err != nil {
		return Gateway{}, "", pg.Err(err, "gateway "+g.ID)
	}
	return out, pw, nil
}

// Gateway returns one gateway. Errors: NotFound.
func (s *Store) Gateway(ctx context.Context, id string) (Gateway, error) {
	g, err := scanGateway(s.db.QueryRow(ctx, `SELECT `+gatewayCols+` FROM gateways WHERE id = $1`, id))
	return g, pg.Err(err, "gateway "+id)
}

// Gateways lists gateways by id.
func (s *Store) Gateways(ctx context.Context, p Page) ([]Gateway, int, error) {
	rows, err := s.db.Query(ctx, `SELECT `+gatewayCols+`, count(*) OVER () FROM gateways ORDER BY id LIMIT $1 OFFSET $2`,
		p.limit(), p.Offset)
	if err != nil {
		return nil, 0, pg.Err(err, "gateways")
	}
	defer rows.Close()
	var out []Gateway
	total := 0
	for rows.Next() {
		var g Gateway
		if err := rows.Scan(&g.ID, &g.Name, &g.OrgID, &g.SamplingIntervalS, &g.Status, &g.StatusAt, &g.LastSeenAt, &g.CreatedAt, &total); err != nil {
			return nil, 0, pg.Err(err, "gateways")
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, pg.Err(err, "gateways")
	}
	if len(out) == 0 && p.Offset > 0 {
		_ = s.db.QueryRow(ctx, `SELECT count(*) FROM gateways`).Scan(&total)
	}
	return out, total, nil
}

// GatewayUpdate changes a gateway; nil fields stay.
type GatewayUpdate struct {
	Name              *string `json:"name"`
	SamplingIntervalS *int    `json:"sampling_interval_s"`
}

// UpdateGateway changes a gateway. Errors: NotFound, Unprocessable.
func (s *Store) UpdateGateway(ctx context.Context, id string, u GatewayUpdate) (Gateway, error) {
	var out Gateway
	err := pg.WithTx(ctx, s.db, func(tx pgx.Tx) error {
		g, err := scanGateway(tx.QueryRow(ctx, `SELECT `+gatewayCols+` FROM gateways WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return pg.Err(err, "gateway "+id)
		}
		if u.Name != nil {
			g.Name = *u.Name
		}
		if u.SamplingIntervalS != nil {
			g.SamplingIntervalS = *u.SamplingIntervalS
		}
		if err := g.Validate(); err != nil {
			return err
		}
		out, err = scanGateway(tx.QueryRow(ctx, `UPDATE gateways SET name = $2, sampling_interval_s = $3, updated_at = now()
			WHERE id = $1 RETURNING `+gatewayCols, id, g.Name, g.SamplingIntervalS))
		return pg.Err(err, "gateway "+id)
	})
	return out, err
}

// ResetGatewayPassword gives a gateway a new MQTT password and returns it (shown once). Errors: NotFound.
func (s *Store) ResetGatewayPassword(ctx context.Context, id string) (string, error) {
	pw := newPassword()
	tag, err := s.db.Exec(ctx, `UPDATE gateways SET password_hash = $2, updated_at = now() WHERE id = $1`, id, HashPassword(pw))
	if err != nil {
		return "", pg.Err(err, "gateway "+id)
	}
	if tag.RowsAffected() == 0 {
		return "", errs.E(errs.NotFound, "gateway %s not found", id)
	}
	return pw, nil
}

// DeleteGateway removes a gateway. Errors: NotFound, Conflict while sensors are attached to it.
func (s *Store) DeleteGateway(ctx context.Context, id string) error {
	tag, err := s.db.Exec(ctx, `DELETE FROM gateways WHERE id = $1`, id)
	if err != nil {
		if errs.CodeOf(pg.Err(err, "")) == errs.Unprocessable {
			return errs.E(errs.Conflict, "gateway %s still has sensors; move or delete them first", id)
		}
		return pg.Err(err, "gateway "+id)
	}
	if tag.RowsAffected() == 0 {
		return errs.E(errs.NotFound, "gateway %s not found", id)
	}
	return nil
}

// GatewayCredential is what the broker's authentication needs of a gateway.
type GatewayCredential struct {
	ID           string
	PasswordHash []byte
}

// GatewayCredentials returns every gateway's password hash (the broker's credential cache).
func (s *Store) GatewayCredentials(ctx context.Context) ([]GatewayCredential, error) {
	rows, err := s.db.Query(ctx, `SELECT id, password_hash FROM gateways`)
	if err != nil {
		return nil, pg.Err(err, "gateways")
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (GatewayCredential, error) {
		var c GatewayCredential
		err := r.Scan(&c.ID, &c.PasswordHash)
		return c, err
	})
}

// SimulatedGateways lists the gateways the simulator may drive.
func (s *Store) SimulatedGateways(ctx context.Context) ([]Gateway, error) {
	rows, err := s.db.Query(ctx, `SELECT `+gatewayCols+` FROM gateways WHERE simulated ORDER BY id`)
	if err != nil {
		return nil, pg.Err(err, "gateways")
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Gateway, error) { return scanGateway(r) })
}

// SetGatewayStatus records a gateway's retained online/offline status, ignoring statuses older than the one
// stored (a retained status replayed after a newer one).
func (s *Store) SetGatewayStatus(ctx context.Context, id, state string, at time.Time) error {
	if state != "online" && state != "offline" {
		return errs.E(errs.Unprocessable, "status must be online or offline")
	}
	_, err := s.db.Exec(ctx, `UPDATE gateways SET status = $2, status_at = $3
		WHERE id = $1 AND (status_at IS NULL OR status_at <= $3)`, id, state, at)
	return pg.Err(err, "gateway "+id)
}

// TouchGateways records when gateways were last heard from.
func (s *Store) TouchGateways(ctx context.Context, seen map[string]time.Time) error {
	if len(seen) == 0 {
		return nil
	}
	ids := make([]string, 0, len(seen))
	ats := make([]time.Time, 0, len(seen))
	for id, at := range seen {
		ids = append(ids, id)
		ats = append(ats, at)
	}
	_, err := s.db.Exec(ctx, `UPDATE gateways g SET last_seen_at = greatest(g.last_seen_at, v.at)
		FROM unnest($1::text[], $2::timestamptz[]) AS v(id, at) WHERE g.id = v.id`, ids, ats)
	return pg.Err(err, "gateways")
}

const assetCols = `id, kind, name, city, org_id, band_min_c, band_max_c, coalesce(product, ''), created_at`

func scanAsset(row pgx.Row) (Asset, error) {
	var a Asset
	err := row.Scan(&a.ID, &a.Kind, &a.Name, &a.City, &a.OrgID, &a.Band.MinC, &a.Band.MaxC, &a.Product, &a.CreatedAt)
	return a, err
}

func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// CreateAsset registers a truck or a cold store. Errors: Unprocessable, Conflict.
func (s *Store) CreateAsset(ctx context.Context, a Asset) (Asset, error) {
	if err := a.Validate(); err != nil {
		return Asset{}, err
	}
	out, err := scanAsset(s.db.QueryRow(ctx, `INSERT INTO assets (id, kind, name, city, org_id, band_min_c, band_max_c, product)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING `+assetCols,
		a.ID, a.Kind, a.Name, a.City, a.OrgID, a.Band.MinC, a.Band.MaxC, nullIfEmpty(a.Product)))
	return out, pg.Err(err, "asset "+a.ID)
}

// Asset returns one asset. Errors: NotFound.
func (s *Store) Asset(ctx context.Context, id string) (Asset, error) {
	a, err := scanAsset(s.db.QueryRow(ctx, `SELECT `+assetCols+` FROM assets WHERE id = $1`, id))
	return a, pg.Err(err, "asset "+id)
}

// AssetFilter narrows Assets.
type AssetFilter struct {
	Kind AssetKind
	City string
	// Among, when OnlyAmong is set, keeps only these assets (none when it is empty): what a base or buyer may see.
	Among     []string
	OnlyAmong bool
}

// Assets lists assets by id.
func (s *Store) Assets(ctx context.Context, f AssetFilter, p Page) ([]Asset, int, error) {
	where, args := []string{"true"}, []any{}
	if f.Kind != "" {
		args = append(args, f.Kind)
		where = append(where, fmt.Sprintf("kind = $%d", len(args)))
	}
	if f.City != "" {
		args = append(args, f.City)
		where = append(where, fmt.Sprintf("city = $%d", len(args)))
	}
	if f.OnlyAmong {
		args = append(args, append([]string{}, f.Among...)) // never nil: = ANY(NULL) would be NULL, not false
		where = append(where, fmt.Sprintf("id = ANY($%d::text[])", len(args)))
	}
	args = append(args, p.limit(), p.Offset)
	q := fmt.Sprintf(`SELECT %s, count(*) OVER () FROM assets WHERE %s ORDER BY id LIMIT $%d OFFSET $%d`,
		assetCols, strings.Join(where, " AND "), len(args)-1, len(args))
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return nil, 0, pg.Err(err, "assets")
	}
	defer rows.Close()
	var out []Asset
	total := 0
	for rows.Next() {
		var a Asset
		if err := rows.Scan(&a.ID, &a.Kind, &a.Name, &a.City, &a.OrgID, &a.Band.MinC, &a.Band.MaxC, &a.Product, &a.CreatedAt, &total); err != nil {
			return nil, 0, pg.Err(err, "assets")
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, pg.Err(err, "assets")
	}
	if len(out) == 0 && p.Offset > 0 {
		// Past the end the window function sees no rows; count separately.
		err = s.db.QueryRow(ctx, `SELECT count(*) FROM assets WHERE `+strings.Join(where, " AND "), args[:len(args)-2]...).Scan(&total)
	}
	return out, total, pg.Err(err, "assets")
}

// AssetUpdate changes an asset; nil fields stay. ClearBand removes the asset's own band.
type AssetUpdate struct {
	Name    *string `json:"name"`
	City    *string `json:"city"`
	Band    *Band   `json:"band"`
	Product *string `json:"product"`
}

// UpdateAsset changes an asset. Errors: NotFound, Unprocessable.
func (s *Store) UpdateAsset(ctx context.Context, id string, u AssetUpdate) (Asset, error) {
	var out Asset
	err := pg.WithTx(ctx, s.db, func(tx pgx.Tx) error {
		a, err := scanAsset(tx.QueryRow(ctx, `SELECT `+assetCols+` FROM assets WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return pg.Err(err, "asset "+id)
		}
		if u.Name != nil {
			a.Name = *u.Name
		}
		if u.City != nil {
			a.City = *u.City
		}
		if u.Band != nil {
			a.Band = *u.Band
		}
		if u.Product != nil {
			a.Product = *u.Product
		}
		if err := a.Validate(); err != nil {
			return err
		}
		out, err = scanAsset(tx.QueryRow(ctx, `UPDATE assets SET name = $2, city = $3, band_min_c = $4, band_max_c = $5,
			product = $6, updated_at = now() WHERE id = $1 RETURNING `+assetCols,
			id, a.Name, a.City, a.Band.MinC, a.Band.MaxC, nullIfEmpty(a.Product)))
		return pg.Err(err, "asset "+id)
	})
	return out, err
}

// DeleteAsset removes an asset. Errors: NotFound, Conflict while sensors are mounted in it.
func (s *Store) DeleteAsset(ctx context.Context, id string) error {
	tag, err := s.db.Exec(ctx, `DELETE FROM assets WHERE id = $1`, id)
	if err != nil {
		if errs.CodeOf(pg.Err(err, "")) == errs.Unprocessable {
			return errs.E(errs.Conflict, "asset %s still has sensors; move or delete them first", id)
		}
		return pg.Err(err, "asset "+id)
	}
	if tag.RowsAffected() == 0 {
		return errs.E(errs.NotFound, "asset %s not found", id)
	}
	return nil
}

// AssetStats counts the cold chain's equipment and its alarms, for KPIs.
type AssetStats struct {
	Trucks       int `json:"trucks"`
	ColdStores   int `json:"cold_stores"`
	Sensors      int `json:"sensors"`
	Gateways     int `json:"gateways"`
	OpenAlarms   int `json:"open_alarms"`   // raised, not yet acknowledged
	ActiveAlarms int `json:"active_alarms"` // open or acknowledged, not closed
}

// AssetStats returns the counts.
func (s *Store) AssetStats(ctx context.Context) (AssetStats, error) {
	var st AssetStats
	err := s.db.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM assets WHERE kind = 'truck'),
		(SELECT count(*) FROM assets WHERE kind = 'cold_store'),
		(SELECT count(*) FROM sensors),
		(SELECT count(*) FROM gateways),
		(SELECT count(*) FROM alarms WHERE status = 'open'),
		(SELECT count(*) FROM alarms WHERE status IN ('open', 'acknowledged'))`).
		Scan(&st.Trucks, &st.ColdStores, &st.Sensors, &st.Gateways, &st.OpenAlarms, &st.ActiveAlarms)
	return st, pg.Err(err, "asset stats")
}

const sensorCols = `id, gateway_id, asset_id, name, created_at`

func scanSensor(row pgx.Row) (Sensor, error) {
	var x Sensor
	err := row.Scan(&x.ID, &x.GatewayID, &x.AssetID, &x.Name, &x.CreatedAt)
	return x, err
}

// sensorRefErr turns a foreign-key failure into a field error naming the gateway or asset.
func sensorRefErr(err error, x Sensor) error {
	e := pg.Err(err, "sensor "+x.ID)
	if errs.CodeOf(e) == errs.Unprocessable {
		var fe errs.FieldErrors
		if strings.Contains(err.Error(), "gateway") {
			fe.Add("gateway_id", "no gateway %s is registered", x.GatewayID)
		} else {
			fe.Add("asset_id", "no asset %s is registered", x.AssetID)
		}
		return fe.Err()
	}
	return e
}

// CreateSensor registers a sensor in an asset, attached to a gateway. Errors: Unprocessable (bad fields, unknown
// gateway or asset), Conflict.
func (s *Store) CreateSensor(ctx context.Context, x Sensor) (Sensor, error) {
	if err := x.Validate(); err != nil {
		return Sensor{}, err
	}
	out, err := scanSensor(s.db.QueryRow(ctx, `INSERT INTO sensors (id, gateway_id, asset_id, name) VALUES ($1, $2, $3, $4)
		RETURNING `+sensorCols, x.ID, x.GatewayID, x.AssetID, x.Name))
	if err != nil {
		return Sensor{}, sensorRefErr(err, x)
	}
	return out, nil
}

// Sensor returns one sensor. Errors: NotFound.
func (s *Store) Sensor(ctx context.Context, id string) (Sensor, error) {
	x, err := scanSensor(s.db.QueryRow(ctx, `SELECT `+sensorCols+` FROM sensors WHERE id = $1`, id))
	return x, pg.Err(err, "sensor "+id)
}

// SensorFilter narrows Sensors.
type SensorFilter struct {
	AssetID   string
	GatewayID string
}

// Sensors lists sensors by id.
func (s *Store) Sensors(ctx context.Context, f SensorFilter, p Page) ([]Sensor, int, error) {
	where, args := []string{"true"}, []any{}
	if f.AssetID != "" {
		args = append(args, f.AssetID)
		where = append(where, fmt.Sprintf("asset_id = $%d", len(args)))
	}
	if f.GatewayID != "" {
		args = append(args, f.GatewayID)
		where = append(where, fmt.Sprintf("gateway_id = $%d", len(args)))
	}
	args = append(args, p.limit(), p.Offset)
	q := fmt.Sprintf(`SELECT %s, count(*) OVER () FROM sensors WHERE %s ORDER BY id LIMIT $%d OFFSET $%d`,
		sensorCols, strings.Join(where, " AND "), len(args)-1, len(args))
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return nil, 0, pg.Err(err, "sensors")
	}
	defer rows.Close()
	var out []Sensor
	total := 0
	for rows.Next() {
		var x Sensor
		if err := rows.Scan(&x.ID, &x.GatewayID, &x.AssetID, &x.Name, &x.CreatedAt, &total); err != nil {
			return nil, 0, pg.Err(err, "sensors")
		}
		out = append(out, x)
	}
	return out, total, pg.Err(rows.Err(), "sensors")
}

// SensorUpdate moves or renames a sensor; nil fields stay.
type SensorUpdate struct {
	GatewayID *string `json:"gateway_id"`
	AssetID   *string `json:"asset_id"`
	Name      *string `json:"name"`
}

// UpdateSensor changes a sensor. Errors: NotFound, Unprocessable.
func (s *Store) UpdateSensor(ctx context.Context, id string, u SensorUpdate) (Sensor, error) {
	var out Sensor
	err := pg.WithTx(ctx, s.db, func(tx pgx.Tx) error {
		x, err := scanSensor(tx.QueryRow(ctx, `SELECT `+sensorCols+` FROM sensors WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return pg.Err(err, "sensor "+id)
		}
		if u.GatewayID != nil {
			x.GatewayID = *u.GatewayID
		}
		if u.AssetID != nil {
			x.AssetID = *u.AssetID
		}
		if u.Name != nil {
			x.Name = *u.Name
		}
		if err := x.Validate(); err != nil {
			return err
		}
		out, err = scanSensor(tx.QueryRow(ctx, `UPDATE sensors SET gateway_id = $2, asset_id = $3, name = $4, updated_at = now()
			WHERE id = $1 RETURNING `+sensorCols, id, x.GatewayID, x.AssetID, x.Name))
		if err != nil {
			return sensorRefErr(err, x)
		}
		return nil
	})
	return out, err
}

// DeleteSensor removes a sensor (its readings stay in InfluxDB). Errors: NotFound.
func (s *Store) DeleteSensor(ctx context.Context, id string) error {
	tag, err := s.db.Exec(ctx, `DELETE FROM sensors WHERE id = $1`, id)
	if err != nil {
		return pg.Err(err, "sensor "+id)
	}
	if tag.RowsAffected() == 0 {
		return errs.E(errs.NotFound, "sensor %s not found", id)
	}
	return nil
}

// SensorInfo is what ingest needs to know of a sensor to store and judge its readings.
type SensorInfo struct {
	SensorID  string    `json:"sensor_id"`
	GatewayID string    `json:"gateway_id"`
	AssetID   string    `json:"asset_id"`
	AssetKind AssetKind `json:"asset_kind"`
	Band      Band      `json:"band"`
	Product   string    `json:"product,omitempty"`
}

// Placement returns the InfluxDB tags of the sensor's readings.
func (i *SensorInfo) Placement() Placement {
	return Placement{AssetID: i.AssetID, AssetKind: i.AssetKind, GatewayID: i.GatewayID}
}

const sensorInfoQ = `SELECT s.id, s.gateway_id, s.asset_id, a.kind, a.band_min_c, a.band_max_c, coalesce(a.product, '')
	FROM sensors s JOIN assets a ON a.id = s.asset_id`

func scanSensorInfo(row pgx.Row) (SensorInfo, error) {
	var i SensorInfo
	err := row.Scan(&i.SensorID, &i.GatewayID, &i.AssetID, &i.AssetKind, &i.Band.MinC, &i.Band.MaxC, &i.Product)
	return i, err
}

// SensorIndex returns every sensor with its placement and band.
func (s *Store) SensorIndex(ctx context.Context) ([]SensorInfo, error) {
	rows, err := s.db.Query(ctx, sensorInfoQ)
	if err != nil {
		return nil, pg.Err(err, "sensors")
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (SensorInfo, error) { return scanSensorInfo(r) })
}

// LookupSensor returns one sensor's placement. Errors: NotFound.
func (s *Store) LookupSensor(ctx context.Context, id string) (SensorInfo, error) {
	i, err := scanSensorInfo(s.db.QueryRow(ctx, sensorInfoQ+` WHERE s.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return i, errs.E(errs.NotFound, "sensor %s not found", id)
	}
	return i, pg.Err(err, "sensor "+id)
}
