package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
)

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

// PageKey is the sensor's place in Sensors' order, by id.
func (x Sensor) PageKey() []any { return []any{x.ID} }

// Sensors lists sensors by id, with the total (up to pg.CountCap). Errors: Invalid (a cursor of another list).
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
	q := pg.Query{Cols: sensorCols, From: "sensors", Where: where, Args: args, Key: "id"}
	var after string
	return pg.List(ctx, s.db, q, p, "sensors", func(row pgx.Row, total *int) (Sensor, error) {
		var x Sensor
		err := row.Scan(&x.ID, &x.GatewayID, &x.AssetID, &x.Name, &x.CreatedAt, total)
		return x, err
	}, &after)
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
