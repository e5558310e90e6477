// Package epcistest validates EPCIS documents against GS1's EPCIS 2.0 JSON schema in tests (epcisschema).
//
// The schema is read from the project's shared folder (see SchemaPath), or from SUILONG_EPCIS_SCHEMA. It is not
// copied into the repository: GS1's licence file that comes with it grants no right to redistribute it.
package epcistest

import (
	"os"
	"sync"
	"testing"

	"github.com/suilong/suilong/trace/epcisschema"
)

// SchemaPath finds the GS1 schema file: SUILONG_EPCIS_SCHEMA, else shared/epcis/ beside the repository or beside
// one of its parent folders (a clone may sit deeper than the checkout it came from), else a top-level
// /*/shared/epcis/ of this machine.
func SchemaPath() (string, error) {
	if p := os.Getenv("SUILONG_EPCIS_SCHEMA"); p != "" {
		return p, nil
	}
	return epcisschema.Find()
}

var compiled = sync.OnceValues(func() (*epcisschema.Schema, error) {
	p, err := SchemaPath()
	if err != nil {
		return nil, err
	}
	return epcisschema.Load(p)
})

// Schema returns the compiled schema, failing the test when it cannot be had.
func Schema(tb testing.TB) *epcisschema.Schema {
	tb.Helper()
	s, err := compiled()
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

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
	return sch.Check(doc)
}
