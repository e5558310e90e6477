package planapi

import (
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/api/web"
	"github.com/suilong/suilong/plan"
)

// sectionView is a domain's or safeguard's page: what a coordinator responsible for one of the plan's ten
// domains (or four safeguards) reads first, with the KPIs measured for the tasks under it.
type sectionView struct {
	web.Page
	Section *plan.Item
	KPIs    []plan.KPI
}

func (m *Module) domainPage(c *gin.Context) {
	d, pl, err := m.d.Plan.Detail(c.Request.Context(), rest.Principal(c), c.Param("code"))
	if err != nil {
		m.pageError(c, err)
		return
	}
	if d.Parent != "" {
		// Only top-level items have a section page; the others are items. A redirect rather than a 404 because
		// codes are typed and shared by hand (T4.6 under /plan/domains/ is an easy slip), and the item exists.
		c.Redirect(http.StatusSeeOther, "/plan/items/"+url.PathEscape(d.Code))
		return
	}
	_ = pl
	m.pages.Render(c, http.StatusOK, "section", sectionView{Page: m.page(c, d.Label()+" · "+plan.KindZH(d.Kind), "dashboard"), Section: d.Item, KPIs: d.KPIs})
}
