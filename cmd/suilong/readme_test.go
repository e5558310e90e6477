package main

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// envVars lists every SUILONG_* variable the command line reads, from the env tags of CLI and its commands.
func envVars(t reflect.Type, out map[string]bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return
	}
	for i := range t.NumField() {
		f := t.Field(i)
		for _, v := range strings.Split(f.Tag.Get("env"), ",") {
			if v != "" {
				out[v] = true
			}
		}
		envVars(f.Type, out)
	}
}

// The README's configuration section names every SUILONG_* variable, so that it stays true as settings are added.
func TestREADMENamesEverySetting(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]bool{}
	envVars(reflect.TypeFor[CLI](), vars)
	if len(vars) < 20 {
		t.Fatalf("found only %d variables: the walk is broken", len(vars))
	}
	var missing []string
	for v := range vars {
		if !strings.Contains(string(readme), "`"+v+"`") {
			missing = append(missing, v)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("README.md does not list %v", missing)
	}
}
