package marketapi

import (
	"bytes"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/api/web"
	"github.com/suilong/suilong/matching"
	"github.com/suilong/suilong/matching/solve"
)

type reportView struct {
	web.Page
	Rep   matching.RoundReport
	Staff bool
	Ch    choices
}

// reportPage is a round's report: the whole round for coordinators, a base's or buyer's own line for them
// (the domain's scope).
func (m *Module) reportPage(c *gin.Context) {
	r, ok := m.mustRound(c)
	if !ok {
		return
	}
	ctx, p := c.Request.Context(), rest.Principal(c)
	rep, err := m.d.Matching.RoundReport(ctx, p, r.ID)
	if err != nil {
		m.fail(c, err)
		return
	}
	v := reportView{Page: m.page(c, "轮次报告 "+r.Name+" Report", "rounds"), Rep: rep, Staff: p.Staff()}
	if v.Ch, err = m.choices(ctx); err != nil {
		m.fail(c, err)
		return
	}
	m.render(c, http.StatusOK, "market-report", v)
}

// reportCSV is the report's CSV under the session, with the BOM and the same scope as the page. The API
// serves the same file, and the session cookie would be taken there too; the link points here so that it
// behaves like the page beside it: a person signed out is sent to sign in and back, not given a 401 in JSON,
// and a refusal is the market's error page in both languages rather than problem+json.
func (m *Module) reportCSV(c *gin.Context) {
	r, ok := m.mustRound(c)
	if !ok {
		return
	}
	rep, err := m.d.Matching.RoundReport(c.Request.Context(), rest.Principal(c), r.ID)
	if err != nil {
		m.fail(c, err)
		return
	}
	// Into a buffer first, as the API does, so that a failure is an error page and not a 200 with half a file.
	// The BOM (WriteCSV) is for spreadsheets on Chinese Windows, which read UTF-8 without it as GBK.
	var b bytes.Buffer
	if err := rep.WriteCSV(&b); err != nil {
		m.fail(c, err)
		return
	}
	// Named by the round's id, never its name: a coordinator's text has no place in a header.
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="round-%d-report.csv"`, r.ID))
	c.Data(http.StatusOK, "text/csv; charset=utf-8", b.Bytes())
}

// reasonNames are the Chinese names of the reasons a run leaves a record unmatched, beside the run's English
// message.
var reasonNames = map[string]string{
	solve.ReasonProduct: "产品不同", solve.ReasonNoDemand: "无此产品的需求", solve.ReasonNoOffer: "无此产品的供应",
	solve.ReasonNoLane: "无运输线路", solve.ReasonShelfLife: "超出保鲜期", solve.ReasonLate: "无法按时送达",
	solve.ReasonGrade: "等级不符", solve.ReasonCertification: "缺少所需认证", solve.ReasonPriceGap: "价格谈不拢",
	solve.ReasonCapacity: "数量已分给更优的配对", solve.ReasonNoQuantity: "已无剩余数量",
	solve.ReasonNoCertificate: "基地无菜篮子证书", solve.ReasonCertificateNotYet: "菜篮子证书尚未生效",
	solve.ReasonCertificateExpired: "菜篮子证书已过期", solve.ReasonCertificateProduct: "菜篮子证书不含此产品",
	solve.ReasonInspectionMissing: "批次无农残检测", solve.ReasonInspectionFailed: "农残检测不合格",
	"pool_limit": "撮合池已满", matching.ReasonDeliveryPassed: "交货期限已过",
}

// reasonZH is a reason code's Chinese name (the code itself when it has none).
func reasonZH(code string) string { return nameOr(reasonNames[code], code) }

// reasonEN is a reason code in plain English, for the report's counts (which carry no message). The run's
// own messages are about one record each, so the run page shows those; a count of many has only its code.
func reasonEN(code string) string {
	return map[string]string{
		solve.ReasonProduct: "different products", solve.ReasonNoDemand: "no demand for the product", solve.ReasonNoOffer: "no offer of the product",
		solve.ReasonNoLane: "no lane", solve.ReasonShelfLife: "beyond shelf life", solve.ReasonLate: "would arrive late",
		solve.ReasonGrade: "grade", solve.ReasonCertification: "lacks a required certification", solve.ReasonPriceGap: "no price both accept",
		solve.ReasonCapacity: "its kilograms went to better pairs", solve.ReasonNoQuantity: "nothing left",
		solve.ReasonNoCertificate: "base holds no 菜篮子 certificate", solve.ReasonCertificateNotYet: "certificate not yet valid",
		solve.ReasonCertificateExpired: "certificate expired", solve.ReasonCertificateProduct: "certificate does not cover the product",
		solve.ReasonInspectionMissing: "no pesticide-residue test of the lot", solve.ReasonInspectionFailed: "the lot failed its test",
		"pool_limit": "the run's pool was full", matching.ReasonDeliveryPassed: "its deliver-by had passed",
	}[code]
}

// reasonLine pairs each of an unmatched record's reasons with its code.
type reasonLine struct{ Code, ZH, Message string }

func reasonLines(u matching.Unmatched) []reasonLine {
	out := make([]reasonLine, len(u.Reasons))
	for i, msg := range u.Reasons {
		code := ""
		if i < len(u.ReasonCodes) {
			code = u.ReasonCodes[i]
		}
		out[i] = reasonLine{Code: code, ZH: reasonZH(code), Message: msg}
	}
	return out
}
