// The fast decoder's values: white space, punctuation, strings, numbers, money, times and dates, each read
// in place from the text or refused (ok false) for the general decoder to word.

package solve

import (
	"strings"
	"time"
	"unicode/utf8"
)

func (p *fastParser) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// byte skips white space and then c, reporting whether c was there.
func (p *fastParser) byte(c byte) bool {
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *fastParser) null() bool {
	p.ws()
	if len(p.s)-p.i >= 4 && p.s[p.i:p.i+4] == "null" {
		p.i += 4
		return true
	}
	return false
}

// str reads a string without escapes or control characters, in valid UTF-8.
func (p *fastParser) str() (string, bool) {
	if !p.byte('"') {
		return "", false
	}
	start := p.i
	ascii := true
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			v := p.s[start:p.i]
			p.i++
			if !ascii && !utf8.ValidString(v) {
				return "", false
			}
			return v, true
		case c == '\\' || c < 0x20:
			return "", false
		case c >= 0x80:
			ascii = false
		}
		p.i++
	}
	return "", false
}

// number reads a JSON number's text.
func (p *fastParser) number() (string, bool) {
	p.ws()
	start := p.i
	if p.i < len(p.s) && p.s[p.i] == '-' {
		p.i++
	}
	switch {
	case p.i < len(p.s) && p.s[p.i] == '0':
		p.i++
	case p.i < len(p.s) && p.s[p.i] >= '1' && p.s[p.i] <= '9':
		p.digits()
	default:
		return "", false
	}
	if p.i < len(p.s) && p.s[p.i] == '.' {
		p.i++
		if p.digits() == 0 {
			return "", false
		}
	}
	if p.i < len(p.s) && (p.s[p.i] == 'e' || p.s[p.i] == 'E') {
		return "", false // the general decoder explains why exponents are refused
	}
	return p.s[start:p.i], true
}

func (p *fastParser) digits() int {
	start := p.i
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	return p.i - start
}

// integer reads a whole number small enough to be exact in int64.
func (p *fastParser) integer() (int64, bool) {
	t, ok := p.number()
	if !ok || len(t) > 18 {
		return 0, false
	}
	var n int64
	neg := t[0] == '-'
	if neg {
		t = t[1:]
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c < '0' || c > '9' {
			return 0, false // a fraction
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

func (p *fastParser) fen() (Fen, bool) {
	t, ok := p.number()
	if !ok {
		return 0, false
	}
	f, err := ParseFen(t)
	return f, err == nil
}

func (p *fastParser) time() (time.Time, bool) {
	s, ok := p.str()
	if !ok {
		return time.Time{}, false
	}
	if t, ok := utcTime(s); ok {
		return t, true
	}
	t, err := time.Parse(time.RFC3339, s)
	return t, err == nil
}

// utcTime reads the most common form, 2026-11-20T06:00:00Z, without time.Parse's generality; any other form
// (fractions, offsets, an impossible date) is left to time.Parse.
func utcTime(s string) (time.Time, bool) {
	if len(s) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z' {
		return time.Time{}, false
	}
	num := func(a, b int) int {
		n := 0
		for i := a; i < b; i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return -1
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	y, mo, d, h, mi, sec := num(0, 4), num(5, 7), num(8, 10), num(11, 13), num(14, 16), num(17, 19)
	if y < 0 || mo < 1 || mo > 12 || d < 1 || d > 28 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59 {
		return time.Time{}, false // days 29–31 go to time.Parse, which knows the length of each month
	}
	return time.Date(y, time.Month(mo), d, h, mi, sec, 0, time.UTC), true
}

func (p *fastParser) strs() ([]string, bool) {
	if !p.byte('[') {
		return nil, false
	}
	start := len(p.certs)
	for first := true; ; first = false {
		if p.byte(']') {
			break
		}
		if !first && !p.byte(',') {
			return nil, false
		}
		v, ok := p.str()
		if !ok {
			return nil, false
		}
		p.certs = append(p.certs, v)
	}
	if len(p.certs) == start {
		return []string{}, true // as encoding/json reads [], an empty list rather than none
	}
	return p.certs[start:len(p.certs):len(p.certs)], true
}

func (p *fastParser) boolean() (bool, bool) {
	p.ws()
	switch {
	case strings.HasPrefix(p.s[p.i:], "true"):
		p.i += 4
		return true, true
	case strings.HasPrefix(p.s[p.i:], "false"):
		p.i += 5
		return false, true
	}
	return false, false
}

func (p *fastParser) date() (Date, bool) {
	s, ok := p.str()
	if !ok {
		return 0, false
	}
	d, err := ParseDate(s)
	return d, err == nil
}
