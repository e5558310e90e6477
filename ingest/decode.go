package ingest

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"
)

// Contract limits (DESIGN.md "MQTT contract").
const (
	// MaxBatch is the largest number of readings one message may carry.
	MaxBatch = 500
	// DefaultMaxPayload bounds a message: 500 readings of a generous 400 bytes each, with room to spare.
	DefaultMaxPayload = 256 << 10
	// maxDepth matches encoding/json, so that what it calls valid JSON we call valid too.
	maxDepth = 10000
	// rawExcerpt bounds the payload excerpt kept for a whole-message rejection.
	rawExcerpt = 512
)

// Decoder turns a readings payload into readings and rejections. The zero value applies the contract limits.
// A Decoder holds no state between calls and may be shared.
type Decoder struct {
	// MaxPayload is the largest accepted payload in bytes (default DefaultMaxPayload).
	MaxPayload int
	// MaxBatch is the largest accepted batch (default MaxBatch).
	MaxBatch int
	// Intern, when set, returns the canonical string for a sensor id, so that decoding a known sensor does not
	// allocate. It must return string(b) for ids it does not know.
	Intern func(b []byte) string
}

// Decode parses a payload: one reading object, or {"readings": [...]} with up to MaxBatch of them. Readings
// that parse are appended to out; everything rejected at this stage is appended to rej, either the whole
// message (Index -1: malformed_json, oversized, batch_too_large, empty_batch) or one reading of a batch
// (invalid_field, nan in a field, ...), whose neighbours are kept. Fields are checked for type here; values are
// checked by Validate.
func (d *Decoder) Decode(payload []byte, out []Reading, rej []Rejection) ([]Reading, []Rejection) {
	maxPayload := d.MaxPayload
	if maxPayload <= 0 {
		maxPayload = DefaultMaxPayload
	}
	maxBatch := d.MaxBatch
	if maxBatch <= 0 {
		maxBatch = MaxBatch
	}
	whole := func(reason Reason, detail string) ([]Reading, []Rejection) {
		return out, append(rej, Rejection{Index: -1, Reason: reason, Detail: detail, Raw: excerpt(payload)})
	}
	if len(payload) > maxPayload {
		return whole(ReasonOversized, fmt.Sprintf("payload is %d bytes, limit %d", len(payload), maxPayload))
	}
	p := parser{b: payload, intern: d.Intern}
	start := len(out)
	rejStart := len(rej)
	p.ws()
	if p.i >= len(p.b) || p.b[p.i] != '{' {
		if p.i < len(p.b) && p.skipValue(0) == nil && p.end() {
			return whole(ReasonMalformedJSON, "payload must be a JSON object")
		}
		return whole(ReasonMalformedJSON, "payload is not JSON")
	}
	var top Reading
	var topErr fieldErr
	batch, notArray := false, false
	err := p.object(0, func(key []byte) error {
		if string(key) == "readings" {
			batch = true
			out, rej = out[:start], rej[:rejStart] // a repeated key wins, as in encoding/json
			if p.b[p.i] != '[' {
				notArray = true
				return p.skipValue(1)
			}
			notArray = false
			return p.readings(maxBatch, &out, &rej)
		}
		return p.field(key, &top, &topErr)
	})
	if err == nil && !p.end() {
		err = p.errf("data after the JSON object")
	}
	if err != nil {
		out, rej = out[:start], rej[:rejStart]
		if errors.Is(err, errBatchTooLarge) {
			return whole(ReasonBatchTooLarge, fmt.Sprintf("more than %d readings in one message", maxBatch))
		}
		return whole(ReasonMalformedJSON, err.Error())
	}
	if notArray {
		return whole(ReasonInvalidField, `"readings" must be an array of reading objects`)
	}
	if batch {
		if len(out) == start && len(rej) == rejStart {
			return whole(ReasonEmptyBatch, `"readings" is empty`)
		}
		return out, rej
	}
	top.raw = payload
	if topErr.reason != "" {
		return out, append(rej, topErr.rejection(&top))
	}
	return append(out, top), rej
}

