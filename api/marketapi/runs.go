package marketapi

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/api/web"
	"github.com/suilong/suilong/matching"
)

// priceRule is one price rule a coordinator may pick for a run, in both languages.
type priceRule struct {
	Value  matching.PriceRule
	ZH, EN string
}

var priceRules = []priceRule{
	{matching.PriceMidpoint, "差价平分（默认）", "split the gap (default)"},
	{matching.PriceOffer, "按基地最低价（差价归采购方）", "base's floor: the gap goes to the buyer"},
	{matching.PriceDemand, "按采购方最高价（差价归基地）", "buyer's ceiling: the gap goes to the base"},
}

type runsView struct {
	web.Page
	Runs  []matching.Run
	Total int
	Next  string
	Rules []priceRule
	Form  *form
}

// runsPage lists the matching runs. They show every party's offers, demands and prices, so they are the
// coordinators' alone: the domain refuses anyone else (403), and the link is hidden from them.
func (m *Module) runsPage(c *gin.Context) { m.showRuns(c, http.StatusOK, newForm()) }

func (m *Module) showRuns(c *gin.Context, status int, f *form) {
	v := runsView{Page: m.page(c, "撮合运行 Runs", "runs"), Rules: priceRules, Form: f}
	var err error
	if v.Runs, v.Total, err = m.d.Matching.Runs(c.Request.Context(), rest.Principal(c), listPage(c)); err != nil {
		m.fail(c, err)
		return
	}
	v.Next = nextCursor(v.Runs)
	m.render(c, status, "market-runs", v)
}

// runStart matches the open pool now, as POST /api/v1/matching/runs does.
func (m *Module) runStart(c *gin.Context) {
	f := postedForm(c)
	run, err := m.d.Matching.StartRun(c.Request.Context(), rest.Principal(c), matching.RunOptions{PriceRule: matching.PriceRule(f.V("price_rule"))})
	if f.refused(err) {
		m.showRuns(c, http.StatusUnprocessableEntity, f)
		return
	}
	if err != nil {
		m.fail(c, err)
		return
	}
	done(c, "/market/runs/"+strconv.FormatInt(run.ID, 10)+"?done=started")
}

type runView struct {
	web.Page
	R    matching.Run
	Ch   choices
	Done string
}

func (m *Module) runPage(c *gin.Context) {
	run, ok := pathRecord(m, c, "run", m.d.Matching.GetRun)
	if !ok {
		return
	}
	var err error
	v := runView{Page: m.page(c, "撮合运行 #"+strconv.FormatInt(run.ID, 10)+" Run", "runs"), R: run, Done: c.Query("done")}
	if v.Ch, err = m.choices(c.Request.Context()); err != nil {
		m.fail(c, err)
		return
	}
	m.render(c, http.StatusOK, "market-run", v)
}

// ruleWords is a price rule in both languages.
func ruleWords(r matching.PriceRule) string {
	for _, p := range priceRules {
		if p.Value == r {
			return p.ZH + " · " + p.EN
		}
	}
	return string(r)
}
