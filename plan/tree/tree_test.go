package tree

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/suilong/suilong/internal/errs"
)

// seedSkipped is every seed line that is deliberately not plan content, and why (line numbers 1-based, in
// testdata/seed.txt). Everything else must end up in the data, and TestTreeMatchesSeed checks that each
// non-blank line is either listed here or used by exactly one item.
var seedSkipped = []struct {
	first, last int
	starts, why string
}{
	{1, 9, "广州市与龙岩市", "headline of the news release (广州市与龙岩市 / 对口合作方案实施 / 深化10个方面合作) and its " +
		"two lead paragraphs: they report on the plan and are not part of it"},
	{11, 17, "方案解读", "the 方案解读 preamble: its title, two slogan lines (穗龙牵手迈新步 / 对口合作启新篇) and the " +
		"paragraph on the plan's policy basis; the plan's content starts at 工作目标"},
	{19, 19, "工作目标", "heading of the goals section; its paragraphs are the goals W1…"},
	{25, 25, "重点任务", "heading of the tasks section; what follows are the domains, tasks and measures"},
	{437, 437, "保障措施", "heading of the safeguards section; what follows are the safeguards and their items"},
	{473, 481, "长按二维码查看H5", "footer of the web page: the QR-code prompt, two image captions, the credit line " +
		"(龙岩市融媒体中心出品) and a stray comma"},
}

// measuresPerTask is counted by hand from the seed: a third witness besides the data and the seed parse below.
var measuresPerTask = []int{8, 4, 14, 7, 8, 5, 5, 6, 6, 4, 5, 3, 10, 5, 3, 4, 10, 8, 5, 4, 4, 6, 5}

// itemsPerSafeguard is counted by hand like measuresPerTask.
var itemsPerSafeguard = []int{1, 3, 4, 1}

// want is an item as the seed says it should be; line is where it starts in the seed.
type want struct {
	code, kind, number, title, text, parent string
	line                                    int
}

func (w want) String() string {
	return fmt.Sprintf("%s %s number=%q title=%q parent=%q text=%q", w.code, w.kind, w.number, w.title, w.parent, w.text)
}

func got(it *Item) want {
	return want{code: it.Code, kind: string(it.Kind), number: it.Number, title: it.Title, text: it.Text, parent: it.Parent}
}

