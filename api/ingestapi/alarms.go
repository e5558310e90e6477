package ingestapi

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/ingest/rules"
)

var alarmStatuses = []string{ingest.StatusOpen, ingest.StatusAcknowledged, ingest.StatusClosed, ingest.StatusWithdrawn}

func (m *Module) listAlarms(c *gin.Context) {
	f := ingest.AlarmFilter{AssetID: c.Query("asset_id"), SensorID: c.Query("sensor_id"), Kind: rules.Kind(c.Query("kind"))}
	switch f.Kind {
	case "", rules.Excursion, rules.DoorOpen, rules.Silent:
	default:
		// Refused, not ignored as the console's filters are: a client's typo must not quietly return every alarm.
		rest.Problem(c, rest.BadQuery("kind", "must be excursion, door_open or sensor_silent"))
		return
	}
	if s := c.Query("status"); s != "" {
		for _, st := range strings.Split(s, ",") {
			if st == "active" { // shorthand for what still needs someone: open or acknowledged
				f.Status = append(f.Status, ingest.StatusOpen, ingest.StatusAcknowledged)
				continue
			}
			valid := false
			for _, v := range alarmStatuses {
				valid = valid || v == st
			}
			if !valid {
				rest.Problem(c, rest.BadQuery("status", "must be open, acknowledged, closed, withdrawn or active (comma-separated)"))
				return
			}
			f.Status = append(f.Status, st)
		}
	}
	var err error
	if f.From, f.To, err = rest.QueryRange(c); err != nil {
		rest.Problem(c, err)
		return
	}
	list(c, func(p ingest.Page) ([]ingest.Alarm, int, error) { return m.s.Alarms(c, rest.Principal(c), f, p) })
}

func (m *Module) getAlarm(c *gin.Context) {
	rest.WithID(c, func(id int64) {
		a, err := m.s.Alarm(c, rest.Principal(c), id)
		rest.Reply(c, http.StatusOK, a, err)
	})
}

type ackReq struct {
	Comment string `json:"comment"`
}

func (m *Module) ackAlarm(c *gin.Context) {
	rest.WithID(c, func(id int64) {
		var req ackReq
		// The comment is optional, so a bare POST acknowledges; Bind would refuse the empty body. A chunked body
		// (length -1) is read as any other.
		if c.Request.ContentLength != 0 {
			if err := rest.Bind(c, &req); err != nil {
				rest.Problem(c, err)
				return
			}
		}
		a, err := m.s.AckAlarm(c, rest.Principal(c), id, req.Comment)
		rest.Reply(c, http.StatusOK, a, err)
	})
}
