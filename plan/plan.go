// Package plan tracks the Guangzhou–Longyan cooperation plan (2023-2027): the plan's items from plan/tree,
// stored in PostgreSQL by code, and what coordinators record against each one (lead departments on each side,
// status, progress, target date, annual work-plan entries, dated updates with evidence links), with an audit log
// of every change. It rolls progress up from measures to tasks to domains, says what is overdue, measures KPIs
// live from the rest of the platform through small source interfaces, and produces the dashboard, the yearly
// report (年度总结通报) and the CSV export.
package plan

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/suilong/suilong/plan/tree"
)

// CST is China Standard Time, the zone of both cities (no daylight saving), in which dates and years are counted.
var CST = time.FixedZone("CST", 8*3600)

// The plan's period: annual entries are for one of these years.
const (
	FirstYear = 2023
	LastYear  = 2027
)

// Status is where an item stands, as its coordinators report it.
type Status string

// The statuses.
const (
	NotStarted Status = "not_started"
	OnTrack    Status = "on_track"
	AtRisk     Status = "at_risk"
	Delayed    Status = "delayed"
	Done       Status = "done"
)

// Statuses lists every status in the order forms offer them.
var Statuses = []Status{NotStarted, OnTrack, AtRisk, Delayed, Done}

var statusNames = map[Status][2]string{
	NotStarted: {"未开始", "Not started"},
	OnTrack:    {"进展顺利", "On track"},
	AtRisk:     {"存在风险", "At risk"},
	Delayed:    {"滞后", "Delayed"},
	Done:       {"已完成", "Done"},
}

// Valid reports whether s is one of Statuses.
func (s Status) Valid() bool { _, ok := statusNames[s]; return ok }

// ZH is the status as the dashboard shows it.
func (s Status) ZH() string { return statusNames[s][0] }

// EN is the status in English.
func (s Status) EN() string { return statusNames[s][1] }

// Date is a calendar day, without time or zone; JSON "2006-01-02". The zero Date is "no date".
type Date struct{ t time.Time }

// NewDate returns the date y-m-d.
func NewDate(y int, m time.Month, d int) Date { return Date{time.Date(y, m, d, 0, 0, 0, 0, time.UTC)} }

// DateOf is the day t falls on in China.
func DateOf(t time.Time) Date {
	y, m, d := t.In(CST).Date()
	return NewDate(y, m, d)
}

// ParseDate parses "2006-01-02".
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("%q is not a date of the form 2025-06-30", s)
	}
	return Date{t}, nil
}

// IsZero reports whether d is no date.
func (d Date) IsZero() bool { return d.t.IsZero() }

// Time is midnight UTC of the day (how PostgreSQL's date is exchanged).
func (d Date) Time() time.Time { return d.t }

// Start is the first instant of the day in China.
func (d Date) Start() time.Time {
	y, m, dd := d.t.Date()
	return time.Date(y, m, dd, 0, 0, 0, 0, CST)
}

// Year is the date's year.
func (d Date) Year() int { return d.t.Year() }

// Before reports whether d is an earlier day than o.
func (d Date) Before(o Date) bool { return d.t.Before(o.t) }

// After reports whether d is a later day than o.
func (d Date) After(o Date) bool { return d.t.After(o.t) }

// AddDays returns the date n days later.
func (d Date) AddDays(n int) Date { return Date{d.t.AddDate(0, 0, n)} }

// DaysSince is how many days d is after o.
func (d Date) DaysSince(o Date) int { return int(math.Round(d.t.Sub(o.t).Hours() / 24)) }

// String is "2006-01-02", or "" for no date.
func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return d.t.Format(time.DateOnly)
}

// MarshalJSON writes the date as a string, or null for no date.
func (d Date) MarshalJSON() ([]byte, error) {
	if d.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(d.String())
}

// UnmarshalJSON reads "2006-01-02" or null.
func (d *Date) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*d = Date{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	x, err := ParseDate(s)
	if err != nil {
		return err
	}
	*d = x
	return nil
}

// Tracking is what coordinators record about an item. An item nobody has touched has the zero Tracking with
// status not_started.
type Tracking struct {
	LeadGuangzhou string `json:"lead_guangzhou"`
	LeadLongyan   string `json:"lead_longyan"`
	Status        Status `json:"status"`
	// Progress is the percentage set by hand, nil when it is left to the roll-up.
	Progress   *int       `json:"progress"`
	TargetDate Date       `json:"target_date"`
	UpdatedAt  *time.Time `json:"updated_at,omitempty"`
	UpdatedBy  string     `json:"updated_by,omitempty"`
}

// Source says where an item's progress comes from.
type Source string

// The sources, in the order the roll-up rule tries them.
const (
	FromExplicit Source = "explicit" // set by hand on the item
	FromDone     Source = "done"     // status done without a figure: 100
	FromChildren Source = "children" // the mean of the item's children
	FromNone     Source = "none"     // no figure reported on the item or below it
)

// Progress is an item's effective progress, 0–100.
type Progress struct {
	Value  float64 `json:"value"`
	Source Source  `json:"source"`
}

// Percent is the value rounded to a whole percent.
func (p Progress) Percent() int { return int(math.Round(p.Value)) }

// Reported reports whether anything was recorded on the item or below it.
func (p Progress) Reported() bool { return p.Source != FromNone }

