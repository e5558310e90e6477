// Package tree is the structure of the Guangzhou–Longyan counterpart-cooperation plan
// (广州市与龙岩市对口合作实施方案 2023-2027) as data shipped in the binary: the goals (工作目标), the 10 domains,
// the 23 numbered tasks with every measure paragraph under them, and the 4 safeguard sections (保障措施) with
// their items, each with the code DESIGN.md gives it and its Chinese text verbatim from the published plan.
//
// The data lives in plan.yaml beside this file, which people read and correct; gen/ derives it from the seed
// text in testdata/seed.txt (go generate) and keeps the hand-written English titles. Package plan stores the
// tracking state (status, progress, updates) keyed by these codes; this package knows nothing of that.
package tree

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/suilong/suilong/internal/errs"
)

//go:generate go run ./gen -seed testdata/seed.txt -out plan.yaml

//go:embed plan.yaml
var planYAML []byte

// Kind says what part of the plan an item is. It follows from where the item sits in the tree, and its code
// has the matching shape.
type Kind string

// The kinds, with the shape of their codes.
const (
	KindGoal          Kind = "goal"           // W1, W2, …: a paragraph of 工作目标
	KindDomain        Kind = "domain"         // D1–D10: (一)…(十) of 重点任务
	KindTask          Kind = "task"           // T1–T23, numbered across domains as in the plan
	KindMeasure       Kind = "measure"        // T4.6: the 6th paragraph under task 4
	KindSafeguard     Kind = "safeguard"      // G1–G4: (一)…(四) of 保障措施
	KindSafeguardItem Kind = "safeguard_item" // G2.1: the 1st paragraph under safeguard 2
)

// Item is one goal, domain, task, measure, safeguard section or safeguard item.
type Item struct {
	// Code identifies the item for good: package plan keys tracking state by it.
	Code string `json:"code"`
	Kind Kind   `json:"kind"`
	// Number is the number as printed: "(一)" for domains and safeguards, "1" for tasks, "" otherwise.
	Number string `json:"number,omitempty"`
	// Title is the Chinese heading of a domain, task or safeguard; goals and paragraphs have none.
	Title string `json:"title,omitempty"`
	// TitleEN is the English translation of Title.
	TitleEN string `json:"title_en,omitempty"`
	// Text is the full Chinese text of a goal, measure or safeguard item, verbatim with its bullet mark dropped.
	Text string `json:"text,omitempty"`
	// Parent is the code of the enclosing item, "" at the top level (goals, domains, safeguards).
	Parent   string  `json:"parent,omitempty"`
	Children []*Item `json:"children,omitempty"`
}

// Tree is the whole plan. It is shared by every caller of Load: treat it as read-only.
type Tree struct {
	Goals      []*Item // W1…
	Domains    []*Item // D1–D10, each with its tasks and their measures
	Safeguards []*Item // G1–G4, each with its items

	byCode map[string]*Item
	all    []*Item // document order
}

// load parses the embedded data once; it cannot change while the binary runs.
var load = sync.OnceValues(func() (*Tree, error) { return Parse(planYAML) })

// Load returns the plan shipped in the binary. It fails only when plan.yaml was edited into something invalid,
// which the package's tests catch before a release; the error is then errs.Unprocessable naming every fault.
func Load() (*Tree, error) { return load() }

// Item returns the item with the given code.
func (t *Tree) Item(code string) (*Item, bool) {
	it, ok := t.byCode[code]
	return it, ok
}

// Walk calls fn for every item depth-first in document order: goals, then each domain followed by its tasks,
// each followed by its measures, then each safeguard followed by its items. It stops when fn returns false.
func (t *Tree) Walk(fn func(it *Item) bool) {
	for _, it := range t.all {
		if !fn(it) {
			return
		}
	}
}

// All returns every item in document order (the order Walk visits them); the slice is the caller's own.
func (t *Tree) All() []*Item { return append([]*Item(nil), t.all...) }

// The YAML layout: nesting gives each item its kind and parent, so the file says each thing once.
type document struct {
	Goals      []paragraph `yaml:"goals"`
	Domains    []domain    `yaml:"domains"`
	Safeguards []safeguard `yaml:"safeguards"`
}

type heading struct {
	Code    string `yaml:"code"`
	Number  string `yaml:"number"`
	Title   string `yaml:"title"`
	TitleEN string `yaml:"title_en"`
}

type domain struct {
	heading `yaml:",inline"`
	Tasks   []task `yaml:"tasks"`
}

type task struct {
	heading  `yaml:",inline"`
	Measures []paragraph `yaml:"measures"`
}

type safeguard struct {
	heading `yaml:",inline"`
	Items   []paragraph `yaml:"items"`
}

