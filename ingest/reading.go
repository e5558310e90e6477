// Package ingest is Suilong's cold-chain domain: gateways, assets and sensors, the readings they publish over MQTT
// (DESIGN.md "MQTT contract"), their validation and dead letter, the durable path into InfluxDB, and the alarms the
// cold-chain rules raise.
//
// The hot path is Decode → Validate → AppendLine → a batched, durable write; everything on it avoids reflection
// and per-reading allocations because a single ingest process is expected to keep up with the broker.
package ingest

import (
	"time"
)

// Field is a bit set of the optional and required fields a reading carried.
type Field uint16

// Fields of a reading object, as bits of Reading.Has.
const (
	HasSensorID Field = 1 << iota
	HasTS
	HasTemp
	HasHumidity
	HasDoor
	HasLat
	HasLon
	HasBattery
	HasSeq
)

// Reading is one sample from one sensor, as a gateway publishes it.
type Reading struct {
	SensorID    string
	TS          time.Time
	TempC       float64
	HumidityPct float64
	DoorOpen    bool
	Lat         float64
	Lon         float64
	BatteryPct  float64
	Seq         int64
	Has         Field
	// Index is the reading's position in its message's "readings" array (0 for a single-reading message).
	Index int
	// raw is the reading's JSON inside the payload, kept for the dead letter.
	raw []byte
	// nonFinite marks fields that held NaN or ±Infinity (as a bare token or a string), which JSON cannot carry
	// but gateway firmware sends anyway; Validate turns them into ReasonNaN.
	nonFinite Field
}

// Reason says why a message or a reading was rejected; it is stored in the dead letter and labels the
// rejection metric, so the values are part of the operator-facing vocabulary.
type Reason string

// Rejection reasons.
const (
	ReasonMalformedJSON   Reason = "malformed_json"       // not JSON, or not a JSON object
	ReasonOversized       Reason = "oversized"            // payload larger than the configured limit
	ReasonBatchTooLarge   Reason = "batch_too_large"      // more than MaxBatch readings in one message
	ReasonEmptyBatch      Reason = "empty_batch"          // {"readings": []}
	ReasonMissingField    Reason = "missing_field"        // sensor_id, ts or temp_c absent
	ReasonInvalidField    Reason = "invalid_field"        // a field of the wrong type, or an unparseable ts
	ReasonNaN             Reason = "nan"                  // NaN or Infinity in a numeric field
	ReasonOutOfRange      Reason = "out_of_range"         // temp outside [-60, 60], humidity outside [0, 100], ...
	ReasonTSFuture        Reason = "ts_future"            // ts too far ahead of the platform's clock
	ReasonTSTooOld        Reason = "ts_too_old"           // ts older than the accepted age
	ReasonUnknownSensor   Reason = "unknown_sensor"       // sensor not registered
	ReasonForeignSensor   Reason = "foreign_sensor"       // sensor registered to another gateway
	ReasonBadTopic        Reason = "bad_topic"            // topic does not name a gateway
	ReasonRegistryDown    Reason = "registry_unavailable" // sensor not cached and PostgreSQL unreachable
	ReasonStorageRejected Reason = "storage_rejected"     // InfluxDB refused the reading (e.g. a field type conflict)
	ReasonSuppressed      Reason = "dead_letter_limit"    // one record summing up a gateway's rejections beyond its budget
)

// Reasons lists every rejection reason, in documentation order.
var Reasons = []Reason{
	ReasonMalformedJSON, ReasonOversized, ReasonBatchTooLarge, ReasonEmptyBatch, ReasonMissingField,
	ReasonInvalidField, ReasonNaN, ReasonOutOfRange, ReasonTSFuture, ReasonTSTooOld, ReasonUnknownSensor,
	ReasonForeignSensor, ReasonBadTopic, ReasonRegistryDown, ReasonStorageRejected, ReasonSuppressed,
}

// Rejection is one rejected message (Index -1) or one rejected reading of a message (Index into the payload's
// readings, 0 for a single-reading message).
type Rejection struct {
	Index    int
	Reason   Reason
	Field    string // the offending field, when there is one
	Detail   string
	SensorID string
	// Raw is the JSON of the rejected reading, or the start of the payload for a whole-message rejection. It
	// aliases the payload: copy it before the payload's buffer is reused.
	Raw []byte
}
