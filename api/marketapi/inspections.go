package marketapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/api/web"
	"github.com/suilong/suilong/trace"
)

type lotView struct {
	web.Page
	L           trace.Lot
	Inspections []trace.Inspection
	CanRecord   bool // the lot's base or a coordinator records its 农残检测
	IsBase      bool
	Form        *form
	Done        string
}

// lotPage is a lot as its base, its buyer and the coordinators see it: what it is, its 农残检测 results, and for
// its base the form to record one.
func (m *Module) lotPage(c *gin.Context) {
	f := newForm()
	f.Values["tested_on"] = m.d.Site.Now().In(web.CST).Format(time.DateOnly)
	m.showLot(c, http.StatusOK, f)
}

func (m *Module) showLot(c *gin.Context, status int, f *form) {
	ctx, p := c.Request.Context(), rest.Principal(c)
	l, ok := pathRecord(m, c, "lot", m.d.Trace.Lot)
	if !ok {
		return
	}
	var err error
	lid := l.ID
	v := lotView{Page: m.page(c, "批次 "+l.Code+" Lot", "orders"), L: l, IsBase: p.OrgID == l.OrgID, Form: f, Done: c.Query("done")}
	// The lot's base and coordinators record results; trace.Service checks it again when the form is posted.
	v.CanRecord = v.IsBase || p.Staff()
	if v.Inspections, err = m.d.Trace.Inspections(ctx, p, lid); err != nil {
		m.fail(c, err)
		return
	}
	m.render(c, status, "market-lot", v)
}

// inspectionCreate records a 农残检测 of the lot; the domain admits only the lot's base and coordinators.
func (m *Module) inspectionCreate(c *gin.Context) {
	lid, err := id(c, "lot")
	if err != nil {
		m.fail(c, err)
		return
	}
	f := postedForm(c)
	n := trace.NewInspection{Result: trace.InspectionResult(f.V("result")), Lab: f.V("lab"), ReportNumber: f.V("report_number"), Note: f.V("note")}
	// The day is read in China time, as trace compares it with the harvest day and today.
	if s := f.V("tested_on"); s != "" {
		t, err := time.ParseInLocation(time.DateOnly, s, web.CST)
		if err != nil {
			f.add("tested_on", "must be a date such as 2026-11-20, not "+strconv.Quote(s))
			t = invalidTime
		}
		n.TestedOn = &trace.DateOnly{Time: t}
	}
	if _, err := m.d.Trace.RecordInspection(c.Request.Context(), rest.Principal(c), lid, n); err != nil {
		if f.refused(err) {
			m.showLot(c, http.StatusUnprocessableEntity, f)
			return
		}
		m.fail(c, err)
		return
	}
	done(c, "/market/lots/"+strconv.FormatInt(lid, 10)+"?done=inspected#inspections")
}
