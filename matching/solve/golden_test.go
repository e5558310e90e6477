package solve

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*/expected.json from the current output")

// TestGolden solves every testdata/<case>/instance.json and compares the encoded result with
// expected.json. Run with -update to rewrite them, then read the diff before committing it.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/*/instance.json")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, path := range dirs {
		dir := filepath.Dir(path)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			in, err := DecodeInstance(f)
			if err != nil {
				t.Fatal(err)
			}
			r, err := Solve(in)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := EncodeResult(&got, r); err != nil {
				t.Fatal(err)
			}
			want := filepath.Join(dir, "expected.json")
			if *update {
				if err := os.WriteFile(want, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			exp, err := os.ReadFile(want)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGolden -update to create it)", err)
			}
			if !bytes.Equal(got.Bytes(), exp) {
				t.Errorf("result differs from %s\n--- got ---\n%s\n--- want ---\n%s", want, got.Bytes(), exp)
			}
		})
	}
}

// TestGreedyTrap is the instance that shows why the optimum matters: greedy takes o1 → d-any (2.00/kg),
// the best pair, and leaves d-organic, which only o1 can serve, empty; the optimum gives o1 to d-organic and
// o2 to d-any.
func TestGreedyTrap(t *testing.T) {
	f, err := os.Open("testdata/greedy-trap/instance.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	in, err := DecodeInstance(f)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Solve(in)
	if err != nil {
		t.Fatal(err)
	}
	g := Greedy(in)
	if r.Objective != 330000 || g.Objective != 200000 {
		t.Errorf("optimum %s (want 3300.00), greedy %s (want 2000.00)", r.Objective, g.Objective)
	}
	if len(g.Unmatched) != 2 || g.Unmatched[1].ID != "d-organic" || !slices.ContainsFunc(g.Unmatched[1].Reasons, func(r Reason) bool { return r.Code == ReasonCapacity }) {
		t.Errorf("greedy should leave d-organic unmatched for capacity: %+v", g.Unmatched)
	}
}
