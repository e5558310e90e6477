package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/suilong/suilong/plan/tree"
)

// TestRegenerateMatchesShipped: running gen on the seed now gives the data that is shipped, so plan.yaml and
// its generator have not drifted apart (a hand edit to the Chinese text would show up here and in tree's tests).
func TestRegenerateMatchesShipped(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "plan.yaml")
	shipped, err := os.ReadFile(filepath.Join("..", "plan.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, shipped, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(filepath.Join("..", "testdata", "seed.txt"), out); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	regenerated, err := tree.Parse(data)
	if err != nil {
		t.Fatalf("gen wrote a plan that does not parse: %v", err)
	}
	want, err := tree.Load()
	if err != nil {
		t.Fatal(err)
	}
	a, b := regenerated.All(), want.All()
	if len(a) != len(b) {
		t.Fatalf("regenerated %d items, shipped %d", len(a), len(b))
	}
	for i := range a {
		if !reflect.DeepEqual(a[i], b[i]) {
			t.Fatalf("item %d: regenerated %+v, shipped %+v", i, a[i], b[i])
		}
	}
}

// TestFirstRunLeavesTitlesToTranslate: without an existing plan.yaml there are no English titles to keep, and
// the result says so by failing validation on title_en rather than by inventing any.
func TestFirstRunLeavesTitlesToTranslate(t *testing.T) {
	out := filepath.Join(t.TempDir(), "plan.yaml")
	if err := run(filepath.Join("..", "testdata", "seed.txt"), out); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tree.Parse(data)
	if err == nil || !strings.Contains(err.Error(), "the English title is empty") {
		t.Fatalf("err = %v, want the missing English titles reported", err)
	}
	if n := strings.Count(err.Error(), "title_en"); n != 37 {
		t.Errorf("%d missing English titles reported, want 37 (10 domains, 23 tasks, 4 safeguards)", n)
	}
}

func TestParseSeedRejects(t *testing.T) {
	tests := []struct{ name, seed, msg string }{
		{"paragraph over two lines", "工作目标\n\n到2027年,\n成果巩固。\n\n重点任务\n", "continues the paragraph"},
		{"no footer", "工作目标\n\n目标。\n\n重点任务\n\n(一)\n\n合作\n\n1\n\n任务\n\n措施。\n\n保障措施\n\n(一)\n\n机制\n\n推进。\n",
			"ended before its footer"},
		{"tasks out of order", "工作目标\n\n目标。\n\n重点任务\n\n(一)\n\n合作\n\n2\n\n任务\n", "task 2 where task 1 was expected"},
		{"measure before any task", "工作目标\n\n目标。\n\n重点任务\n\n(一)\n\n合作\n\n措施。\n", "paragraph before any task"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseSeed(tt.seed)
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v, want %q", err, tt.msg)
			}
		})
	}
}

func TestDropBullets(t *testing.T) {
	for in, want := range map[string]string{
		"★立足两地": "立足两地", "◎◎加强": "加强", "支持★龙岩": "支持★龙岩", "(CIM)平台": "(CIM)平台", "": "",
	} {
		if got := dropBullets(in); got != want {
			t.Errorf("dropBullets(%q) = %q, want %q", in, got, want)
		}
	}
}