func excerpt(b []byte) []byte {
	if len(b) > rawExcerpt {
		b = b[:rawExcerpt]
	}
	return b
}

var errBatchTooLarge = errors.New("batch too large")

// fieldErr is the first thing wrong with a reading's fields.
type fieldErr struct {
	reason Reason
	field  string
	detail string
}

func (e *fieldErr) set(reason Reason, field, detail string) {
	if e.reason == "" {
		*e = fieldErr{reason: reason, field: field, detail: detail}
	}
}

func (e *fieldErr) rejection(r *Reading) Rejection {
	return Rejection{Index: r.Index, Reason: e.reason, Field: e.field, Detail: e.detail, SensorID: r.SensorID, Raw: r.raw}
}

func (p *parser) readings(maxBatch int, out *[]Reading, rej *[]Rejection) error {
	p.i++ // '['
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return nil
	}
	for n := 0; ; n++ {
		if n >= maxBatch {
			return errBatchTooLarge
		}
		p.ws()
		if p.i >= len(p.b) {
			return p.errf("unexpected end of input")
		}
		startEl := p.i
		if p.b[p.i] == '{' {
			r := Reading{Index: n}
			var fe fieldErr
			if err := p.object(2, func(key []byte) error { return p.field(key, &r, &fe) }); err != nil {
				return err
			}
			r.raw = p.b[startEl:p.i]
			if fe.reason != "" {
				*rej = append(*rej, fe.rejection(&r))
			} else {
				*out = append(*out, r)
			}
		} else {
			if err := p.skipValue(2); err != nil {
				return err
			}
			*rej = append(*rej, Rejection{Index: n, Reason: ReasonInvalidField, Field: fmt.Sprintf("readings[%d]", n),
				Detail: "a reading must be a JSON object", Raw: p.b[startEl:p.i]})
		}
		p.ws()
		if p.i >= len(p.b) {
			return p.errf("unexpected end of input")
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			return nil
		default:
			return p.errf("expected ',' or ']'")
		}
	}
}

// field parses the value of one member of a reading object into r. Type errors are recorded in fe (the
// reading is rejected, the message parse continues); syntax errors are returned.
func (p *parser) field(key []byte, r *Reading, fe *fieldErr) error {
	switch string(key) {
	case "sensor_id":
		if p.b[p.i] == 'n' {
			return p.null()
		}
		if p.b[p.i] != '"' {
			return p.wrongType(key, "a string", fe, r, HasSensorID)
		}
		s, esc, err := p.str()
		if err != nil {
			return err
		}
		if esc {
			s = p.unescape(s)
		}
		if msg := checkID(s); msg != "" {
			fe.set(ReasonInvalidField, "sensor_id", msg)
			r.Has |= HasSensorID
			return nil
		}
		if p.intern != nil && !esc {
			r.SensorID = p.intern(s)
		} else {
			r.SensorID = string(s)
		}
		r.Has |= HasSensorID
	case "ts":
		switch c := p.b[p.i]; {
		case c == '"':
			s, esc, err := p.str()
			if err != nil {
				return err
			}
			if esc {
				s = p.unescape(s)
			}
			t, err := time.Parse(time.RFC3339Nano, unsafe.String(unsafe.SliceData(s), len(s)))
			if err != nil {
				fe.set(ReasonInvalidField, "ts", "ts must be RFC 3339 or epoch milliseconds")
			}
			r.TS = t
			r.Has |= HasTS
		case c == '-' || (c >= '0' && c <= '9'):
			num, err := p.number()
			if err != nil {
				return err
			}
			ms, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(num), len(num)), 64)
			if err != nil || ms < 0 || ms > 1e14 {
				fe.set(ReasonInvalidField, "ts", "epoch milliseconds out of range")
			} else {
				whole := math.Floor(ms)
				r.TS = time.UnixMilli(int64(whole)).Add(time.Duration((ms - whole) * 1e6))
			}
			r.Has |= HasTS
		case c == 'n':
			return p.null()
		default:
			return p.wrongType(key, "an RFC 3339 string or epoch milliseconds", fe, r, HasTS)
		}
	case "temp_c":
		return p.float(key, &r.TempC, HasTemp, r, fe)
	case "humidity_pct":
		return p.float(key, &r.HumidityPct, HasHumidity, r, fe)
	case "lat":
		return p.float(key, &r.Lat, HasLat, r, fe)
	case "lon":
		return p.float(key, &r.Lon, HasLon, r, fe)
	case "battery_pct":
		return p.float(key, &r.BatteryPct, HasBattery, r, fe)
	case "door_open":
		switch p.b[p.i] {
		case 't':
			r.DoorOpen = true
			r.Has |= HasDoor
			return p.lit("true")
		case 'f':
			r.DoorOpen = false
			r.Has |= HasDoor
			return p.lit("false")
		case 'n':
			return p.null()
		default:
			return p.wrongType(key, "true or false", fe, r, HasDoor)
		}
	case "seq":
		c := p.b[p.i]
		if c == 'n' {
			return p.null()
		}
		if c != '-' && (c < '0' || c > '9') {
			return p.wrongType(key, "an integer", fe, r, HasSeq)
		}
		num, err := p.number()
		if err != nil {
			return err
		}
		v, err := strconv.ParseInt(unsafe.String(unsafe.SliceData(num), len(num)), 10, 64)
		if err != nil || v < 0 {
			fe.set(ReasonInvalidField, "seq", "seq must be a non-negative integer")
		}
		r.Seq = v
		r.Has |= HasSeq
	default:
		return p.skipValue(3)
	}
	return nil
}

