package opsapi

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/api/web"
	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
	"github.com/suilong/suilong/notify"
)

// inboxTabs are the inbox's views, in order: open first, the default, because it is what someone must act on.
var inboxTabs = []string{ingest.StatusOpen, ingest.StatusAcknowledged, ingest.StatusClosed, ingest.StatusWithdrawn}

type inboxRow struct {
	ingest.Alarm
	Deliveries []notify.Delivery
	Sent       int
	Failed     int
	Pending    int
}

type ackOutcome struct {
	ID    int64
	OK    bool
	Error string
}

type inboxView struct {
	web.Page
	Status  string
	Tabs    []string
	AssetID string
	Rows    []inboxRow
	Total   int
	// TotalCapped: there are more than Total (totals are counted up to pg.CountCap).
	TotalCapped bool
	Offset      int
	Next        string
	Results     []ackOutcome
	Acked       int
	Comment     string
}

// inboxPage is what one page lists: still scrollable on a phone, and within what one acknowledgement may cover
// (ingest.MaxAck), so "select all on this page" is always accepted.
const inboxPage = 100

func (m *Module) alarmsPage(c *gin.Context) { m.inbox(c, nil, "") }

func (m *Module) inbox(c *gin.Context, results []ackOutcome, comment string) {
	ctx, p := c.Request.Context(), rest.Principal(c)
	status := c.DefaultQuery("status", ingest.StatusOpen)
	valid := false
	for _, s := range inboxTabs {
		valid = valid || s == status
	}
	if !valid {
		status = ingest.StatusOpen // a stale or mistyped link still lands on what needs doing
	}
	offset, _ := strconv.Atoi(c.Query("offset")) // a bad offset reads as the first page
	offset = max(0, offset)
	v := inboxView{Page: m.page(c, "告警 Alarms", "alarms"), Status: status, Tabs: inboxTabs, AssetID: c.Query("asset"), Offset: offset,
		Results: results, Comment: comment}
	for _, r := range results {
		if r.OK {
			v.Acked++
		}
	}
	alarms, total, err := m.d.Console.Alarms(ctx, p, ingest.ConsoleAlarms{Status: []string{status}, AssetID: v.AssetID},
		ingest.Page{Limit: inboxPage, Offset: offset})
	if err != nil {
		m.fail(c, err)
		return
	}
	var capped bool // beyond pg.CountCap alarms the count stops: there may be more
	v.Total, capped = pg.Total(total)
	v.TotalCapped = capped
	if offset+len(alarms) < v.Total || (capped && len(alarms) == inboxPage) {
		q := url.Values{"status": {status}, "offset": {strconv.Itoa(offset + inboxPage)}}
		if v.AssetID != "" {
			q.Set("asset", v.AssetID)
		}
		v.Next = "/ops/alarms?" + q.Encode()
	}
	hist, err := m.history(c, alarms)
	if err != nil {
		m.fail(c, err)
		return
	}
	for _, a := range alarms {
		row := inboxRow{Alarm: a, Deliveries: hist[a.ID]}
		for _, d := range row.Deliveries {
			switch d.Status {
			case notify.Sent:
				row.Sent++
			case notify.Failed:
				row.Failed++
			default:
				row.Pending++
			}
		}
		v.Rows = append(v.Rows, row)
	}
	m.pages.Render(c, http.StatusOK, "ops-alarms", v)
}

// history returns the notifications of the alarms (those to channels the viewer sees), in one query for the
// page rather than one per alarm. Deliveries are scoped by notify, not here: a carrier must not learn that a
// coordinator's channel was told about its truck. At most 500 (five per alarm of a full page); an alarm's own
// page asks for its alone.
func (m *Module) history(c *gin.Context, alarms []ingest.Alarm) (map[int64][]notify.Delivery, error) {
	out := map[int64][]notify.Delivery{}
	if m.d.Notify == nil || len(alarms) == 0 {
		return out, nil
	}
	ids := make([]int64, len(alarms))
	for i, a := range alarms {
		ids[i] = a.ID
	}
	ds, _, err := m.d.Notify.Deliveries(c.Request.Context(), rest.Principal(c), notify.DeliveryFilter{AlarmIDs: ids}, pg.Page{Limit: 500})
	if err != nil {
		return nil, err
	}
	for i := len(ds) - 1; i >= 0; i-- { // oldest first
		out[ds[i].AlarmID] = append(out[ds[i].AlarmID], ds[i])
	}
	return out, nil
}

