// Package errs is Suilong's error vocabulary: every domain returns these codes, and the HTTP layer maps each
// code to one status in one place, so a caller learns what went wrong without a domain knowing about HTTP.
package errs

import (
	"errors"
	"fmt"
	"strings"
)

// Code classifies an error by what the caller can do about it.
type Code string

// The codes, with the HTTP status the API gives each.
const (
	Invalid       Code = "invalid"       // 400: the request itself is malformed
	Unauthorized  Code = "unauthorized"  // 401: no or bad credentials
	Forbidden     Code = "forbidden"     // 403: authenticated, but not allowed
	NotFound      Code = "not_found"     // 404: absent, or not visible to the caller
	Conflict      Code = "conflict"      // 409: clashes with the current state
	Unprocessable Code = "unprocessable" // 422: well-formed but fails validation; see Fields
	Internal      Code = "internal"      // 500: our fault; the message is not shown to clients
)

// FieldError names one field at fault and why. Field uses JSON paths as the client wrote them
// ("offers[2].quantity_kg").
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is a classified error. Message is safe to show to the caller unless Code is Internal.
type Error struct {
	Code    Code
	Message string
	Fields  []FieldError
	Err     error // the cause, for logs; never shown to clients
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Message)
	for i, f := range e.Fields {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(f.Field + " " + f.Message)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// E returns a new error with the given code and a formatted message.
func E(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap classifies err with a code and a caller-safe message, keeping err as the cause.
func Wrap(code Code, err error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// As returns the first *Error in err's chain, or nil.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// CodeOf returns err's code: "" for nil, Internal for errors that carry none.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	if e := As(err); e != nil {
		return e.Code
	}
	return Internal
}

// Is reports whether err carries the given code.
func Is(err error, code Code) bool { return CodeOf(err) == code }

// FieldErrors collects validation failures so that a client learns of all of them at once.
type FieldErrors []FieldError

// Add records that field is at fault.
func (f *FieldErrors) Add(field, format string, args ...any) {
	*f = append(*f, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Err returns nil when nothing was added, else an Unprocessable error listing the fields.
func (f FieldErrors) Err() error {
	if len(f) == 0 {
		return nil
	}
	return &Error{Code: Unprocessable, Message: "validation failed", Fields: append([]FieldError(nil), f...)}
}