// wrongType skips a value of the wrong JSON type and records it against the reading.
func (p *parser) wrongType(key []byte, want string, fe *fieldErr, r *Reading, f Field) error {
	if err := p.skipValue(3); err != nil {
		return err
	}
	fe.set(ReasonInvalidField, string(key), string(key)+" must be "+want)
	r.Has |= f
	return nil
}

// float parses a numeric field. null means absent; NaN and ±Infinity, as bare tokens or strings, are flagged.
func (p *parser) float(key []byte, dst *float64, f Field, r *Reading, fe *fieldErr) error {
	c := p.b[p.i]
	switch {
	case c == '-' && p.i+1 < len(p.b) && p.b[p.i+1] == 'I':
		p.i++
		if err := p.lit("Infinity"); err != nil {
			return err
		}
		*dst = math.Inf(-1)
	case c == '-' || (c >= '0' && c <= '9'):
		num, err := p.number()
		if err != nil {
			return err
		}
		// A finite literal too large for float64 parses to ±Inf with ErrRange: that is an out-of-range value,
		// which Validate reports, not a type error.
		v, _ := strconv.ParseFloat(unsafe.String(unsafe.SliceData(num), len(num)), 64)
		*dst = v
		r.Has |= f
		return nil
	case c == 'N':
		if err := p.lit("NaN"); err != nil {
			return err
		}
		*dst = math.NaN()
	case c == 'I':
		if err := p.lit("Infinity"); err != nil {
			return err
		}
		*dst = math.Inf(1)
	case c == 'n':
		return p.null()
	case c == '"':
		s, esc, err := p.str()
		if err != nil {
			return err
		}
		if esc {
			s = p.unescape(s)
		}
		switch string(s) {
		case "NaN", "nan", "Infinity", "-Infinity", "inf", "-inf":
			*dst = math.NaN()
		default:
			fe.set(ReasonInvalidField, string(key), string(key)+" must be a number")
			r.Has |= f
			return nil
		}
	default:
		return p.wrongType(key, "a number", fe, r, f)
	}
	r.Has |= f
	r.nonFinite |= f
	return nil
}

// MQTT topic levels.
func checkID(s []byte) string {
	if len(s) == 0 {
		return "must not be empty"
	}
	if len(s) > 64 {
		return "must be at most 64 bytes"
	}
	for _, c := range s {
		if c <= ' ' || c == 0x7f || c == '+' || c == '#' || c == '/' || c == '\\' || c == ',' || c == '=' || c == '"' {
			return "must not contain spaces, quotes, '/', '+', '#', ',', '=' or '\\'"
		}
	}
	if !utf8.Valid(s) {
		return "must be valid UTF-8"
	}
	return ""
}
