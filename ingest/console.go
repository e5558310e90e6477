package ingest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/ingest/rules"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/coldchain"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
)

// Console is what the duty officers' console (/ops) sees of the cold chain, and who sees what of it. Admins and
// coordinators see everything. People of an organisation that owns assets (a carrier's trucks, a base's cold
// store, a buyer's warehouse: assets.org_id) see only those assets, their alarms (and acknowledge them), the
// gateways whose org_id is theirs with those gateways' dead letters; everyone else is refused. Other
// organisations' records are "not found", so that ids cannot be probed.
type Console struct {
	Store *Store
	// Products gives the band of an asset's product profile when it carries nothing with a band (optional).
	Products ProductBands
	// Cargo tells what the assets carry now (optional).
	Cargo Cargo
	// Changes, when set, is told of acknowledgements and credential resets made here, exactly as if they were
	// made through the API: the alarm is published, the broker drops the gateway's sessions and external
	// brokers learn the new password.
	Changes *Service
	Now     func() time.Time
}

// Cargo tells what assets carry now: traceability's lots in them (cmd/suilong adapts package trace).
type Cargo interface {
	// OnBoard returns, for each of the assets that carries lots now, those lots. Errors: Internal.
	OnBoard(ctx context.Context, assetIDs []string) (map[string][]Load, error)
}

// Load is a lot on board an asset.
type Load struct {
	LotCode    string    `json:"lot_code"`
	Product    string    `json:"product"`
	ProductZH  string    `json:"product_zh,omitempty"`
	QuantityKg int64     `json:"quantity_kg"`
	Since      time.Time `json:"since"`
	Band       Band      `json:"band"`
}

// NewConsole returns the console's view of store.
func NewConsole(store *Store, products ProductBands, cargo Cargo) *Console {
	return &Console{Store: store, Products: products, Cargo: cargo, Now: time.Now}
}

// Scope is the part of the cold chain a principal sees on the console: all of it, or one organisation's.
type Scope struct {
	All   bool
	OrgID int64
}

// ScopeOf returns what p sees. Errors: Forbidden for roles that own no assets (gateway keys).
func ScopeOf(p auth.Principal) (Scope, error) {
	switch {
	case p.Staff():
		return Scope{All: true}, nil
	case p.Is(auth.RoleCarrier, auth.RoleBase, auth.RoleBuyer):
		return Scope{OrgID: p.OrgID}, nil
	}
	return Scope{}, errs.E(errs.Forbidden, "your organisation's role (%s) has no cold-chain assets", p.Role)
}

// Owns reports whether the scope includes a record of organisation org (nil: no organisation's).
func (s Scope) Owns(org *int64) bool { return s.All || (org != nil && *org == s.OrgID) }

// where returns a condition on assets aliased a (and the next argument) for the scope.
func (s Scope) where(alias string, args *[]any) string {
	if s.All {
		return "true"
	}
	*args = append(*args, s.OrgID)
	return fmt.Sprintf("%s.org_id = $%d", alias, len(*args))
}

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

// ConsoleAlarms narrows the console's alarm inbox. Zero fields do not filter.
type ConsoleAlarms struct {
	Status  []string
	AssetID string
	Kind    rules.Kind
	// From selects alarms whose condition went on at or after it.
	From time.Time
}

