// Package recallapi is the HTTP side of recalls: the JSON API under /api/v1/recalls for bases and
// coordinators (bearer key or the web session), the CSV of a recall for a spreadsheet, and the printable
// pages /ops/recalls and /ops/recalls/{id} for the duty officers (signed in through package web). It
// translates HTTP to calls of package trace.
package recallapi

import (
	"bytes"
	"embed"
	"encoding/csv"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/api/web"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/trace"
)

// Deps are the module's collaborators.
type Deps struct {
	Service *trace.Service
	Site    *web.Site
}

// Module serves the recall routes.
type Module struct {
	d     Deps
	pages *web.Renderer
}

//go:embed templates/*.html.tmpl
var templateFS embed.FS

var funcs = template.FuncMap{
	"peak": func(p *float64) string {
		if p == nil {
			return "—"
		}
		return fmt.Sprintf("%.1f °C", *p)
	},
	"statusZH": statusZH,
	"stateZH":  stateZH,
	"whenp": func(t *time.Time) string {
		if t == nil {
			return "—"
		}
		return t.In(web.CST).Format("2006-01-02 15:04")
	},
}

// New returns the module.
func New(d Deps) *Module { return &Module{d: d, pages: d.Site.NewRenderer(templateFS, funcs)} }

// recallers are the roles DESIGN.md's "Recall and records" lets start and follow recalls: a base may recall
// its own lots (trace decides which), coordinators any. Buyers and carriers hear of a recall through their
// notification channels instead, so the routes turn them away before a handler runs.
var recallers = rest.RequireRole(auth.RoleAdmin, auth.RoleCoordinator, auth.RoleBase)

// Section is the recall pages' header; the console's own navigation links to /ops/recalls.
var Section = web.Section{
	Brand: web.Brand{ZH: "召回", EN: "recalls", Href: "/ops/recalls"},
	Links: []web.Link{{Key: "recalls", Href: "/ops/recalls", ZH: "召回记录", EN: "Recalls"}},
}

// Routes registers the API under /api/v1 and the pages on root.
func (m *Module) Routes(v1 *gin.RouterGroup, root *gin.Engine) {
	v1.POST("/recalls", recallers, m.create)
	v1.GET("/recalls", recallers, m.list)
	// One route for the recall and its CSV ("12.csv"): gin keeps one parameter name per segment.
	v1.GET("/recalls/:id", recallers, m.get)
	v1.POST("/recalls/:id/status", recallers, m.setStatus)

	// The printable pages are for the duty officers only: they list every holder's contacts, which a base's
	// own recall through the API shows redacted for other organisations' lots.
	p := root.Group("/ops/recalls", m.d.Site.RequireSession(Section, auth.Principal.Staff))
	p.GET("", m.listPage)
	p.GET("/:id", m.page)
}

func (m *Module) create(c *gin.Context) {
	var req trace.NewRecall
	if err := rest.Bind(c, &req); err != nil {
		rest.Problem(c, err)
		return
	}
	// The recall is found and stored in one call: an inspector's two-hour clock starts at the request, so the
	// answer is the finished recall (lots, holders, exposure), not a job to poll.
	r, err := m.d.Service.CreateRecall(c.Request.Context(), rest.Principal(c), req)
	if err == nil {
		c.Header("Location", "/api/v1/recalls/"+strconv.FormatInt(r.ID, 10))
	}
	rest.Reply(c, http.StatusCreated, r, err)
}

func (m *Module) list(c *gin.Context) {
	// An unknown status is refused rather than ignored: an empty list would read as "no open recalls".
	st := trace.RecallStatus(c.Query("status"))
	if st != "" && st != trace.RecallOpen && st != trace.RecallNotified && st != trace.RecallClosed {
		rest.Problem(c, rest.BadQuery("status", "must be open, notified or closed"))
		return
	}
	rest.ListPage(c, func(p rest.PageReq) ([]trace.Recall, int, error) {
		return m.d.Service.Recalls(c.Request.Context(), rest.Principal(c), trace.RecallFilter{Status: st, Limit: p.Limit, Offset: p.Offset, After: p.After})
	})
}

