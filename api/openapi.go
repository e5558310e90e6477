package api

import (
	"embed"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"slices"
	"sync"

	"github.com/gin-gonic/gin"
	"gopkg.in/yaml.v3"
)

// The spec is kept in fragments, one per area (openapi/*.yaml), so that each area documents its own routes
// beside its code; they are merged into one OpenAPI 3 document when first served.
//
//go:embed openapi/*.yaml
var specFS embed.FS

var spec = sync.OnceValues(func() ([]byte, error) {
	doc, err := Spec()
	if err != nil {
		return nil, err
	}
	return yaml.Marshal(doc)
})

// Spec returns the merged OpenAPI document.
func Spec() (map[string]any, error) {
	names, err := fs.Glob(specFS, "openapi/*.yaml")
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	// base.yaml carries openapi/info/servers; merge it first.
	slices.SortStableFunc(names, func(a, b string) int {
		return boolInt(b == "openapi/base.yaml") - boolInt(a == "openapi/base.yaml")
	})
	out := map[string]any{}
	for _, n := range names {
		b, err := specFS.ReadFile(n)
		if err != nil {
			return nil, err
		}
		var frag map[string]any
		if err := yaml.Unmarshal(b, &frag); err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		if err := merge(out, frag, n); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// merge copies src into dst, descending into maps; the same leaf in two fragments is an error, because one of
// them would silently lose.
func merge(dst, src map[string]any, file string) error {
	for _, k := range slices.Sorted(maps.Keys(src)) {
		sv := src[k]
		dv, ok := dst[k]
		if !ok {
			dst[k] = sv
			continue
		}
		dm, dok := dv.(map[string]any)
		sm, sok := sv.(map[string]any)
		if !dok || !sok {
			if k == "openapi" || k == "info" || k == "servers" {
				continue
			}
			return fmt.Errorf("%s: %q is defined in two spec fragments", file, k)
		}
		if err := merge(dm, sm, file); err != nil {
			return err
		}
	}
	return nil
}

func serveSpec(c *gin.Context) {
	b, err := spec()
	if err != nil {
		c.String(http.StatusInternalServerError, "openapi spec: %v", err)
		return
	}
	c.Data(http.StatusOK, "application/yaml; charset=utf-8", b)
}