// seedPlan reads the plan out of the seed text on its own, by other means than gen/ (regular expressions over
// the whole text rather than a line-by-line state machine; bullets recognised by their Unicode category rather
// than by a list), so that a mistake in one shows up as a difference from the other. It returns the items in
// document order and the seed lines each claims.
func seedPlan(t *testing.T, seed string) (items []want, claimed map[int]string, marks map[rune]int) {
	t.Helper()
	claimed = map[int]string{}
	marks = map[rune]int{}
	lineAt := func(off int) int { return strings.Count(seed[:off], "\n") + 1 }
	claim := func(off int, by string) {
		l := lineAt(off)
		if prev, ok := claimed[l]; ok {
			t.Errorf("seed line %d claimed by both %s and %s", l, prev, by)
		}
		claimed[l] = by
	}
	// heading finds the one line that is exactly s and returns the offsets of its start and end.
	heading := func(s string) (int, int) {
		locs := regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(s)+`$`).FindAllStringIndex(seed, -1)
		if len(locs) != 1 {
			t.Fatalf("seed: want exactly one line %q, found %d", s, len(locs))
		}
		return locs[0][0], locs[0][1]
	}
	_, goalsAt := heading("工作目标")
	tasksStart, tasksAt := heading("重点任务")
	sgStart, sgAt := heading("保障措施")
	footer := strings.Index(seed, "\n长按二维码")
	if footer < sgAt {
		t.Fatal("seed: no QR-code footer after 保障措施")
	}

	// paragraphs returns the blank-line separated paragraphs of seed[from:to] with their offsets.
	para := regexp.MustCompile(`[^\n]+(\n[^\n]+)*`)
	paragraphs := func(from, to int) (out []struct {
		off  int
		text string
	}) {
		for _, loc := range para.FindAllStringIndex(seed[from:to], -1) {
			text := seed[from+loc[0] : from+loc[1]]
			if strings.Contains(text, "\n") {
				t.Fatalf("seed line %d: a paragraph of several lines; this test expects one line each", lineAt(from+loc[0]))
			}
			out = append(out, struct {
				off  int
				text string
			}{from + loc[0], text})
		}
		return out
	}
	text := func(s string) string {
		for {
			r, n := utf8.DecodeRuneInString(s)
			if n == 0 || !unicode.Is(unicode.So, r) {
				return s
			}
			marks[r]++
			s = s[n:]
		}
	}

	for i, p := range paragraphs(goalsAt, tasksStart) {
		w := want{code: fmt.Sprintf("W%d", i+1), kind: "goal", text: text(p.text), line: lineAt(p.off)}
		claim(p.off, w.code)
		items = append(items, w)
	}

	// A section heading is "(一)" alone on a line, a blank line, and its title; a task heading is its number
	// alone on a line, a blank line, and its title. Whatever lies between headings is paragraphs.
	sectionRe := regexp.MustCompile(`(?m)^\(([一二三四五六七八九十]+)\)\n\n([^\n]+)$`)
	taskRe := regexp.MustCompile(`(?m)^([0-9]+)\n\n([^\n]+)$`)
	type head struct {
		start, end    int
		number, title string
		task          bool
	}
	heads := func(from, to int) []head {
		var hs []head
		for _, m := range sectionRe.FindAllStringSubmatchIndex(seed[from:to], -1) {
			hs = append(hs, head{from + m[0], from + m[1], seed[from+m[0] : from+m[3]+1], seed[from+m[4] : from+m[5]], false})
		}
		for _, m := range taskRe.FindAllStringSubmatchIndex(seed[from:to], -1) {
			hs = append(hs, head{from + m[0], from + m[1], seed[from+m[2] : from+m[3]], seed[from+m[4] : from+m[5]], true})
		}
		slices.SortFunc(hs, func(a, b head) int { return a.start - b.start })
		return hs
	}
	numerals := []string{"一", "二", "三", "四", "五", "六", "七", "八", "九", "十"}

	hs := heads(tasksAt, sgStart)
	var domain, task string
	domains, tasks := 0, 0
	for i, h := range hs {
		if h.task {
			tasks++
			if h.number != fmt.Sprint(tasks) {
				t.Fatalf("seed line %d: task %s where task %d was expected", lineAt(h.start), h.number, tasks)
			}
			task = "T" + h.number
			items = append(items, want{code: task, kind: "task", number: h.number, title: h.title, parent: domain, line: lineAt(h.start)})
		} else {
			domains++
			if h.number != "("+numerals[domains-1]+")" {
				t.Fatalf("seed line %d: domain %s where (%s) was expected", lineAt(h.start), h.number, numerals[domains-1])
			}
			domain, task = fmt.Sprintf("D%d", domains), ""
			items = append(items, want{code: domain, kind: "domain", number: h.number, title: h.title, line: lineAt(h.start)})
		}
		code := items[len(items)-1].code
		claim(h.start, code)
		claim(h.end-1, code+" title")
		end := sgStart
		if i+1 < len(hs) {
			end = hs[i+1].start
		}
		for n, p := range paragraphs(h.end, end) {
			if task == "" {
				t.Fatalf("seed line %d: a paragraph between domain %s and its first task", lineAt(p.off), domain)
			}
			w := want{code: fmt.Sprintf("%s.%d", task, n+1), kind: "measure", text: text(p.text), parent: task, line: lineAt(p.off)}
			claim(p.off, w.code)
			items = append(items, w)
		}
	}

	hs = heads(sgAt, footer)
	for i, h := range hs {
		if h.task {
			t.Fatalf("seed line %d: a task number among the safeguards", lineAt(h.start))
		}
		code := fmt.Sprintf("G%d", i+1)
		items = append(items, want{code: code, kind: "safeguard", number: h.number, title: h.title, line: lineAt(h.start)})
		claim(h.start, code)
		claim(h.end-1, code+" title")
		end := footer
		if i+1 < len(hs) {
			end = hs[i+1].start
		}
		for n, p := range paragraphs(h.end, end) {
			w := want{code: fmt.Sprintf("%s.%d", code, n+1), kind: "safeguard_item", text: text(p.text), parent: code, line: lineAt(p.off)}
			claim(p.off, w.code)
			items = append(items, w)
		}
	}
	return items, claimed, marks
}

