package planapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/api/web"
	"github.com/suilong/suilong/plan"
)

// dashboardView is the plan's front page: progress by domain, what is overdue or at risk, and the live KPIs
// (DESIGN.md "Plan"), for a coordinator preparing the next joint meeting.
type dashboardView struct {
	web.Page
	D    *plan.Dashboard
	Year int
	// Reportable links only the years that have a report, so no link on the page leads to a 422.
	Reportable []int
}

func (m *Module) dashboardPage(c *gin.Context) {
	d, err := m.d.Plan.Dashboard(c.Request.Context(), rest.Principal(c))
	if err != nil {
		m.pageError(c, err)
		return
	}
	m.pages.Render(c, http.StatusOK, "dashboard", dashboardView{Page: m.page(c, "对口合作实施方案跟踪 Plan tracking", "dashboard"), D: d,
		Year: d.AsOf.Year(), Reportable: m.years()})
}

// years are the years a report can be had for: the plan's years that have begun, in China's calendar, as
// plan.Report accepts them.
func (m *Module) years() []int {
	var out []int
	for y := plan.FirstYear; y <= plan.LastYear && y <= m.d.Plan.Store.Now().In(plan.CST).Year(); y++ {
		out = append(out, y)
	}
	return out
}
