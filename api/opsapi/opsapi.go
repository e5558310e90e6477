// Package opsapi is the cold-chain duty officers' console: server-rendered pages under /ops (signed in through
// package web) showing the fleet of trucks and cold stores with each sensor's latest temperature against its
// band, an asset's chart with its alarms, the alarm inbox with acknowledgement and each alarm's notifications,
// the dead letter with what gateways' owners must fix, the gateways with their credential reset, and the
// notification channels with their health. Chinese first with English beside, usable on a phone and at a desk,
// no script: the fleet page reloads itself with a meta refresh. Who sees what is ingest.Console's rule (admins
// and coordinators everything; an organisation its own assets and gateways); this package only translates.
package opsapi

import (
	"context"
	"embed"
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/web"
	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/coldchain"
	"github.com/suilong/suilong/notify"
)

//go:embed templates/*.html.tmpl
var templateFS embed.FS

// Series is the readings query the asset page charts (ingest's readings adapter). It may be nil (no InfluxDB
// wired): the asset page then draws an empty chart, and the rest of the console still works from PostgreSQL.
type Series interface {
	SeriesOf(ctx context.Context, assetID string, f ingest.SeriesFilter, from, to time.Time, every time.Duration) ([]coldchain.Window, error)
}

// Deps are the module's collaborators.
type Deps struct {
	Site    *web.Site
	Console *ingest.Console
	// Notify may be nil: the pages then leave out notification history and failing channels.
	Notify *notify.Service
	Series Series
	// Refresh is how often the fleet page reloads itself (default 30s): often enough for a screen left open on
	// the duty desk, cheap because Console.Fleet is a few queries whatever the fleet's size.
	Refresh time.Duration
	// Now is the clock of the chart ranges, the dead-letter windows and the cards' "ago".
	Now func() time.Time
}

// Module serves the /ops pages.
type Module struct {
	d     Deps
	pages *web.Renderer
}

