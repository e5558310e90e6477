package deploytest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
)

var (
	envOnce  sync.Once
	envNames map[string]bool
	envErr   error
)

// suilongEnv is every SUILONG_* variable suilong reads: the env tags of the structs in cmd/suilong (its
// configuration and subcommands), read from the source, so that a deployment naming a variable that does not
// exist (a typo, a setting since renamed) fails here rather than being ignored in production.
func suilongEnv(t *testing.T) map[string]bool {
	t.Helper()
	envOnce.Do(func() {
		envNames = map[string]bool{}
		files, err := filepath.Glob(path("cmd", "suilong", "*.go"))
		if err != nil {
			envErr = err
			return
		}
		fset := token.NewFileSet()
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				envErr = err
				return
			}
			file, err := parser.ParseFile(fset, f, src, 0)
			if err != nil {
				envErr = err
				return
			}
			ast.Inspect(file, func(n ast.Node) bool {
				field, ok := n.(*ast.Field)
				if !ok || field.Tag == nil {
					return true
				}
				tag, err := strconv.Unquote(field.Tag.Value)
				if err != nil {
					return true
				}
				for _, v := range strings.Split(reflect.StructTag(tag).Get("env"), ",") {
					if v != "" {
						envNames[v] = true
					}
				}
				return true
			})
		}
	})
	if envErr != nil {
		t.Fatal(envErr)
	}
	if len(envNames) < 20 || !envNames["SUILONG_DATABASE_URL"] {
		t.Fatalf("found only %d SUILONG_* variables in cmd/suilong: the parse is broken", len(envNames))
	}
	return envNames
}

// checkEnvNames fails for every name that looks like a Suilong setting but is not one suilong reads.
func checkEnvNames(t *testing.T, where string, names ...string) {
	t.Helper()
	known := suilongEnv(t)
	for _, n := range names {
		if strings.HasPrefix(n, "SUILONG_") && !known[n] {
			t.Errorf("%s sets %s, which suilong does not read (cmd/suilong's env tags)", where, n)
		}
	}
}