func readSeed(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "seed.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSeedCopy keeps testdata/seed.txt the seed itself, when the shared seed sits beside this clone.
func TestSeedCopy(t *testing.T) {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for ; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		if filepath.Dir(dir) == dir {
			t.Fatal("no go.mod above the test directory")
		}
	}
	shared, err := os.ReadFile(filepath.Join(dir, "..", "shared", "seed", "000_92ff7c1dbd2fbf6a.txt"))
	if os.IsNotExist(err) {
		t.Skip("../shared/seed is not beside this clone; testdata/seed.txt stands alone")
	}
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal([]byte(readSeed(t)), shared) {
		t.Fatal("testdata/seed.txt differs from ../shared/seed/000_92ff7c1dbd2fbf6a.txt: copy it byte for byte and run go generate")
	}
}

// TestTreeMatchesSeed is the check that the shipped plan is the published plan: every goal, domain, task,
// measure, safeguard and safeguard item of the seed is in the data, verbatim, in order, under the right parent,
// and the data holds nothing else.
func TestTreeMatchesSeed(t *testing.T) {
	seed := readSeed(t)
	wants, claimed, marks := seedPlan(t, seed)
	tr, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	all := tr.All()
	for i := range max(len(wants), len(all)) {
		switch {
		case i >= len(all):
			t.Errorf("seed line %d: missing from the data: %v", wants[i].line, wants[i])
		case i >= len(wants):
			t.Errorf("in the data but not in the seed: %v", got(all[i]))
		default:
			w := wants[i]
			w.line = 0
			if g := got(all[i]); g != w {
				t.Errorf("item %d (seed line %d):\n got %v\nwant %v", i, wants[i].line, g, w)
			}
		}
		if t.Failed() && i > 5 {
			t.Fatal("stopping after the first differences")
		}
	}

	// Every non-blank line is used by one item or skipped on purpose.
	for _, s := range seedSkipped {
		lines := strings.Split(seed, "\n")
		if !strings.HasPrefix(lines[s.first-1], s.starts) {
			t.Errorf("seedSkipped: line %d is %q, not %q…", s.first, lines[s.first-1], s.starts)
		}
		for l := s.first; l <= s.last; l++ {
			if by, ok := claimed[l]; ok && lines[l-1] != "" {
				t.Errorf("seed line %d is both skipped (%s) and used by %s", l, s.starts, by)
			}
			claimed[l] = "skipped"
		}
	}
	for i, l := range strings.Split(seed, "\n") {
		if _, ok := claimed[i+1]; !ok && l != "" {
			t.Errorf("seed line %d is neither in the data nor skipped on purpose: %q", i+1, l)
		}
	}

	// The marks dropped are the list bullets and only those.
	var dropped []string
	for r, n := range marks {
		if !strings.ContainsRune("★☆○◆◇◎●", r) {
			t.Errorf("dropped %q from the start of %d paragraphs; is it a bullet?", r, n)
		}
		dropped = append(dropped, fmt.Sprintf("%c×%d", r, n))
	}
	slices.Sort(dropped)
	t.Logf("bullet marks dropped: %s", strings.Join(dropped, " "))

	if len(tr.Domains) != 10 || len(tr.Safeguards) != 4 || len(tr.Goals) != 2 {
		t.Errorf("%d domains, %d safeguards, %d goals; want 10, 4, 2", len(tr.Domains), len(tr.Safeguards), len(tr.Goals))
	}
	var perTask []int
	var report []string
	measures := 0
	for _, d := range tr.Domains {
		for _, tk := range d.Children {
			perTask = append(perTask, len(tk.Children))
			report = append(report, fmt.Sprintf("%s=%d", tk.Code, len(tk.Children)))
			measures += len(tk.Children)
		}
	}
	if !slices.Equal(perTask, measuresPerTask) {
		t.Errorf("measures per task %v, counted by hand %v", perTask, measuresPerTask)
	}
	var perSafeguard []int
	for _, s := range tr.Safeguards {
		perSafeguard = append(perSafeguard, len(s.Children))
	}
	if !slices.Equal(perSafeguard, itemsPerSafeguard) {
		t.Errorf("items per safeguard %v, counted by hand %v", perSafeguard, itemsPerSafeguard)
	}
	t.Logf("%d tasks, %d measures (%s), safeguard items %v", len(perTask), measures, strings.Join(report, " "), perSafeguard)
}

