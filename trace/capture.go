package trace

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
)

// EPCIS capture: a partner's warehouse or transport system sends an EPCIS 2.0 document (already validated
// against GS1's schema by the caller); its ObjectEvents on lots of this platform become custody events, by
// the rules of AddEvent (who may record what, impossible journeys refused), in document order. Capture is
// idempotent by eventID: an event already captured is counted as a duplicate and changes nothing. A lot is
// named by its identifier in quantityList or epcList (its page URL /t/{code}, or its GS1 Digital Link
// …/10/{code}); an asset by a readPoint or bizLocation …/id/asset/{id}.

// CaptureResult says what a capture did.
type CaptureResult struct {
	Captured   int           `json:"captured"`
	Duplicates int           `json:"duplicates"`
	Skipped    []CaptureSkip `json:"skipped"`
	Events     []Event       `json:"events"`
	// Unchanged is true when the document added nothing (a second capture of the same document).
	Unchanged bool `json:"unchanged"`
}

// CaptureSkip is an event of the document that is not custody: what and why.
type CaptureSkip struct {
	Index   int    `json:"index"`
	EventID string `json:"event_id"`
	Reason  string `json:"reason"`
}

type captureDoc struct {
	Body struct {
		EventList []json.RawMessage `json:"eventList"`
	} `json:"epcisBody"`
}

type captureEvent struct {
	Type         string `json:"type"`
	EventID      string `json:"eventID"`
	EventTime    string `json:"eventTime"`
	Action       string `json:"action"`
	BizStep      string `json:"bizStep"`
	Disposition  string `json:"disposition"`
	EPCList      []string
	QuantityList []struct {
		EPCClass string `json:"epcClass"`
	} `json:"quantityList"`
	ReadPoint   *struct{ ID string } `json:"readPoint"`
	BizLocation *struct{ ID string } `json:"bizLocation"`
	Location    string               `json:"suilong:location"`
	Note        string               `json:"suilong:note"`
	HandoverC   *float64             `json:"suilong:handoverTempC"`
	MeasuredBy  string               `json:"suilong:measuredBy"`
}

