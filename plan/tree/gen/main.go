// Command gen derives plan/tree/plan.yaml from the seed text of the plan, so that the Chinese text in the data
// is the published text and not a retyping of it. Run it with `go generate ./plan/tree`.
//
// The seed is one paragraph per line, paragraphs separated by blank lines. After the framing (headline and the
// 方案解读 preamble) come 工作目标 with the goals, 重点任务 with domains ("(一)" then a title line) and tasks (a
// number line then a title line) each followed by its measure paragraphs, and 保障措施 with its sections ("(一)"
// then a title) and their paragraphs; the QR-code prompt and credits at the end are framing again. Leading bullet
// marks (★ ☆ ○ ◆ ◎ ● ◇ …) are dropped; nothing else in a paragraph is touched.
//
// English titles are written by hand in plan.yaml; gen keeps them, matched by code, when it rewrites the file,
// and lists the codes still lacking one.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

func main() {
	seed := flag.String("seed", "testdata/seed.txt", "the plan's seed text")
	out := flag.String("out", "plan.yaml", "the YAML file to write; English titles in it are kept")
	flag.Parse()
	if err := run(*seed, *out); err != nil {
		slog.Error("gen", "err", err)
		os.Exit(1)
	}
}

func run(seedPath, outPath string) error {
	text, err := os.ReadFile(seedPath)
	if err != nil {
		return err
	}
	en := map[string]string{}
	if old, err := os.ReadFile(outPath); err == nil {
		if en, err = englishTitles(old); err != nil {
			return fmt.Errorf("%s: %w", outPath, err)
		}
	} else if !os.IsNotExist(err) {
		return err
	}
	p, err := parseSeed(string(text))
	if err != nil {
		return fmt.Errorf("%s: %w", seedPath, err)
	}
	data, missing, err := render(p, en)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		slog.Warn("titles without an English translation; add title_en by hand", "codes", missing)
	}
	return os.WriteFile(outPath, data, 0o644)
}

// plan is the seed's structure; entry is any node of it.
type plan struct {
	Goals, Domains, Safeguards []*entry
}

type entry struct {
	Code, Number, Title, Text string
	Line                      int // in the seed, for the YAML comments that lead a reader back to it
	Children                  []*entry
}

// bullets are the list marks the seed puts before some paragraphs; they are typography, not text.
const bullets = "★☆○◆◇◎●■□▲△▶►•"

var (
	sectionNumber = regexp.MustCompile(`^\(([一二三四五六七八九十]+)\)$`)
	taskNumber    = regexp.MustCompile(`^([1-9][0-9]*)$`)
)

// Lines that open and close the plan proper; everything outside them is framing.
const (
	goalsHeading      = "工作目标"
	tasksHeading      = "重点任务"
	safeguardsHeading = "保障措施"
	footerStart       = "长按二维码"
)

type paraLine struct {
	n    int
	text string
}

func parseSeed(text string) (*plan, error) {
	var paras []paraLine
	prevBlank := true
	for i, l := range strings.Split(text, "\n") {
		if l == "" {
			prevBlank = true
			continue
		}
		if !prevBlank {
			// Not seen in the seed; joining lines would be a guess about the text, so stop and ask.
			return nil, fmt.Errorf("line %d continues the paragraph above it; gen expects one paragraph a line", i+1)
		}
		paras = append(paras, paraLine{i + 1, l})
		prevBlank = false
	}

	p := &plan{}
	const (
		framing = iota
		goals
		tasks
		safeguards
		footer
	)
	state := framing
	var dom, tk, sg *entry
	taskN := 0
	for i := 0; i < len(paras); i++ {
		l := paras[i]
		switch {
		case l.text == goalsHeading && state == framing:
			state = goals
			continue
		case l.text == tasksHeading && state == goals:
			state = tasks
			continue
		case l.text == safeguardsHeading && state == tasks:
			state = safeguards
			continue
		case strings.HasPrefix(l.text, footerStart) && state == safeguards:
			state = footer
		}
		// title returns the heading line that follows a number line.
		title := func() (string, error) {
			if i+1 >= len(paras) {
				return "", fmt.Errorf("line %d: %q has no title line after it", l.n, l.text)
			}
			i++
			return paras[i].text, nil
		}
		switch state {
		case framing, footer:
			continue
		case goals:
			p.Goals = append(p.Goals, &entry{Code: fmt.Sprintf("W%d", len(p.Goals)+1), Text: dropBullets(l.text), Line: l.n})
		case tasks:
			if sectionNumber.MatchString(l.text) {
				t, err := title()
				if err != nil {
					return nil, err
				}
				dom = &entry{Code: fmt.Sprintf("D%d", len(p.Domains)+1), Number: l.text, Title: t, Line: l.n}
				p.Domains = append(p.Domains, dom)
				tk = nil
				continue
			}
			if m := taskNumber.FindStringSubmatch(l.text); m != nil {
				if dom == nil {
					return nil, fmt.Errorf("line %d: task %s before any domain", l.n, l.text)
				}
				taskN++
				if m[1] != fmt.Sprint(taskN) {
					return nil, fmt.Errorf("line %d: task %s where task %d was expected", l.n, m[1], taskN)
				}
				t, err := title()
				if err != nil {
					return nil, err
				}
				tk = &entry{Code: "T" + m[1], Number: m[1], Title: t, Line: l.n}
				dom.Children = append(dom.Children, tk)
				continue
			}
			if tk == nil {
				return nil, fmt.Errorf("line %d: paragraph before any task: %q", l.n, l.text)
			}
			tk.Children = append(tk.Children, &entry{
				Code: fmt.Sprintf("%s.%d", tk.Code, len(tk.Children)+1), Text: dropBullets(l.text), Line: l.n})
		case safeguards:
			if sectionNumber.MatchString(l.text) {
				t, err := title()
				if err != nil {
					return nil, err
				}
				sg = &entry{Code: fmt.Sprintf("G%d", len(p.Safeguards)+1), Number: l.text, Title: t, Line: l.n}
				p.Safeguards = append(p.Safeguards, sg)
				continue
			}
			if sg == nil {
				return nil, fmt.Errorf("line %d: paragraph before any safeguard section: %q", l.n, l.text)
			}
			sg.Children = append(sg.Children, &entry{
				Code: fmt.Sprintf("%s.%d", sg.Code, len(sg.Children)+1), Text: dropBullets(l.text), Line: l.n})
		}
	}
	if state != footer {
		return nil, fmt.Errorf("the seed ended before its footer (%q); wrong file?", footerStart)
	}
	return p, nil
}