// TestTitlesEN: every heading has an English title beside its Chinese one, and nothing else has one.
func TestTitlesEN(t *testing.T) {
	tr, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range tr.All() {
		titled := it.Kind == KindDomain || it.Kind == KindTask || it.Kind == KindSafeguard
		switch {
		case !titled && it.TitleEN != "":
			t.Errorf("%s: a %s has no title, yet title_en is %q", it.Code, it.Kind, it.TitleEN)
		case !titled:
		case strings.TrimSpace(it.TitleEN) != it.TitleEN || it.TitleEN == "":
			t.Errorf("%s: title_en %q is empty or padded", it.Code, it.TitleEN)
		case strings.IndexFunc(it.TitleEN, func(r rune) bool { return unicode.Is(unicode.Han, r) }) >= 0:
			t.Errorf("%s: title_en %q still has Chinese in it", it.Code, it.TitleEN)
		}
	}
}

// TestTreeNavigation: the index, Walk and All agree with the nesting, parents point at the enclosing item, and
// Load hands out one tree.
func TestTreeNavigation(t *testing.T) {
	tr, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := Load(); again != tr {
		t.Error("Load parsed the data twice")
	}
	// Depth-first over the nesting, computed here without Walk or All.
	var nested []*Item
	var visit func(parent string, its []*Item)
	visit = func(parent string, its []*Item) {
		for _, it := range its {
			if it.Parent != parent {
				t.Errorf("%s: parent %q, but it sits under %q", it.Code, it.Parent, parent)
			}
			nested = append(nested, it)
			visit(it.Code, it.Children)
		}
	}
	visit("", tr.Goals)
	visit("", tr.Domains)
	visit("", tr.Safeguards)

	var walked []*Item
	tr.Walk(func(it *Item) bool { walked = append(walked, it); return true })
	if !slices.Equal(walked, nested) || !slices.Equal(tr.All(), nested) {
		t.Fatalf("Walk (%d items) or All (%d) differs from the nesting (%d)", len(walked), len(tr.All()), len(nested))
	}
	if len(nested) != 187 {
		t.Errorf("%d items; want 2 goals + 10 domains + 23 tasks + 139 measures + 4 safeguards + 9 items = 187", len(nested))
	}
	for _, it := range nested {
		if got, ok := tr.Item(it.Code); !ok || got != it {
			t.Errorf("Item(%q) = %v, %v", it.Code, got, ok)
		}
	}
	for _, code := range []string{"", "T24", "T4.99", "D0", "t4.6"} {
		if _, ok := tr.Item(code); ok {
			t.Errorf("Item(%q) found something", code)
		}
	}
	if it, ok := tr.Item("T4.6"); !ok || it.Parent != "T4" || !strings.Contains(it.Text, "冷链物流体系") {
		t.Errorf("T4.6 should be the cold-chain measure of task 4, got %+v", it)
	}
	if it, ok := tr.Item("T13"); !ok || it.Parent != "D5" || it.Title != "拓宽农产品消费渠道" {
		t.Errorf("T13 should be 拓宽农产品消费渠道 in D5, got %+v", it)
	}

	n := 0
	tr.Walk(func(*Item) bool { n++; return n < 5 })
	if n != 5 {
		t.Errorf("Walk went on for %d calls after fn returned false at the 5th", n)
	}
	a := tr.All()
	a[0] = nil
	if tr.All()[0] == nil {
		t.Error("All shares its slice with the tree")
	}
}

