// Package epcistest validates EPCIS documents against GS1's EPCIS 2.0 JSON schema in tests.
//
// The schema is read from the project's shared folder (see SchemaPath), or from SUILONG_EPCIS_SCHEMA. It is not
// copied into the repository: GS1's licence file that comes with it grants no right to redistribute it.
package epcistest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

const schemaURL = "https://gs1.github.io/EPCIS/EPCIS-JSON-Schema.json"

// SchemaPath finds the GS1 schema file: SUILONG_EPCIS_SCHEMA, else shared/epcis/ beside the repository or beside
// one of its parent folders (a clone may sit deeper than the checkout it came from), else a top-level
// /*/shared/epcis/ of this machine.
func SchemaPath() (string, error) {
	if p := os.Getenv("SUILONG_EPCIS_SCHEMA"); p != "" {
		return p, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	const rel = "shared/epcis/EPCIS-JSON-Schema.json"
	root := ""
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			root = d
			break
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod above %s", wd)
		}
	}
	var tried []string
	for d := filepath.Dir(root); ; d = filepath.Dir(d) {
		p := filepath.Join(d, rel)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		tried = append(tried, p)
		if filepath.Dir(d) == d {
			break
		}
	}
	if found, _ := filepath.Glob(filepath.Join(string(filepath.Separator), "*", rel)); len(found) > 0 {
		return found[0], nil
	}
	return "", fmt.Errorf("GS1 EPCIS schema not found (looked at %s and /*/%s); set SUILONG_EPCIS_SCHEMA to its path",
		strings.Join(tried, ", "), rel)
}

var compiled = sync.OnceValues(func() (*jsonschema.Schema, error) {
	p, err := SchemaPath()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	c.UseRegexpEngine(lookaheadEngine)
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, err
	}
	return c.Compile(schemaURL)
})

// Validate fails the test unless doc is valid against the GS1 EPCIS 2.0 JSON schema, with format assertions on.
func Validate(tb testing.TB, doc []byte) {
	tb.Helper()
	if err := Check(doc); err != nil {
		tb.Fatalf("EPCIS document is not valid against the GS1 schema: %v\n%s", err, doc)
	}
}

// Check returns why doc is invalid, or nil.
func Check(doc []byte) error {
	sch, err := compiled()
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return err
	}
	return sch.Validate(inst)
}

// lookaheadEngine is Go's regexp plus the one construct GS1's schema uses that RE2 lacks: a pattern that is
// entirely a negative lookahead at the start, ^(?!(X)), which matches exactly the strings ^(X) does not.
func lookaheadEngine(s string) (jsonschema.Regexp, error) {
	if inner, ok := strings.CutPrefix(s, "^(?!"); ok && strings.HasSuffix(inner, ")") {
		re, err := regexp.Compile("^" + strings.TrimSuffix(inner, ")"))
		if err != nil {
			return nil, err
		}
		return notRegexp{re, s}, nil
	}
	return regexp.Compile(s)
}

type notRegexp struct {
	re  *regexp.Regexp
	src string
}

func (n notRegexp) MatchString(s string) bool { return !n.re.MatchString(s) }
func (n notRegexp) String() string            { return n.src }
