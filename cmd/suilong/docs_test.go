package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// staleStatus is how a sentence about what an earlier state of the code lacked reads: "trace has not landed",
// "bands are not wired", "until matching lands", a TODO. The docs say what the code does today, so none of
// these may stand in them; where something is truly missing, the docs say what happens instead.
var staleStatus = regexp.MustCompile(`(?i)\b((has|have) not (yet )?landed|not landed yet|(is|are) not (yet )?wired|not wired (yet|up)|` +
	`until [a-z]+ (lands|provides|is built)|not (yet )?implemented|coming soon|to be (written|done|added) later|TODO|FIXME|XXX)\b`)

// The README and everything under docs/ and deploy/ say what the code does today.
func TestDocsHaveNoStaleStatus(t *testing.T) {
	var files []string
	for _, root := range []string{"../../docs", "../../deploy"} {
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, ".md") {
				files = append(files, p)
			}
			return nil
		})
	}
	files = append(files, "../../README.md")
	if len(files) < 5 {
		t.Fatalf("found only %d documents: the walk is broken", len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if m := staleStatus.FindString(line); m != "" {
				t.Errorf("%s:%d says %q, which describes an earlier state of the code: say what it does today\n\t%s",
					strings.TrimPrefix(f, "../../"), i+1, m, strings.TrimSpace(line))
			}
		}
	}
}