// minimal is a valid plan in plan.yaml's layout; the validation cases below each break one thing in it.
const minimal = `
goals:
  - code: W1
    text: |-
      到2027年,成果全面巩固。
  - code: W2
    text: 两市建立联动工作机制。
domains:
  - code: D1
    number: (一)
    title: 红色文化教育合作
    title_en: Red culture and education
    tasks:
      - code: T1
        number: "1"
        title: 共同传承红色文化
        title_en: Carry on red culture together
        measures:
          - code: T1.1
            text: 深度挖掘红色资源。
          - code: T1.2
            text: 支持保护利用。
      - code: T2
        number: "2"
        title: 共建红色教育载体
        title_en: Build venues for red education together
        measures: []
safeguards:
  - code: G1
    number: (一)
    title: 完善工作推进机制
    title_en: Better working arrangements
    items:
      - code: G1.1
        text: 合力推进两市对口合作工作。
`

func TestParseValid(t *testing.T) {
	tr, err := Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	tr.Walk(func(it *Item) bool { codes = append(codes, it.Code+":"+string(it.Kind)+"<"+it.Parent); return true })
	want := []string{"W1:goal<", "W2:goal<", "D1:domain<", "T1:task<D1", "T1.1:measure<T1", "T1.2:measure<T1",
		"T2:task<D1", "G1:safeguard<", "G1.1:safeguard_item<G1"}
	if !slices.Equal(codes, want) {
		t.Fatalf("walked %v\nwant   %v", codes, want)
	}
	if w1, _ := tr.Item("W1"); w1.Text != "到2027年,成果全面巩固。" {
		t.Errorf("W1 text %q: a |- block should keep the text exactly", w1.Text)
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		name     string
		old, new string // the edit to minimal; several edits separated by "|||"
		code     errs.Code
		field    string // "" when the YAML itself is rejected
		msg      string
	}{
		{"duplicate code", "- code: W2", "- code: W1", errs.Unprocessable,
			"goals[1].code", `"W1" is already used by goals[0]`},
		{"measure under another task (bad parent)", "- code: T1.2", "- code: T2.2", errs.Unprocessable,
			"domains[0].tasks[0].measures[1].code", `"T2.2" belongs under T2, but it sits under "T1"`},
		{"task code of the wrong shape", "- code: T2\n", "- code: T2.1\n", errs.Unprocessable,
			"domains[0].tasks[1].code", `"T2.1" is not a task code`},
		{"measure code of the wrong shape", "- code: T1.1", "- code: T1-1", errs.Unprocessable,
			"domains[0].tasks[0].measures[0].code", `"T1-1" is not a measure code`},
		{"domain code of another kind", "- code: D1", "- code: G1", errs.Unprocessable,
			"domains[0].code", `"G1" is not a domain code`},
		{"safeguard item code of the wrong shape", "- code: G1.1", "- code: G1", errs.Unprocessable,
			"safeguards[0].items[0].code", `"G1" is not a safeguard_item code`},
		{"task numbered out of order", "- code: T2\n        number: \"2\"", "- code: T3\n        number: \"3\"",
			errs.Unprocessable, "domains[0].tasks[1].code", `its code must be T2`},
		{"measure numbered out of order", "- code: T1.2", "- code: T1.3", errs.Unprocessable,
			"domains[0].tasks[0].measures[1].code", `its code must be T1.2`},
		{"printed number disagrees with the code", "number: (一)\n    title: 红色", "number: (二)\n    title: 红色",
			errs.Unprocessable, "domains[0].number", `want "(一)"`},
		{"task number disagrees with the code", `number: "2"`, `number: "二"`, errs.Unprocessable,
			"domains[0].tasks[1].number", `want "2"`},
		{"empty measure text", "text: 支持保护利用。", `text: ""`, errs.Unprocessable,
			"domains[0].tasks[0].measures[1].text", "the text is empty"},
		{"text keeps a final line break", "text: |-", "text: |", errs.Unprocessable,
			"goals[0].text", "use |- for block scalars"},
		{"missing English title", "title_en: Better working arrangements", "", errs.Unprocessable,
			"safeguards[0].title_en", "the English title is empty"},
		{"missing Chinese title", "title: 共建红色教育载体", `title: " "`, errs.Unprocessable,
			"domains[0].tasks[1].title", "the Chinese title is empty"},
		{"misspelt key", "title_en: Red culture", "titel_en: Red culture", errs.Invalid, "", "field titel_en not found"},
		{"not YAML", "goals:\n", "goals: [\n", errs.Invalid, "", "not a valid plan document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := minimal
			if !strings.Contains(src, tt.old) {
				t.Fatalf("the edit %q does not apply to minimal", tt.old)
			}
			src = strings.Replace(src, tt.old, tt.new, 1)
			_, err := Parse([]byte(src))
			if errs.CodeOf(err) != tt.code {
				t.Fatalf("err = %v (%s), want %s", err, errs.CodeOf(err), tt.code)
			}
			if tt.field == "" {
				if !strings.Contains(err.Error(), tt.msg) {
					t.Fatalf("err = %v, want it to say %q", err, tt.msg)
				}
				return
			}
			e := errs.As(err)
			for _, f := range e.Fields {
				if f.Field == tt.field && strings.Contains(f.Message, tt.msg) {
					if !strings.HasPrefix(f.Message, "(line ") {
						t.Errorf("%s: %q does not say which line", f.Field, f.Message)
					}
					return
				}
			}
			t.Fatalf("no fault %s: %q among %v", tt.field, tt.msg, e.Fields)
		})
	}
}

