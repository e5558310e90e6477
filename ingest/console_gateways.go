package ingest

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
)

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