// Capture records the custody events of an EPCIS document for the caller. Errors: Invalid (not a document),
// and the errors of AddEvent for the event that failed, its index and eventID named in the message and the
// field; the events before it are captured (a corrected document sent again skips them as duplicates).
func (s *Service) Capture(ctx context.Context, p auth.Principal, doc []byte) (CaptureResult, error) {
	res := CaptureResult{Skipped: []CaptureSkip{}, Events: []Event{}}
	if p.Role != auth.RoleBase && p.Role != auth.RoleBuyer {
		return res, errs.E(errs.Forbidden, "EPCIS capture is for bases and buyers, for the lots they handle")
	}
	var d captureDoc
	if err := json.Unmarshal(doc, &d); err != nil {
		return res, errs.Wrap(errs.Invalid, err, "not an EPCIS document")
	}
	for i, raw := range d.Body.EventList {
		field := fmt.Sprintf("epcisBody.eventList[%d]", i)
		var e captureEvent
		if err := json.Unmarshal(raw, &e); err != nil {
			return res, captureErr(errs.E(errs.Invalid, "%s", err.Error()), i, e.EventID, field, res)
		}
		if e.EventID == "" {
			return res, captureErr(errs.E(errs.Unprocessable, "an event needs an eventID: capture is idempotent by it"), i, "", field+".eventID", res)
		}
		skip := func(reason string) {
			res.Skipped = append(res.Skipped, CaptureSkip{Index: i, EventID: e.EventID, Reason: reason})
		}
		if e.Type != "ObjectEvent" {
			skip("not an ObjectEvent")
			continue
		}
		var seen int64
		err := s.Store.db.QueryRow(ctx, `SELECT count(*) FROM lot_events WHERE epcis_event_id = $1`, e.EventID).Scan(&seen)
		if err != nil {
			return res, pg.Err(err, "events")
		}
		if seen > 0 {
			res.Duplicates++
			continue
		}
		code := lotCodeOf(e)
		if code == "" {
			skip("names no lot of this platform (quantityList epcClass or epcList: …/t/{code} or …/10/{code})")
			continue
		}
		l, err := s.Store.LotByCode(ctx, code)
		if errs.Is(err, errs.NotFound) || err == nil && !canSee(p, l) {
			skip("lot " + code + " is not a lot you handle")
			continue
		} else if err != nil {
			return res, err
		}
		at, terr := time.Parse(time.RFC3339Nano, e.EventTime)
		if terr != nil {
			return res, captureErr(errs.E(errs.Unprocessable, "eventTime %q is not an RFC 3339 time", e.EventTime), i, e.EventID, field+".eventTime", res)
		}
		n := NewEvent{At: at, Note: e.Note, HandoverTempC: e.HandoverC, MeasuredBy: e.MeasuredBy, EPCISEventID: e.EventID}
		asset := assetOf(e.ReadPoint)
		if asset == "" {
			asset = assetOf(e.BizLocation)
		}
		switch step := bizStep(e.BizStep); {
		case step == "commissioning" || e.Action == "ADD":
			skip("the harvest is recorded when the lot is registered")
			continue
		case step == "loading":
			n.Kind, n.AssetID = Load, asset
		case step == "unloading" || step == "shipping":
			n.Kind, n.AssetID = Unload, asset
		case step == "receiving" && asset != "":
			n.Kind, n.AssetID = Load, asset // a cold store receives the lot
		case step == "receiving":
			n.Kind, n.Location = Receive, e.Location
			if n.Location == "" && e.BizLocation != nil && !strings.Contains(e.BizLocation.ID, "/id/") {
				n.Location = e.BizLocation.ID
			}
		default:
			skip("bizStep " + e.BizStep + " is not custody (loading, unloading, shipping, receiving)")
			continue
		}
		if (n.Kind == Load || n.Kind == Unload) && asset == "" {
			return res, captureErr(errs.E(errs.Unprocessable, "a %s needs a readPoint naming the asset (…/id/asset/{id})", n.Kind), i, e.EventID, field+".readPoint", res)
		}
		ev, err := s.AddEvent(ctx, p, l.ID, n)
		if err != nil {
			return res, captureErr(err, i, e.EventID, field, res)
		}
		res.Captured++
		res.Events = append(res.Events, ev)
	}
	res.Unchanged = res.Captured == 0
	return res, nil
}

// captureErr names the event that failed, keeping the error's code.
func captureErr(err error, i int, id, field string, res CaptureResult) error {
	e := errs.As(err)
	if e == nil {
		return err
	}
	out := &errs.Error{Code: e.Code, Err: e.Err, Message: fmt.Sprintf("event %d (eventID %s): %s; %d events before it were captured", i, id, e.Message, res.Captured)}
	for _, f := range e.Fields {
		out.Fields = append(out.Fields, errs.FieldError{Field: field + "." + f.Field, Message: f.Message})
	}
	if len(out.Fields) == 0 {
		out.Fields = []errs.FieldError{{Field: field, Message: e.Message}}
	}
	return out
}

// lotCodeOf finds the lot code in the event's identifiers: the last segment of /t/{code} or /10/{code}.
func lotCodeOf(e captureEvent) string {
	ids := append([]string(nil), e.EPCList...)
	for _, q := range e.QuantityList {
		ids = append(ids, q.EPCClass)
	}
	for _, id := range ids {
		u, err := url.Parse(id)
		if err != nil {
			continue
		}
		parts := strings.Split(strings.Trim(u.Path, "/"), "/")
		if n := len(parts); n >= 2 && (parts[n-2] == "t" || parts[n-2] == "10") {
			if c, ok := NormalizeCode(parts[n-1]); ok {
				return c
			}
		}
	}
	return ""
}

func assetOf(r *struct{ ID string }) string {
	if r == nil {
		return ""
	}
	_, id, ok := strings.Cut(r.ID, "/id/asset/")
	if !ok {
		return ""
	}
	if s, err := url.PathUnescape(id); err == nil {
		return s
	}
	return id
}

// bizStep is the CBV step's short name, whichever of its forms the document uses.
func bizStep(s string) string {
	for _, p := range []string{"urn:epcglobal:cbv:bizstep:", "https://ref.gs1.org/cbv/BizStep-", "https://gs1.org/voc/BizStep-"} {
		s = strings.TrimPrefix(s, p)
	}
	return s
}