// Alarms lists the alarms p sees, newest start first, with the total. Errors: Forbidden.
func (c *Console) Alarms(ctx context.Context, p auth.Principal, f ConsoleAlarms, pg0 Page) ([]Alarm, int, error) {
	sc, err := ScopeOf(p)
	if err != nil {
		return nil, 0, err
	}
	args := []any{}
	// The scope is the assets p sees: a condition on each alarm's asset, so that a page of alarms comes from the
	// alarms' own index on their order.
	where := []string{"EXISTS (SELECT 1 FROM assets a WHERE a.id = x.asset_id AND " + sc.where("a", &args) + ")"}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if len(f.Status) > 0 {
		add("x.status = ANY($%d)", f.Status)
	}
	if f.AssetID != "" {
		add("x.asset_id = $%d", f.AssetID)
	}
	if f.Kind != "" {
		add("x.kind = $%d", f.Kind)
	}
	if !f.From.IsZero() {
		add("(x.ended_at IS NULL OR x.ended_at >= $%d)", f.From)
	}
	cols := "x." + strings.ReplaceAll(strings.ReplaceAll(alarmCols, "\n\t", " "), ", ", ", x.")
	q := pg.Query{Cols: cols, From: "alarms x", Where: where, Args: args, Key: "x.started_at, x.id", Desc: true}
	var startedAt time.Time
	var after int64
	sql, args, err := q.Page(pg0, &startedAt, &after)
	if err != nil {
		return nil, 0, err
	}
	rows, err := c.Store.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, 0, pg.Err(err, "alarms")
	}
	defer rows.Close()
	out := []Alarm{}
	total := 0
	for rows.Next() {
		a, err := scanAlarm(rows, &total)
		if err != nil {
			return nil, 0, pg.Err(err, "alarms")
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, pg.Err(err, "alarms")
	}
	if len(out) == 0 { // an empty page carries no count
		total, err = q.Count(ctx, c.Store.db)
	}
	return out, total, pg.Err(err, "alarms")
}

// Alarm returns one alarm p sees. Errors: Forbidden, NotFound (also for alarms of assets p may not see).
func (c *Console) Alarm(ctx context.Context, p auth.Principal, id int64) (Alarm, error) {
	sc, err := ScopeOf(p)
	if err != nil {
		return Alarm{}, err
	}
	a, err := c.Store.Alarm(ctx, id)
	if err != nil {
		return Alarm{}, err
	}
	if !sc.All {
		asset, err := c.Store.Asset(ctx, a.AssetID)
		if err != nil || !sc.Owns(asset.OrgID) {
			return Alarm{}, errs.E(errs.NotFound, "alarm %d not found", id)
		}
	}
	return a, nil
}

// AckResult is the outcome of acknowledging one alarm of several.
type AckResult struct {
	ID    int64  `json:"id"`
	Alarm *Alarm `json:"alarm,omitempty"`
	Err   error  `json:"-"`
}

// MaxAck bounds how many alarms one acknowledgement may cover.
const MaxAck = 200

