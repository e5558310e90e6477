package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const designInstance = "../../matching/solve/testdata/design-example/instance.json"

// runMatch runs `suilong match args…` in-process as the command line would, with stdin and captured
// stdout and stderr.
func runMatch(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cli, kctx := parseCLI(t, append([]string{"match"}, args...)...)
	var out, errOut bytes.Buffer
	g := &Globals{Ctx: t.Context(), Cfg: &cli.Config, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Stdout: &out, Stdin: strings.NewReader(stdin), kctx: kctx}
	cli.Match.stderr = &errOut
	err = cli.Match.Run(g)
	return out.String(), errOut.String(), err
}

func TestMatchFileToFile(t *testing.T) {
	out := filepath.Join(t.TempDir(), "result.json")
	if _, _, err := runMatch(t, "", "--in", designInstance, "--out", out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	// DESIGN.md's example, to the letter: objective 3000.00, o1 → d1 2000 kg at 1.50.
	if !bytes.Contains(b, []byte(`"objective": 3000.00,`)) || !bytes.Contains(b, []byte(`"surplus_per_kg": 1.50,`)) {
		t.Errorf("money is not written with two decimals:\n%s", b)
	}
	var r struct {
		Objective   json.Number `json:"objective"`
		Allocations []struct {
			OfferID    string      `json:"offer_id"`
			DemandID   string      `json:"demand_id"`
			QuantityKg int64       `json:"quantity_kg"`
			Surplus    json.Number `json:"surplus_per_kg"`
		} `json:"allocations"`
		Unmatched []struct {
			ID      string   `json:"id"`
			Side    string   `json:"side"`
			Reasons []string `json:"reasons"`
		} `json:"unmatched"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if r.Objective != "3000.00" || len(r.Allocations) != 1 || r.Allocations[0].OfferID != "o1" || r.Allocations[0].DemandID != "d1" ||
		r.Allocations[0].QuantityKg != 2000 || r.Allocations[0].Surplus != "1.50" {
		t.Errorf("result %+v", r)
	}
	if len(r.Unmatched) != 1 || r.Unmatched[0].ID != "o1" || r.Unmatched[0].Side != "offer" || len(r.Unmatched[0].Reasons) == 0 {
		t.Errorf("o1's 3000 kg left should be explained: %+v", r.Unmatched)
	}
}

func TestMatchStdinToStdout(t *testing.T) {
	in, err := os.ReadFile(designInstance)
	if err != nil {
		t.Fatal(err)
	}
	stdout, _, err := runMatch(t, string(in), "--in", "-")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, `"objective": 3000.00`) {
		t.Errorf("stdout:\n%s", stdout)
	}
}

func TestMatchInvalidInstance(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "bad.json")
	bad := `{"products":[{"name":"choy-sum","shelf_life_hours":0}],
 "offers":[{"id":"o1","base":"b1","product":"kale","grade":1,"quantity_kg":-5,"min_price_per_kg":3.201,
   "origin":"xinluo","harvested_at":"2026-11-20 06:00","available_from":"2026-11-20T08:00:00Z"}],
 "demands":[{"id":"d1","buyer":"w1","product":"choy-sum","min_grade":1,"quantity_kg":2000,"max_price_per_kg":5.00,
   "destination":"jiangnan-market"}]}`
	if err := os.WriteFile(in, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "result.json")
	_, stderr, err := runMatch(t, "", "--in", in, "--out", out)
	if err == nil {
		t.Fatal("an invalid instance was accepted")
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	want := []string{
		"products[0].shelf_life_hours: must be between 1 and",
		"offers[0].product: unknown product \"kale\"",
		"offers[0].quantity_kg: must be between 0 and 1000000000 kg, got -5 (offer o1)",
		"offers[0].min_price_per_kg: has more than two decimals",
		"offers[0].harvested_at: must be an RFC 3339 time",
		"demands[0].deliver_by: is required (demand d1)",
	}
	if len(lines) != len(want) {
		t.Fatalf("want %d lines, one per error:\n%s", len(want), stderr)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], in+": ") || !strings.Contains(lines[i], w) {
			t.Errorf("line %d = %q, want %q", i+1, lines[i], w)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("an output file was written for an invalid instance (%v)", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("files left behind: %v", entries)
	}
}

func TestMatchMissingFile(t *testing.T) {
	_, _, err := runMatch(t, "", "--in", filepath.Join(t.TempDir(), "nope.json"))
	if err == nil || !strings.Contains(err.Error(), "nope.json") {
		t.Errorf("err = %v", err)
	}
}