func TestParseEmptyParts(t *testing.T) {
	tests := []struct {
		name, src, field string
	}{
		{"no goals", "goals: []\n" + minimal[strings.Index(minimal, "domains:"):], "goals"},
		{"domain without tasks", `
goals: [{code: W1, text: 目标。}]
domains: [{code: D1, number: (一), title: 合作, title_en: Cooperation, tasks: []}]
safeguards: [{code: G1, number: (一), title: 机制, title_en: Arrangements, items: [{code: G1.1, text: 推进。}]}]
`, "domains[0].tasks"},
		{"no safeguards", `
goals: [{code: W1, text: 目标。}]
domains: [{code: D1, number: (一), title: 合作, title_en: Cooperation, tasks: [{code: T1, number: "1", title: 任务, title_en: Task}]}]
`, "safeguards"},
		{"safeguard without items", `
goals: [{code: W1, text: 目标。}]
domains: [{code: D1, number: (一), title: 合作, title_en: Cooperation, tasks: [{code: T1, number: "1", title: 任务, title_en: Task}]}]
safeguards: [{code: G1, number: (一), title: 机制, title_en: Arrangements}]
`, "safeguards[0].items"},
		{"empty document", "# nothing here\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src))
			if err == nil {
				t.Fatal("accepted")
			}
			if tt.field == "" {
				return
			}
			for _, f := range errs.As(err).Fields {
				if f.Field == tt.field {
					return
				}
			}
			t.Fatalf("err = %v, want a fault on %s", err, tt.field)
		})
	}
}

// TestParseReportsAllFaults: one pass names every fault, so an editor fixes them in one go.
func TestParseReportsAllFaults(t *testing.T) {
	src := strings.NewReplacer("- code: T1.2", "- code: T9.2", "text: 支持保护利用。", `text: ""`,
		"title_en: Better working arrangements", "").Replace(minimal)
	_, err := Parse([]byte(src))
	e := errs.As(err)
	if e == nil || e.Code != errs.Unprocessable {
		t.Fatalf("err = %v", err)
	}
	var fields []string
	for _, f := range e.Fields {
		fields = append(fields, f.Field)
	}
	want := []string{"domains[0].tasks[0].measures[1].code", "domains[0].tasks[0].measures[1].text", "safeguards[0].title_en"}
	if !slices.Equal(fields, want) {
		t.Fatalf("faults on %v, want %v (%v)", fields, want, err)
	}
}
