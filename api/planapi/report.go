package planapi

import (
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/api/web"
	"github.com/suilong/suilong/plan"
)

// reportView is 年度总结通报, the yearly report the two cities circulate: it is printed and forwarded, so it
// must read on its own.
type reportView struct {
	web.Page
	R     *plan.Report
	Years []int
}

// reportView is standalone (no site header or navigation) when reached through the API URL, a document opened
// on its own to print; under /plan it keeps the header of the pages around it.
func (m *Module) reportView(c *gin.Context, r *plan.Report, standalone bool) reportView {
	b := m.page(c, fmt.Sprintf("%d 年度总结通报 Annual report %d", r.Year, r.Year), "report")
	b.Standalone = standalone
	return reportView{Page: b, R: r, Years: m.years()}
}

func (m *Module) reportPage(c *gin.Context) {
	year, err := m.reportYear(c)
	if err == nil {
		var r *plan.Report
		if r, err = m.d.Plan.Report(c.Request.Context(), rest.Principal(c), year); err == nil {
			m.pages.Render(c, http.StatusOK, "report", m.reportView(c, r, false))
			return
		}
	}
	m.pageError(c, err)
}