func (m *Module) get(c *gin.Context) {
	raw, isCSV := strings.CutSuffix(c.Param("id"), ".csv")
	// A malformed id is a 404 like a missing one (and like one the caller may not see): nothing tells a
	// base which recall numbers exist.
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		rest.Problem(c, errs.E(errs.NotFound, "recall %q not found", c.Param("id")))
		return
	}
	r, err := m.d.Service.Recall(c.Request.Context(), rest.Principal(c), id)
	if err != nil || !isCSV {
		rest.Reply(c, http.StatusOK, r, err)
		return
	}
	// The CSV is the same recall the caller may see as JSON (trace has already redacted it), served as a
	// download so that a browser hands it to the spreadsheet rather than showing it.
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="recall-%d.csv"`, r.ID))
	c.Data(http.StatusOK, "text/csv; charset=utf-8", CSV(r))
}

type statusReq struct {
	Status trace.RecallStatus `json:"status"`
	Note   string             `json:"note"`
}

func (m *Module) setStatus(c *gin.Context) {
	rest.WithID(c, func(id int64) {
		var req statusReq
		if err := rest.Bind(c, &req); err != nil {
			rest.Problem(c, err)
			return
		}
		// trace checks the transition (open → notified → closed) and records who made it with the note, for
		// the recall's audit; this handler only translates.
		r, err := m.d.Service.SetRecallStatus(c.Request.Context(), rest.Principal(c), id, req.Status, req.Note)
		rest.Reply(c, http.StatusOK, r, err)
	})
}

// CSV writes a recall as a spreadsheet, one line per exposure of a lot, with a UTF-8 byte order mark so that
// Excel reads the Chinese as Chinese. Cells that a spreadsheet would take for a formula are quoted with a
// leading apostrophe.
func CSV(r trace.Recall) []byte {
	var b bytes.Buffer
	b.WriteString("\ufeff")
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"召回 recall", "状态 status", "批次码 lot", "产品 product", "重量 kg", "基地 base", "产地 county", "采收 harvested",
		"车辆/冷库 asset", "暴露开始 exposed from", "暴露结束 exposed to", "暴露分钟 minutes", "峰值 peak °C", "状态 state",
		"订单 order", "采购方 buyer", "市场 market", "验收 received", "已通知 notified via", "联系人 contacts"})
	tz := func(t time.Time) string { return t.In(web.CST).Format("2006-01-02 15:04") }
	// One line per exposure, each carrying its lot's holder, so that a filtered spreadsheet still says whom
	// to call for every line.
	holderOf := map[string]trace.RecallHolder{}
	for _, h := range r.Holders {
		for _, code := range h.Lots {
			holderOf[code] = h
		}
	}
	for _, l := range r.Lots {
		exps := l.Exposures
		if len(exps) == 0 {
			exps = []trace.Exposure{{}}
		}
		h := holderOf[l.Code]
		var people []string
		for _, p := range h.People {
			people = append(people, p.Name)
		}
		for _, x := range exps {
			row := []string{strconv.FormatInt(r.ID, 10), string(r.Status), l.Code, l.ProductZH + " " + l.Product, strconv.FormatInt(l.Kg, 10),
				l.Base + " " + l.BaseSite, l.County, tz(l.HarvestedAt), x.AssetID, "", "", strconv.Itoa(x.Minutes), "", string(l.State),
				"", l.Holder.Buyer, l.Holder.Market, "", strings.Join(h.Channels, "; "), h.Name + " " + strings.Join(people, "、")}
			if !x.From.IsZero() {
				row[9], row[10] = tz(x.From), tz(x.To)
			}
			if x.PeakC != nil {
				row[12] = strconv.FormatFloat(*x.PeakC, 'f', 1, 64)
			}
			if l.Holder.OrderID != nil {
				row[14] = strconv.FormatInt(*l.Holder.OrderID, 10)
			}
			if l.Holder.ReceivedAt != nil {
				row[17] = tz(*l.Holder.ReceivedAt)
			}
			for i, v := range row {
				row[i] = cell(strings.TrimSpace(v))
			}
			_ = w.Write(row)
		}
	}
	w.Flush()
	return b.Bytes()
}

// cell keeps a spreadsheet from running user text as a formula (CSV injection).
func cell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			return "'" + v
		}
	}
	return v
}

// --- pages

type listView struct {
	web.Page
	Recalls []trace.Recall
	Total   int
}

type recallView struct {
	web.Page
	R       trace.Recall
	Holders map[string]trace.RecallHolder
	Minutes int
}

func (m *Module) listPage(c *gin.Context) {
	// The page shows the newest 100 recalls: a cooperation office has a handful a year, and the API pages
	// beyond that for anyone who needs more.
	p := rest.Principal(c)
	rs, total, err := m.d.Service.Recalls(c.Request.Context(), p, trace.RecallFilter{Limit: 100})
	if err != nil {
		m.pages.Error(c, Section, err)
		return
	}
	m.pages.Render(c, http.StatusOK, "recalls", listView{Page: m.d.Site.Page(c, Section, "召回记录 Recalls", "recalls"), Recalls: rs, Total: total})
}

func (m *Module) page(c *gin.Context) {
	p := rest.Principal(c)
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		m.pages.Error(c, Section, errs.E(errs.NotFound, "recall not found"))
		return
	}
	r, err := m.d.Service.Recall(c.Request.Context(), p, id)
	if err != nil {
		m.pages.Error(c, Section, err)
		return
	}
	v := recallView{Page: m.d.Site.Page(c, Section, fmt.Sprintf("召回 #%d Recall", r.ID), "recalls"), R: r, Holders: map[string]trace.RecallHolder{}}
	for _, h := range r.Holders {
		for _, code := range h.Lots {
			v.Holders[code] = h
		}
	}
	// The page's headline is the total exposure, the figure an inspector asks first; each lot's line keeps
	// its own minutes and peak.
	for _, l := range r.Lots {
		v.Minutes += l.ExposureMinutes
	}
	m.pages.Render(c, http.StatusOK, "recall", v)
}

// statusZH and stateZH are the Chinese words the printed page uses beside the English codes; an unknown
// value prints nothing rather than a code a reader would not understand.
func statusZH(s trace.RecallStatus) string {
	return map[trace.RecallStatus]string{trace.RecallOpen: "待通知", trace.RecallNotified: "已通知", trace.RecallClosed: "已结案"}[s]
}

func stateZH(s trace.State) string {
	return map[trace.State]string{trace.AtBase: "在基地", trace.InAsset: "在途/在库", trace.Between: "已卸货", trace.Delivered: "已验收"}[s]
}
