package ingest

// The JSON scanner under the decoder: a hand-written, allocation-free reader of exactly the JSON that
// encoding/json accepts (FuzzDecode holds it to that), which hands object members to the reading schema in
// decode.go as it meets them.

import (
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

type parser struct {
	b      []byte
	i      int
	intern func([]byte) string
}

type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string { return fmt.Sprintf("%s at byte %d", e.msg, e.off) }

func (p *parser) errf(format string, args ...any) error {
	return &syntaxError{off: p.i, msg: fmt.Sprintf(format, args...)}
}

func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// end reports whether only whitespace is left.
func (p *parser) end() bool {
	p.ws()
	return p.i == len(p.b)
}

// object parses an object whose '{' is at p.i, calling member for each key with p.i at the start of the value;
// member must consume the value.
func (p *parser) object(depth int, member func(key []byte) error) error {
	if depth >= maxDepth {
		return p.errf("nesting too deep")
	}
	p.i++ // '{'
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return nil
	}
	for {
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return p.errf("expected a string key")
		}
		key, esc, err := p.str()
		if err != nil {
			return err
		}
		if esc {
			key = p.unescape(key)
		}
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return p.errf("expected ':' after key")
		}
		p.i++
		p.ws()
		if p.i >= len(p.b) {
			return p.errf("unexpected end of input")
		}
		if err := member(key); err != nil {
			return err
		}
		p.ws()
		if p.i >= len(p.b) {
			return p.errf("unexpected end of input")
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return nil
		default:
			return p.errf("expected ',' or '}'")
		}
	}
}

// readings parses the "readings" array.

func (p *parser) null() error { return p.lit("null") }

func (p *parser) lit(s string) error {
	if len(p.b)-p.i < len(s) || string(p.b[p.i:p.i+len(s)]) != s {
		return p.errf("invalid literal")
	}
	p.i += len(s)
	return nil
}

// number scans a JSON number and returns its text.
func (p *parser) number() ([]byte, error) {
	start := p.i
	if p.i < len(p.b) && p.b[p.i] == '-' {
		p.i++
	}
	if p.i >= len(p.b) {
		return nil, p.errf("invalid number")
	}
	switch c := p.b[p.i]; {
	case c == '0':
		p.i++
	case c >= '1' && c <= '9':
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			p.i++
		}
	default:
		return nil, p.errf("invalid number")
	}
	if p.i < len(p.b) && p.b[p.i] == '.' {
		p.i++
		d := p.i
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			p.i++
		}
		if p.i == d {
			return nil, p.errf("invalid number")
		}
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		p.i++
		if p.i < len(p.b) && (p.b[p.i] == '+' || p.b[p.i] == '-') {
			p.i++
		}
		d := p.i
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			p.i++
		}
		if p.i == d {
			return nil, p.errf("invalid number")
		}
	}
	return p.b[start:p.i], nil
}

// str scans a string whose '"' is at p.i and returns its raw contents and whether they hold escapes.
func (p *parser) str() ([]byte, bool, error) {
	p.i++
	start := p.i
	esc := false
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			return s, esc, nil
		case c == '\\':
			esc = true
			p.i++
			if p.i >= len(p.b) {
				return nil, false, p.errf("unterminated string")
			}
			switch p.b[p.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.i++
			case 'u':
				if len(p.b)-p.i < 5 || !isHex4(p.b[p.i+1:p.i+5]) {
					return nil, false, p.errf("invalid \\u escape")
				}
				p.i += 5
			default:
				return nil, false, p.errf("invalid escape")
			}
		case c < 0x20:
			return nil, false, p.errf("control character in string")
		default:
			p.i++
		}
	}
	return nil, false, p.errf("unterminated string")
}

func isHex4(b []byte) bool {
	for _, c := range b[:4] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		default:
			r |= rune(c - 'A' + 10)
		}
	}
	return r
}

// unescape decodes the escapes of a string str has already checked. Invalid surrogates become U+FFFD, as
// encoding/json does.
func (p *parser) unescape(s []byte) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		i++
		switch s[i] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r := hex4(s[i+1:])
			i += 4 // at the last hex digit
			if utf16.IsSurrogate(r) {
				if i+6 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
					if dec := utf16.DecodeRune(r, hex4(s[i+3:])); dec != utf8.RuneError {
						out = utf8.AppendRune(out, dec)
						i += 7
						continue
					}
				}
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
		default: // '"', '\\', '/'
			out = append(out, s[i])
		}
		i++
	}
	return out
}

// skipValue checks and skips any JSON value.
func (p *parser) skipValue(depth int) error {
	if p.i >= len(p.b) {
		return p.errf("unexpected end of input")
	}
	switch c := p.b[p.i]; {
	case c == '{':
		return p.object(depth+1, func([]byte) error { return p.skipValue(depth + 1) })
	case c == '[':
		if depth+1 >= maxDepth {
			return p.errf("nesting too deep")
		}
		p.i++
		p.ws()
		if p.i < len(p.b) && p.b[p.i] == ']' {
			p.i++
			return nil
		}
		for {
			p.ws()
			if err := p.skipValue(depth + 1); err != nil {
				return err
			}
			p.ws()
			if p.i >= len(p.b) {
				return p.errf("unexpected end of input")
			}
			switch p.b[p.i] {
			case ',':
				p.i++
			case ']':
				p.i++
				return nil
			default:
				return p.errf("expected ',' or ']'")
			}
		}
	case c == '"':
		_, _, err := p.str()
		return err
	case c == 't':
		return p.lit("true")
	case c == 'f':
		return p.lit("false")
	case c == 'n':
		return p.lit("null")
	default:
		_, err := p.number()
		return err
	}
}

// checkID accepts ids of 1 to 64 printable characters without spaces: they become InfluxDB tag values and
