// Package epcisschema validates EPCIS 2.0 JSON-LD documents against GS1's JSON schema
// (EPCIS-JSON-Schema.json), with format assertions on: what EPCIS capture accepts and what the export tests
// check.
//
// The schema is not in the repository: GS1's licence file that comes with it grants no right to redistribute
// it. Find looks where a checkout keeps it; operators point SUILONG_EPCIS_SCHEMA at their copy.
package epcisschema

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

const schemaURL = "https://gs1.github.io/EPCIS/EPCIS-JSON-Schema.json"

// Find returns the path of GS1's schema: shared/epcis/ beside the module of the working directory or beside one
// of its parent folders, else a top-level /*/shared/epcis/ of this machine.
func Find() (string, error) {
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
			root = wd
			break
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

// Schema is the compiled schema.
type Schema struct{ s *jsonschema.Schema }

// Load compiles the schema file at path.
func Load(path string) (*Schema, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	c.UseRegexpEngine(lookaheadEngine)
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, err
	}
	s, err := c.Compile(schemaURL)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &Schema{s}, nil
}

// Check returns why doc is not a valid EPCIS document, or nil.
func (s *Schema) Check(doc []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return err
	}
	return s.s.Validate(inst)
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
