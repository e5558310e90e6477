package errs

import (
	"fmt"
	"testing"
)

func TestCodeOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Code
	}{
		{"nil", nil, ""},
		{"plain error is internal", fmt.Errorf("boom"), Internal},
		{"direct", E(NotFound, "offer %d not found", 3), NotFound},
		{"wrapped with %w", fmt.Errorf("find offer: %w", E(Conflict, "taken")), Conflict},
		{"field errors", func() error { var f FieldErrors; f.Add("kg", "must be positive"); return f.Err() }(), Unprocessable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CodeOf(tt.err); got != tt.want {
				t.Fatalf("CodeOf = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFieldErrorsEmptyIsNil(t *testing.T) {
	var f FieldErrors
	if f.Err() != nil {
		t.Fatal("no fields added, want nil error")
	}
	f.Add("offers[1].grade", "must be between %d and %d", 1, 5)
	e := As(f.Err())
	if e == nil || len(e.Fields) != 1 || e.Fields[0].Field != "offers[1].grade" || e.Fields[0].Message != "must be between 1 and 5" {
		t.Fatalf("unexpected %#v", e)
	}
	if got := e.Error(); got != "validation failed: offers[1].grade must be between 1 and 5" {
		t.Fatalf("Error() = %q", got)
	}
}