// New returns the module.
func New(d Deps) *Module {
	if d.Refresh <= 0 {
		d.Refresh = 30 * time.Second
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Module{d: d, pages: d.Site.NewRenderer(templateFS, funcs)}
}

// section is the console's header. The recall pages (/ops/recalls) join it when they exist.
var section = web.Section{
	Brand: web.Brand{ZH: "冷链值班", EN: "cold-chain duty", Href: "/ops"},
	Links: []web.Link{
		{Key: "fleet", Href: "/ops", ZH: "车辆与冷库", EN: "Fleet"},
		{Key: "alarms", Href: "/ops/alarms", ZH: "告警", EN: "Alarms"},
		{Key: "dead", Href: "/ops/dead-letters", ZH: "异常数据", EN: "Dead letters"},
		{Key: "gateways", Href: "/ops/gateways", ZH: "网关", EN: "Gateways"},
		{Key: "channels", Href: "/ops/channels", ZH: "通知", EN: "Notifications"},
		{Href: "/market", ZH: "菜篮子产销对接", EN: "Market", For: auth.Principal.Staff},
	},
}

// allowed admits the people whose organisation sees part of the cold chain. It is ingest.ScopeOf's rule, so the
// pages admit exactly those whose queries could show them something; every Console call scopes what it returns
// again (staff: everything; others: their organisation's assets and gateways), which is what keeps one
// carrier's trucks out of another's console.
func allowed(p auth.Principal) bool {
	_, err := ingest.ScopeOf(p)
	return err == nil
}

// Routes registers the pages on root. The page names are DESIGN.md "People act on the cold chain"'s; the alarm
// page and the channels are ours. RequireSession checks every POST's CSRF token. One ack route serves the inbox's
// many alarms and an alarm page's one, so both follow the same rules.
func (m *Module) Routes(_ *gin.RouterGroup, root *gin.Engine) {
	g := root.Group("/ops", m.d.Site.RequireSession(section, allowed))
	g.GET("", m.fleetPage)
	g.GET("/assets/:id", m.assetPage)
	g.GET("/alarms", m.alarmsPage)
	g.POST("/alarms/ack", m.ackSubmit)
	g.GET("/alarms/:id", m.alarmPage)
	g.GET("/dead-letters", m.deadLettersPage)
	g.GET("/gateways", m.gatewaysPage)
	g.POST("/gateways/:id/credentials", m.resetSubmit)
	g.GET("/channels", m.channelsPage)
}

func (m *Module) page(c *gin.Context, title, nav string) web.Page {
	return m.d.Site.Page(c, section, title, nav)
}

func (m *Module) fail(c *gin.Context, err error) { m.pages.Error(c, section, err) }

// funcs turn states into words here, beside the pages that show them, rather than in ingest's or notify's
// records. An unknown value comes out as itself, so a new state shows up untranslated instead of blank.
var funcs = template.FuncMap{
	"band": func(b ingest.Band) string {
		if s := b.String(); s != "" {
			return s
		}
		return "—"
	},
	"temp":       func(v float64) string { return fmt.Sprintf("%.1f °C", v) },
	"ptemp":      func(v *float64) string { return optNum(v, "%.1f °C") },
	"pct":        func(v *float64) string { return optNum(v, "%.0f%%") },
	"agoZH":      func(t time.Time) string { return ago(t, time.Now(), false) },
	"agoEN":      func(t time.Time) string { return ago(t, time.Now(), true) },
	"pagoZH":     func(t *time.Time) string { return pago(t, false) },
	"pagoEN":     func(t *time.Time) string { return pago(t, true) },
	"pwhen":      func(t *time.Time) string { return pwhen(t) },
	"assetZH":    func(k ingest.AssetKind) string { return assetWords(k, false) },
	"assetEN":    func(k ingest.AssetKind) string { return assetWords(k, true) },
	"wordZH":     func(k any) string { zh, _ := notify.Words(fmt.Sprint(k)); return zh },
	"wordEN":     func(k any) string { _, en := notify.Words(fmt.Sprint(k)); return en },
	"statusZH":   func(s string) string { return statusWords(s, false) },
	"statusEN":   func(s string) string { return statusWords(s, true) },
	"gwZH":       func(s string) string { return gatewayWords(s, false) },
	"gwEN":       func(s string) string { return gatewayWords(s, true) },
	"deliveryZH": func(s string) string { return deliveryWords(s, false) },
	"deliveryEN": func(s string) string { return deliveryWords(s, true) },
	"advice":     ingest.AdviceFor,
	"deref":      func(s *string) string { return derefStr(s) },
	"deref2":     func(b *bool) bool { return b != nil && *b },
	"subf":       func(a, b float64) float64 { return a - b },
	"addf":       func(a, b float64) float64 { return a + b },
	"inc":        func(i int) int { return i + 1 },
	"list":       func(s ...string) []string { return s },
	"join":       strings.Join,
	"derefID":    func(p *int64) int64 { return derefID(p) },
	"sinceZH": func(k string) string {
		return map[string]string{"24h": "最近 24 小时", "7d": "最近 7 天", "30d": "最近 30 天"}[k]
	},
	"sinceEN": func(k string) string {
		return map[string]string{"24h": "last 24 h", "7d": "last 7 days", "30d": "last 30 days"}[k]
	},
	"kindOfChannelZH": func(k notify.Kind) string { return channelWords(k, false) },
	"kindOfChannelEN": func(k notify.Kind) string { return channelWords(k, true) },
}

// optNum shows a missing value, and NaN, as a dash: a duty officer must never read "NaN °C".
func optNum(v *float64, format string) string {
	if v == nil || math.IsNaN(*v) {
		return "—"
	}
	return fmt.Sprintf(format, *v)
}

func derefID(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func derefStr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// pwhen writes China Standard Time whatever the server's zone: duty officers in Guangzhou and Longyan compare it
// with their phones' clocks.
func pwhen(t *time.Time) string {
	if t == nil {
		return "—"
	}
	return t.In(web.CST).Format("2006-01-02 15:04")
}

func pago(t *time.Time, en bool) string {
	if t == nil {
		if en {
			return "never"
		}
		return "从未"
	}
	return ago(*t, time.Now(), en)
}

// ago says how long ago t was, roughly, as people say it.
func ago(t, now time.Time, en bool) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute && en:
		return "just now"
	case d < time.Minute:
		return "刚刚"
	case d < time.Hour && en:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < time.Hour:
		return fmt.Sprintf("%d 分钟前", int(d.Minutes()))
	case d < 48*time.Hour && en:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d 小时前", int(d.Hours()))
	case en:
		return fmt.Sprintf("%d days ago", int(d.Hours()/24))
	}
	return fmt.Sprintf("%d 天前", int(d.Hours()/24))
}

func pick(en bool, zh, e string) string {
	if en {
		return e
	}
	return zh
}

func assetWords(k ingest.AssetKind, en bool) string {
	switch k {
	case ingest.KindTruck:
		return pick(en, "冷藏车", "reefer truck")
	case ingest.KindColdStore:
		return pick(en, "冷库", "cold store")
	}
	return string(k)
}

func statusWords(s string, en bool) string {
	switch s {
	case ingest.StatusOpen:
		return pick(en, "待确认", "open")
	case ingest.StatusAcknowledged:
		return pick(en, "已确认", "acknowledged")
	case ingest.StatusClosed:
		return pick(en, "已关闭", "closed")
	case ingest.StatusWithdrawn:
		return pick(en, "已撤回", "withdrawn")
	}
	return s
}

func gatewayWords(s string, en bool) string {
	switch s {
	case "online":
		return pick(en, "在线", "online")
	case "offline":
		return pick(en, "离线", "offline")
	}
	return pick(en, "未知", "unknown") // no retained status yet: neither online nor offline
}

func deliveryWords(s string, en bool) string {
	switch s {
	case notify.Sent:
		return pick(en, "已送达", "sent")
	case notify.Pending:
		return pick(en, "待发送", "pending")
	case notify.Failed:
		return pick(en, "发送失败", "failed")
	}
	return s
}

func channelWords(k notify.Kind, en bool) string {
	switch k {
	case notify.Webhook:
		return pick(en, "Webhook", "webhook")
	case notify.WeCom:
		return pick(en, "企业微信群机器人", "WeCom group robot")
	case notify.DingTalk:
		return pick(en, "钉钉群机器人", "DingTalk group robot")
	case notify.Email:
		return pick(en, "电子邮件", "email")
	}
	return string(k)
}