// Item is an item of the plan with its tracking state and what the rules derive from it.
type Item struct {
	Code     string    `json:"code"`
	Kind     tree.Kind `json:"kind"`
	Number   string    `json:"number,omitempty"`
	Title    string    `json:"title"`
	TitleEN  string    `json:"title_en"`
	Text     string    `json:"text"`
	Parent   string    `json:"parent,omitempty"`
	Position int       `json:"-"`
	Tracking Tracking  `json:"tracking"`
	// Rollup is the effective progress (see Rollup).
	Rollup Progress `json:"progress"`
	// Overdue is true when the target date has passed and the item is not done.
	Overdue  bool    `json:"overdue"`
	Children []*Item `json:"children,omitempty"`
}

// MarshalJSON gives every item its full text: a paragraph's own, and for a heading (domain, task, safeguard
// section), which has no paragraph of its own, the heading itself. The pages show headings as titles instead.
func (it Item) MarshalJSON() ([]byte, error) {
	type plain Item
	p := plain(it)
	if p.Text == "" {
		p.Text = it.Title
	}
	return json.Marshal(p)
}

// Label is a short name for lists: the title, or for paragraphs (goals, measures, safeguard items) the start
// of their text.
func (it *Item) Label() string {
	if it.Title != "" {
		return it.Title
	}
	return Excerpt(it.Text, 40)
}

// KindZH names the kind in Chinese.
func KindZH(k tree.Kind) string {
	switch k {
	case tree.KindGoal:
		return "工作目标"
	case tree.KindDomain:
		return "合作领域"
	case tree.KindTask:
		return "重点任务"
	case tree.KindMeasure:
		return "具体措施"
	case tree.KindSafeguard:
		return "保障措施"
	case tree.KindSafeguardItem:
		return "保障事项"
	}
	return string(k)
}

// KindEN names the kind in English.
func KindEN(k tree.Kind) string {
	switch k {
	case tree.KindGoal:
		return "Goal"
	case tree.KindDomain:
		return "Domain"
	case tree.KindTask:
		return "Task"
	case tree.KindMeasure:
		return "Measure"
	case tree.KindSafeguard:
		return "Safeguard"
	case tree.KindSafeguardItem:
		return "Safeguard item"
	}
	return string(k)
}

// Excerpt is the first n characters of s, with an ellipsis when it was cut.
func Excerpt(s string, n int) string {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// Plan is the whole plan with its tracking state, as of a day.
type Plan struct {
	AsOf       Date    `json:"as_of"`
	Progress   float64 `json:"progress"`
	Goals      []*Item `json:"goals"`
	Domains    []*Item `json:"domains"`
	Safeguards []*Item `json:"safeguards"`
	byCode     map[string]*Item
	all        []*Item
}

// Item returns the item with the code.
func (p *Plan) Item(code string) (*Item, bool) {
	it, ok := p.byCode[code]
	return it, ok
}

// All returns every item in document order.
func (p *Plan) All() []*Item { return p.all }

// Domain returns the domain (or safeguard section, or goal) an item belongs to.
func (p *Plan) Domain(it *Item) *Item {
	for it.Parent != "" {
		up, ok := p.byCode[it.Parent]
		if !ok {
			break
		}
		it = up
	}
	return it
}

// Path is the item's ancestors from the top, without the item.
func (p *Plan) Path(it *Item) []*Item {
	var out []*Item
	for it.Parent != "" {
		up, ok := p.byCode[it.Parent]
		if !ok {
			break
		}
		out = append([]*Item{up}, out...)
		it = up
	}
	return out
}

// Rollup sets every item's effective progress and overdue flag, children before parents. The rule:
//
//  1. A progress set by hand on the item wins.
//  2. Otherwise an item whose status is done counts 100.
//  3. Otherwise an item with children takes the plain mean of all its children's effective progress, a child
//     on which nothing was reported counting 0: a domain with one task finished out of three is a third done,
//     not finished. Each child weighs the same; the plan gives no weights.
//  4. Otherwise it is 0, with source "none" when no figure was reported on the item or anywhere below it (a
//     status other than done is not a figure); pages show that as "progress not reported".
//
// An item is overdue when it has a target date, that day has passed (today is later), and its status is not
// done. The status is the record of completion: 100 % progress alone does not make an item done.
func Rollup(items []*Item, today Date) {
	for _, it := range items {
		rollup(it, today)
	}
}

func rollup(it *Item, today Date) Progress {
	var kids []Progress
	for _, c := range it.Children {
		kids = append(kids, rollup(c, today))
	}
	t := it.Tracking
	it.Overdue = !t.TargetDate.IsZero() && today.After(t.TargetDate) && t.Status != Done
	switch {
	case t.Progress != nil:
		it.Rollup = Progress{Value: float64(*t.Progress), Source: FromExplicit}
	case t.Status == Done:
		it.Rollup = Progress{Value: 100, Source: FromDone}
	default:
		it.Rollup = Progress{Source: FromNone}
		sum, reported := 0.0, false
		for _, k := range kids {
			sum += k.Value
			reported = reported || k.Reported()
		}
		if reported {
			it.Rollup = Progress{Value: sum / float64(len(kids)), Source: FromChildren}
		}
	}
	return it.Rollup
}

// mean is the plain mean of the items' effective progress (0 for none).
func mean(items []*Item) float64 {
	if len(items) == 0 {
		return 0
	}
	sum := 0.0
	for _, it := range items {
		sum += it.Rollup.Value
	}
	return sum / float64(len(items))
}