// ackSubmit acknowledges the alarms ticked and answers with the page itself, not a redirect: the outcome of
// each alarm (acknowledged, already acknowledged by someone else, not found) must be shown, and posting the same
// form again is harmless since each alarm can be acknowledged only once.
func (m *Module) ackSubmit(c *gin.Context) {
	var ids []int64
	for _, s := range c.PostFormArray("id") {
		// The ids come from the page's checkboxes; one that is not an id was not ours to act on, and an empty
		// list is Console.Ack's to refuse with its own message.
		if id, err := strconv.ParseInt(s, 10, 64); err == nil && id > 0 {
			ids = append(ids, id)
		}
	}
	comment := c.PostForm("comment")
	res, err := m.d.Console.Ack(c.Request.Context(), rest.Principal(c), ids, comment)
	if err != nil && errs.CodeOf(err) != errs.Unprocessable {
		m.fail(c, err) // forbidden or our fault: nothing to show beside the form
		return
	}
	var out []ackOutcome
	if err != nil {
		out = append(out, ackOutcome{Error: fieldText(err)})
	}
	for _, r := range res {
		o := ackOutcome{ID: r.ID, OK: r.Err == nil}
		if r.Err != nil {
			o.Error = fieldText(r.Err)
		}
		out = append(out, o)
	}
	// back names the alarm page the form was on, so an acknowledgement from there stays there.
	back := c.PostForm("back")
	if id, err := strconv.ParseInt(back, 10, 64); err == nil && id > 0 {
		m.alarmDetail(c, id, out)
		return
	}
	keep := ""
	if len(res) == 0 {
		keep = comment // nothing was done: let the person fix the form
	}
	m.inbox(c, out, keep)
}

// fieldText flattens an error and its fields into the one line each outcome gets.
func fieldText(err error) string {
	e := errs.As(err)
	if e == nil {
		return "出错了 Something went wrong"
	}
	msg := e.Message
	for _, f := range e.Fields {
		msg += " · " + f.Field + ": " + f.Message
	}
	return msg
}

type alarmView struct {
	web.Page
	A       ingest.Alarm
	Events  []ingest.AlarmEvent
	Notes   []deliveryView
	Results []ackOutcome
	// CanAck hides the form when there is nothing to acknowledge: already acknowledged, or withdrawn because
	// late readings showed the condition never happened.
	CanAck   bool
	AssetRef string
}

type deliveryView struct {
	notify.Delivery
	Attempts []notify.Attempt
}

func (m *Module) alarmPage(c *gin.Context) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		// Not an id: the same 404 as an alarm that does not exist or that the viewer may not see.
		m.fail(c, errs.E(errs.NotFound, "alarm %q not found", c.Param("id")))
		return
	}
	m.alarmDetail(c, id, nil)
}

func (m *Module) alarmDetail(c *gin.Context, id int64, results []ackOutcome) {
	ctx, p := c.Request.Context(), rest.Principal(c)
	a, err := m.d.Console.Alarm(ctx, p, id)
	if err != nil {
		m.fail(c, err)
		return
	}
	// AlarmHistory is not scoped: it is read only after Console.Alarm has found the alarm among those p sees.
	events, err := m.d.Console.Store.AlarmHistory(ctx, id)
	if err != nil {
		m.fail(c, err)
		return
	}
	v := alarmView{Page: m.page(c, "告警 Alarm "+strconv.FormatInt(id, 10), "alarms"), A: a, Events: events, Results: results,
		CanAck: a.AckedAt == nil && a.Status != ingest.StatusWithdrawn}
	hist, err := m.history(c, []ingest.Alarm{a})
	if err != nil {
		m.fail(c, err)
		return
	}
	// One query per delivery is fine here: an alarm has one per rule and event (raised, ended, acknowledged),
	// a handful, and this page shows a single alarm.
	for _, d := range hist[id] {
		att, err := m.d.Notify.Attempts(ctx, p, d.ID)
		if err != nil {
			m.fail(c, err)
			return
		}
		v.Notes = append(v.Notes, deliveryView{Delivery: d, Attempts: att})
	}
	m.pages.Render(c, http.StatusOK, "ops-alarm", v)
}
