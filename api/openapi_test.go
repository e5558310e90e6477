package api_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/suilong/suilong/api"
)

// Every paginated list in the spec says how it pages: an operation taking offset takes the keyset cursor after
// too, and every list shape with a total carries total_capped and next, as rest.ListDoc writes them.
func TestSpecDocumentsKeysetPagination(t *testing.T) {
	spec, err := api.Spec()
	if err != nil {
		t.Fatal(err)
	}
	paths, _ := spec["paths"].(map[string]any)
	lists := 0
	for p, v := range paths {
		ops, _ := v.(map[string]any)
		for method, o := range ops {
			op, _ := o.(map[string]any)
			params, _ := op["parameters"].([]any)
			var refs []string
			for _, x := range params {
				if m, ok := x.(map[string]any); ok {
					refs = append(refs, fmt.Sprint(m["$ref"]))
				}
			}
			joined := strings.Join(refs, " ")
			if strings.Contains(joined, "parameters/offset") {
				lists++
				if !strings.Contains(joined, "parameters/after") {
					t.Errorf("%s %s takes offset but not after", strings.ToUpper(method), p)
				}
			}
		}
	}
	if lists < 16 {
		t.Errorf("found %d paginated operations; the walk is broken", lists)
	}
	shapes := 0
	var walk func(where string, v any)
	walk = func(where string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if props, ok := x["properties"].(map[string]any); ok && props["total"] != nil && props["offset"] != nil {
				shapes++
				if props["next"] == nil || props["total_capped"] == nil {
					t.Errorf("list shape at %s has total and offset but not next and total_capped", where)
				}
			}
			for k, e := range x {
				walk(where+"/"+k, e)
			}
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", where, i), e)
			}
		}
	}
	walk("", spec)
	if shapes < 10 {
		t.Errorf("found %d list shapes; the walk is broken", shapes)
	}
}