type paragraph struct {
	Code string `yaml:"code"`
	Text string `yaml:"text"`
}

var (
	goalCode      = regexp.MustCompile(`^W([1-9][0-9]*)$`)
	domainCode    = regexp.MustCompile(`^D([1-9][0-9]*)$`)
	taskCode      = regexp.MustCompile(`^T([1-9][0-9]*)$`)
	measureCode   = regexp.MustCompile(`^T([1-9][0-9]*)\.([1-9][0-9]*)$`)
	safeguardCode = regexp.MustCompile(`^G([1-9][0-9]*)$`)
	sgItemCode    = regexp.MustCompile(`^G([1-9][0-9]*)\.([1-9][0-9]*)$`)
)

// Parse reads a plan in plan.yaml's layout and validates it: codes unique and of the shape their kind requires,
// numbered in order (D1, D2, …; tasks across domains; measures from 1 under their task, whose code they carry,
// so T4.6 can only sit under T4), printed numbers agreeing with codes, and no title, English title or text left
// empty. Every fault is reported at once as errs.Unprocessable, each naming its field and line.
func Parse(data []byte) (*Tree, error) {
	var doc document
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true) // a misspelt key would otherwise drop its value without a word
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errs.E(errs.Invalid, "plan: the document is empty")
		}
		return nil, errs.Wrap(errs.Invalid, err, "plan: not a valid plan document")
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil { // cannot fail after Decode succeeded; kept for safety
		return nil, errs.Wrap(errs.Invalid, err, "plan: not a valid plan document")
	}
	b := builder{lines: map[string]int{}, seen: map[string]string{}, t: &Tree{byCode: map[string]*Item{}}}
	nodeLines(&root, "", b.lines)
	b.build(&doc)
	if err := b.faults.Err(); err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	return b.t, nil
}

// builder turns the decoded document into a Tree, collecting every fault rather than stopping at the first,
// so whoever edits plan.yaml fixes them in one go.
type builder struct {
	t      *Tree
	lines  map[string]int    // field path → line in the YAML
	seen   map[string]string // code → path of the first item with it
	faults errs.FieldErrors
	task   int // the last task number, since tasks are numbered across domains
}

func (b *builder) fault(path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	// A missing key has no line of its own; the item it is missing from does.
	for p := path; p != ""; p = p[:max(strings.LastIndexAny(p, ".["), 0)] {
		if l, ok := b.lines[p]; ok {
			msg = fmt.Sprintf("(line %d) %s", l, msg)
			break
		}
	}
	b.faults.Add(path, "%s", msg)
}

func (b *builder) build(doc *document) {
	if len(doc.Goals) == 0 {
		b.fault("goals", "the plan has no goals")
	}
	if len(doc.Domains) == 0 {
		b.fault("domains", "the plan has no domains")
	}
	if len(doc.Safeguards) == 0 {
		b.fault("safeguards", "the plan has no safeguards")
	}
	for i, g := range doc.Goals {
		it := b.paragraph(fmt.Sprintf("goals[%d]", i), KindGoal, g, goalCode, "", i+1)
		b.t.Goals = append(b.t.Goals, it)
	}
	for i, d := range doc.Domains {
		p := fmt.Sprintf("domains[%d]", i)
		it := b.heading(p, KindDomain, d.heading, domainCode, i+1)
		b.t.Domains = append(b.t.Domains, it)
		if len(d.Tasks) == 0 {
			b.fault(p+".tasks", "domain %s has no tasks", d.Code)
		}
		for j, tk := range d.Tasks {
			tp := fmt.Sprintf("%s.tasks[%d]", p, j)
			b.task++
			ti := b.heading(tp, KindTask, tk.heading, taskCode, b.task)
			ti.Parent = it.Code
			it.Children = append(it.Children, ti)
			// A task may have no measures: its heading alone is then what coordinators track.
			for k, m := range tk.Measures {
				mi := b.paragraph(fmt.Sprintf("%s.measures[%d]", tp, k), KindMeasure, m, measureCode, ti.Code, k+1)
				ti.Children = append(ti.Children, mi)
			}
		}
	}
	for i, s := range doc.Safeguards {
		p := fmt.Sprintf("safeguards[%d]", i)
		it := b.heading(p, KindSafeguard, s.heading, safeguardCode, i+1)
		b.t.Safeguards = append(b.t.Safeguards, it)
		if len(s.Items) == 0 {
			b.fault(p+".items", "safeguard %s has no items", s.Code)
		}
		for k, m := range s.Items {
			mi := b.paragraph(fmt.Sprintf("%s.items[%d]", p, k), KindSafeguardItem, m, sgItemCode, it.Code, k+1)
			it.Children = append(it.Children, mi)
		}
	}
}

