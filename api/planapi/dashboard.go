package planapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/web"
	"github.com/suilong/suilong/plan"
)

type dashboardView struct {
	web.Page
	D          *plan.Dashboard
	Year       int
	Reportable []int
}

func (m *Module) dashboardPage(c *gin.Context) {
	d, err := m.d.Plan.Dashboard(c.Request.Context(), principal(c))
	if err != nil {
		m.pageError(c, err)
		return
	}
	m.pages.Render(c, http.StatusOK, "dashboard", dashboardView{Page: m.page(c, "对口合作实施方案跟踪 Plan tracking", "dashboard"), D: d,
		Year: d.AsOf.Year(), Reportable: m.years()})
}

// years are the years a report can be had for.
func (m *Module) years() []int {
	var out []int
	for y := plan.FirstYear; y <= plan.LastYear && y <= m.d.Plan.Store.Now().In(plan.CST).Year(); y++ {
		out = append(out, y)
	}
	return out
}