func dropBullets(s string) string {
	for {
		r, size := utf8.DecodeRuneInString(s)
		if size == 0 || !strings.ContainsRune(bullets, r) {
			return s
		}
		s = s[size:]
	}
}

// englishTitles reads the title_en of every item in an existing plan.yaml, by code.
func englishTitles(data []byte) (map[string]string, error) {
	type node struct {
		Code     string `yaml:"code"`
		TitleEN  string `yaml:"title_en"`
		Tasks    []node `yaml:"tasks"`
		Measures []node `yaml:"measures"`
		Items    []node `yaml:"items"`
	}
	var doc struct {
		Domains, Safeguards []node
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	out := map[string]string{}
	var walk func([]node)
	walk = func(ns []node) {
		for _, n := range ns {
			if n.TitleEN != "" {
				out[n.Code] = n.TitleEN
			}
			walk(n.Tasks)
			walk(n.Measures)
			walk(n.Items)
		}
	}
	walk(doc.Domains)
	walk(doc.Safeguards)
	return out, nil
}

const header = `The structure of 广州市与龙岩市对口合作实施方案(2023-2027年), the Guangzhou–Longyan
counterpart-cooperation plan, as package plan/tree ships it in the binary.
Derived from testdata/seed.txt by gen/ (go generate ./plan/tree): every Chinese text is the
seed's paragraph verbatim, with its leading bullet mark dropped; "seed line N" comments say
where it comes from. title_en is written by hand and kept when the file is regenerated.
Codes are permanent (tracking state is stored under them): goals W1…, domains D1–D10, tasks
T1–T23 numbered as in the plan, measures T<task>.<n>, safeguards G1–G4, their items G<k>.<n>.
tree_test.go checks this file against the seed; Parse says what is wrong after an edit.`

// render writes the plan as YAML: one entry per item, long Chinese text in literal block scalars, so that a
// person can read and diff it line by line.
func render(p *plan, en map[string]string) ([]byte, []string, error) {
	var missing []string
	str := func(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }
	key := func(k string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: k} }
	var item func(e *entry, childKey string) *yaml.Node
	item = func(e *entry, childKey string) *yaml.Node {
		m := &yaml.Node{Kind: yaml.MappingNode, HeadComment: fmt.Sprintf("seed line %d", e.Line)}
		m.Content = append(m.Content, key("code"), str(e.Code))
		if e.Title != "" {
			t := en[e.Code]
			if t == "" {
				missing = append(missing, e.Code)
			}
			m.Content = append(m.Content, key("number"), str(e.Number), key("title"), str(e.Title),
				key("title_en"), str(t))
		} else {
			text := str(e.Text)
			text.Style = yaml.LiteralStyle
			m.Content = append(m.Content, key("text"), text)
		}
		if childKey != "" {
			seq := &yaml.Node{Kind: yaml.SequenceNode}
			for _, c := range e.Children {
				next := ""
				if childKey == "tasks" {
					next = "measures"
				}
				seq.Content = append(seq.Content, item(c, next))
			}
			m.Content = append(m.Content, key(childKey), seq)
		}
		return m
	}
	list := func(es []*entry, childKey string) *yaml.Node {
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for _, e := range es {
			seq.Content = append(seq.Content, item(e, childKey))
		}
		return seq
	}
	doc := &yaml.Node{Kind: yaml.MappingNode}
	goalsKey := key("goals")
	goalsKey.HeadComment = "工作目标: the goals, one paragraph each."
	domainsKey := key("domains")
	domainsKey.HeadComment = "重点任务: the 10 domains, their tasks and every measure paragraph under each task."
	sgKey := key("safeguards")
	sgKey.HeadComment = "保障措施: the 4 safeguard sections and their paragraphs."
	doc.Content = []*yaml.Node{
		goalsKey, list(p.Goals, ""),
		domainsKey, list(p.Domains, "tasks"),
		sgKey, list(p.Safeguards, "items"),
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, HeadComment: header, Content: []*yaml.Node{doc}}); err != nil {
		return nil, nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, nil, err
	}
	return buf.Bytes(), missing, nil
}