// heading builds a domain, task or safeguard, the n-th of its kind.
func (b *builder) heading(path string, kind Kind, h heading, shape *regexp.Regexp, n int) *Item {
	it := &Item{Code: h.Code, Kind: kind, Number: h.Number, Title: h.Title, TitleEN: h.TitleEN}
	b.register(path, it)
	if m := shape.FindStringSubmatch(h.Code); m == nil {
		b.fault(path+".code", "%q is not a %s code (%s)", h.Code, kind, codeExample[kind])
	} else if m[1] != strconv.Itoa(n) {
		b.fault(path+".code", "%q is %s %d in order, so its code must be %s%d", h.Code, kind, n, h.Code[:1], n)
	}
	want := strconv.Itoa(n)
	if kind != KindTask {
		want = "(" + numeral(n) + ")"
	}
	if h.Number != want {
		b.fault(path+".number", "%q does not match %s %d: want %q as printed in the plan", h.Number, kind, n, want)
	}
	if strings.TrimSpace(h.Title) == "" {
		b.fault(path+".title", "the Chinese title is empty")
	}
	if strings.TrimSpace(h.TitleEN) == "" {
		b.fault(path+".title_en", "the English title is empty")
	}
	return it
}

// paragraph builds a goal, measure or safeguard item, the n-th under parent.
func (b *builder) paragraph(path string, kind Kind, p paragraph, shape *regexp.Regexp, parent string, n int) *Item {
	it := &Item{Code: p.Code, Kind: kind, Text: p.Text, Parent: parent}
	b.register(path, it)
	want := fmt.Sprintf("%s.%d", parent, n)
	if kind == KindGoal {
		want = fmt.Sprintf("W%d", n)
	}
	m := shape.FindStringSubmatch(p.Code)
	switch {
	case m == nil:
		b.fault(path+".code", "%q is not a %s code (%s)", p.Code, kind, codeExample[kind])
	case kind != KindGoal && p.Code[:strings.IndexByte(p.Code, '.')] != parent:
		b.fault(path+".code", "%q belongs under %s, but it sits under %q", p.Code, p.Code[:strings.IndexByte(p.Code, '.')], parent)
	case p.Code != want:
		b.fault(path+".code", "%q is %s %d in order, so its code must be %s", p.Code, kind, n, want)
	}
	switch {
	case strings.TrimSpace(p.Text) == "":
		b.fault(path+".text", "the text is empty")
	case strings.TrimSpace(p.Text) != p.Text:
		// The usual cause is "|" instead of "|-", which keeps a final line break that the plan does not have.
		b.fault(path+".text", "the text starts or ends with white space (use |- for block scalars)")
	}
	return it
}

// register indexes it, refusing a code already used.
func (b *builder) register(path string, it *Item) {
	if it.Code == "" {
		return // reported by the shape check
	}
	if first, ok := b.seen[it.Code]; ok {
		b.fault(path+".code", "%q is already used by %s", it.Code, first)
		return
	}
	b.seen[it.Code] = path
	b.t.byCode[it.Code] = it
	b.t.all = append(b.t.all, it)
}

var codeExample = map[Kind]string{
	KindGoal:          "W1, W2, …",
	KindDomain:        "D1–D10",
	KindTask:          "T1–T23",
	KindMeasure:       "T<task>.<n>, e.g. T4.6",
	KindSafeguard:     "G1–G4",
	KindSafeguardItem: "G<section>.<n>, e.g. G2.1",
}

// numeral writes 1–99 as the plan prints them: 一 … 十, 十一, 二十一.
func numeral(n int) string {
	digits := []string{"", "一", "二", "三", "四", "五", "六", "七", "八", "九"}
	switch {
	case n <= 0 || n >= 100:
		return strconv.Itoa(n)
	case n < 10:
		return digits[n]
	case n == 10:
		return "十"
	case n < 20:
		return "十" + digits[n%10]
	default:
		return digits[n/10] + "十" + digits[n%10]
	}
}

// nodeLines records the line of every node under path ("domains[2].tasks[0].code"), so a fault found after
// decoding can still say where in the file it is.
func nodeLines(n *yaml.Node, path string, out map[string]int) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			nodeLines(c, path, out)
		}
		return
	case yaml.SequenceNode:
		for i, c := range n.Content {
			nodeLines(c, fmt.Sprintf("%s[%d]", path, i), out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if path != "" {
				k = path + "." + k
			}
			out[k] = n.Content[i].Line
			nodeLines(n.Content[i+1], k, out)
		}
	}
	if _, ok := out[path]; !ok && path != "" {
		out[path] = n.Line
	}
}