// Ack acknowledges each alarm p sees with one comment, in the name of p (Principal.Actor); each alarm on its
// own, so that one already acknowledged does not stop the others. Errors (per alarm, in AckResult): NotFound,
// Conflict, Unprocessable. Errors: Forbidden, Unprocessable (no alarms, too many).
func (c *Console) Ack(ctx context.Context, p auth.Principal, ids []int64, comment string) ([]AckResult, error) {
	if _, err := ScopeOf(p); err != nil {
		return nil, err
	}
	var fe errs.FieldErrors
	switch {
	case len(ids) == 0:
		fe.Add("ids", "choose at least one alarm")
	case len(ids) > MaxAck:
		fe.Add("ids", "at most %d alarms at once", MaxAck)
	}
	if len(comment) > 2000 {
		fe.Add("comment", "must be at most 2000 bytes")
	}
	if err := fe.Err(); err != nil {
		return nil, err
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	out := make([]AckResult, 0, len(ids))
	for _, id := range ids {
		r := AckResult{ID: id}
		if _, err := c.Alarm(ctx, p, id); err != nil {
			r.Err = err
		} else if a, err := c.Store.AckAlarm(ctx, id, p.Actor(), comment); err != nil {
			r.Err = err
		} else {
			r.Alarm = &a
			if c.Changes != nil {
				PublishAlarm(ctx, c.Changes.Pub, a, c.Changes.Log)
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// GatewayStatus is a gateway as the console lists it.
type GatewayStatus struct {
	Gateway
	Sensors int `json:"sensors"`
	// DeadLetters counts its rejected messages and readings of the last 24 hours.
	DeadLetters int `json:"dead_letters_24h"`
}

// Gateways lists the gateways p sees (staff: all; others: those of their organisation). Errors: Forbidden.
func (c *Console) Gateways(ctx context.Context, p auth.Principal) ([]GatewayStatus, error) {
	sc, err := ScopeOf(p)
	if err != nil {
		return nil, err
	}
	args := []any{c.now().Add(-24 * time.Hour)}
	rows, err := c.Store.db.Query(ctx, `SELECT g.id, g.name, g.org_id, g.sampling_interval_s, g.status, g.status_at, g.last_seen_at, g.created_at,
		(SELECT count(*) FROM sensors s WHERE s.gateway_id = g.id),
		(SELECT count(*) FROM dead_letters d WHERE d.gateway_id = g.id AND d.received_at >= $1)
		FROM gateways g WHERE `+sc.where("g", &args)+` ORDER BY g.id`, args...)
	if err != nil {
		return nil, pg.Err(err, "gateways")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (GatewayStatus, error) {
		var g GatewayStatus
		err := r.Scan(&g.ID, &g.Name, &g.OrgID, &g.SamplingIntervalS, &g.Status, &g.StatusAt, &g.LastSeenAt, &g.CreatedAt, &g.Sensors, &g.DeadLetters)
		return g, err
	})
	return out, pg.Err(err, "gateways")
}

// ResetGateway gives a gateway p sees a new MQTT password and returns it, to be shown once; the gateway must
// reconnect with it. Errors: Forbidden, NotFound (also for gateways p may not see).
func (c *Console) ResetGateway(ctx context.Context, p auth.Principal, id string) (string, error) {
	sc, err := ScopeOf(p)
	if err != nil {
		return "", err
	}
	g, err := c.Store.Gateway(ctx, id)
	if err != nil {
		return "", err
	}
	if !sc.Owns(g.OrgID) {
		return "", errs.E(errs.NotFound, "gateway %s not found", id)
	}
	pw, err := c.Store.ResetGatewayPassword(ctx, id)
	if err != nil {
		return "", err
	}
	if c.Changes != nil {
		c.Changes.gatewayChanged(id)
		c.Changes.credentialsChanged(ctx, id, pw)
	}
	return pw, nil
}

// DeadLetterGroup is the dead letter of one gateway for one reason.
type DeadLetterGroup struct {
	Reason    Reason    `json:"reason"`
	GatewayID string    `json:"gateway_id"`
	Count     int       `json:"count"`
	First     time.Time `json:"first"`
	Last      time.Time `json:"last"`
	// Field, Detail and Payload are the latest record's.
	Field   string `json:"field"`
	Detail  string `json:"detail"`
	Payload string `json:"payload"`
}

// DeadLetterGroups sums the dead letter received since `since` by reason and gateway, largest first (staff: all
// of it; others: their gateways'). Errors: Forbidden.
func (c *Console) DeadLetterGroups(ctx context.Context, p auth.Principal, since time.Time) ([]DeadLetterGroup, error) {
	sc, err := ScopeOf(p)
	if err != nil {
		return nil, err
	}
	args := []any{since}
	scope := "true"
	if !sc.All {
		args = append(args, sc.OrgID)
		scope = "d.gateway_id IN (SELECT id FROM gateways WHERE org_id = $2)"
	}
	rows, err := c.Store.db.Query(ctx, `SELECT d.reason, d.gateway_id, count(*), min(d.received_at), max(d.received_at),
		(array_agg(d.field ORDER BY d.received_at DESC, d.id DESC))[1],
		(array_agg(d.detail ORDER BY d.received_at DESC, d.id DESC))[1],
		(array_agg(d.payload ORDER BY d.received_at DESC, d.id DESC))[1]
		FROM dead_letters d WHERE d.received_at >= $1 AND `+scope+`
		GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT 500`, args...)
	if err != nil {
		return nil, pg.Err(err, "dead letters")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (DeadLetterGroup, error) {
		var g DeadLetterGroup
		err := r.Scan(&g.Reason, &g.GatewayID, &g.Count, &g.First, &g.Last, &g.Field, &g.Detail, &g.Payload)
		return g, err
	})
	return out, pg.Err(err, "dead letters")
}

func (c *Console) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

// Advice is what a gateway's owner must do about rejections of a reason, in Chinese and in English.
type Advice struct{ ZH, EN string }

// AdviceFor returns the fix for a dead-letter reason.
func AdviceFor(r Reason) Advice {
	if a, ok := advice[r]; ok {
		return a
	}
	return Advice{ZH: "请检查网关固件与配置。", EN: "Check the gateway's firmware and configuration."}
}

var advice = map[Reason]Advice{
	ReasonMalformedJSON: {"网关发送的不是合法 JSON 对象：检查固件的报文编码（UTF-8、无截断、无多余字符）。",
		"The gateway sends something that is not a JSON object: check the firmware's encoding (UTF-8, nothing cut off, nothing trailing)."},
	ReasonOversized: {"报文超过大小上限：减少每条消息的读数，或分多条发送。",
		"Messages exceed the size limit: send fewer readings per message, or split them."},
	ReasonBatchTooLarge: {"一条消息中的读数超过 500 条：分批发送。",
		"More than 500 readings in one message: send them in several messages."},
	ReasonEmptyBatch: {"发送了空的 readings 数组：没有读数时不要发送。",
		"An empty readings array was sent: send nothing when there are no readings."},
	ReasonMissingField: {"缺少必填字段 sensor_id、ts 或 temp_c：按 MQTT 协议第 1 版补齐。",
		"A required field (sensor_id, ts or temp_c) is missing: send every field of MQTT contract version 1."},
	ReasonInvalidField: {"字段类型或格式错误（例如 ts 不是 RFC 3339 或毫秒时间戳）：修正固件的字段格式。",
		"A field has the wrong type or format (ts neither RFC 3339 nor epoch milliseconds, say): fix the firmware's field formats."},
	ReasonNaN: {"数值为 NaN 或无穷大：传感器可能故障，检查探头与接线。",
		"A value is NaN or infinite: the probe may be faulty; check the probe and its wiring."},
	ReasonOutOfRange: {"数值超出物理范围（温度 −60…60 °C、湿度 0…100%）：检查探头校准或单位。",
		"A value is outside the physical range (temperature −60…60 °C, humidity 0…100 %): check the probe's calibration and units."},
	ReasonTSFuture: {"时间戳超前于平台时钟：校准网关时钟（启用 NTP）。",
		"Timestamps are ahead of the platform clock: set the gateway's clock right (enable NTP)."},
	ReasonTSTooOld: {"时间戳过旧：网关离线缓存过久或时钟错误，校准时钟并尽快补传。",
		"Timestamps are too old: the gateway buffered too long or its clock is wrong; set the clock and upload sooner."},
	ReasonUnknownSensor: {"传感器未登记：请平台管理员登记该传感器，或修正固件中的 sensor_id。",
		"The sensor is not registered: ask the platform's administrator to register it, or correct the sensor_id in the firmware."},
	ReasonForeignSensor: {"该传感器登记在另一台网关下：改正传感器与网关的对应关系。",
		"The sensor is registered to another gateway: correct which gateway the sensor belongs to."},
	ReasonBadTopic: {"主题不符合 coldchain/v1/readings/{网关编号}：修正发布主题。",
		"The topic is not coldchain/v1/readings/{gateway_id}: correct the topic the gateway publishes on."},
	ReasonRegistryDown: {"平台登记库暂不可用，读数未被确认：网关会重发，无需操作；若持续出现请联系平台。",
		"The platform's registry was unreachable: the gateway resends, nothing to do; tell the platform if it persists."},
	ReasonStorageRejected: {"时序库拒收该读数（字段类型冲突等）：请联系平台管理员。",
		"The time-series store refused the reading (a field type conflict, say): contact the platform's administrator."},
	ReasonSuppressed: {"该网关错误过多，超出部分只计数：先修正上面的主要原因。",
		"This gateway is rejected so often that the excess is only counted: fix the main reasons above first."},
}
