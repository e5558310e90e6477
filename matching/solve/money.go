package solve

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Fen is an amount of money in fen (1 CNY = 100 fen). Prices, costs and the objective are all Fen so that
// every sum is exact; JSON carries CNY with exactly two decimals (3000.00), never a float.
type Fen int64

// MaxMoney bounds every price, cost and bonus per kg (1,000,000.00 CNY). With MaxTotalKg it keeps every
// product of kg and fen, and every sum of them, inside int64.
const MaxMoney Fen = 100_000_000

// String formats f as CNY with two decimals: 1234 → "12.34", -5 → "-0.05".
func (f Fen) String() string { return string(f.append(nil)) }

func (f Fen) append(dst []byte) []byte {
	u := uint64(f)
	if f < 0 {
		dst = append(dst, '-')
		u = uint64(-f) // -MinInt64 wraps to itself, which as uint64 is still the right magnitude
	}
	dst = strconv.AppendUint(dst, u/100, 10)
	c := u % 100
	return append(dst, '.', byte('0'+c/10), byte('0'+c%10))
}

// MarshalJSON writes f as a JSON number with exactly two decimals.
func (f Fen) MarshalJSON() ([]byte, error) { return f.append(nil), nil }

// UnmarshalJSON reads a JSON number with at most two decimals, exactly (no float rounding).
func (f *Fen) UnmarshalJSON(b []byte) error {
	v, err := ParseFen(string(bytes.TrimSpace(b)))
	if err != nil {
		return err
	}
	*f = v
	return nil
}

// ParseFen parses a decimal amount of CNY such as "3.20", "3.2", "3" or "-0.05" into fen. It accepts at most
// two decimals and no exponent: money is exact to the fen, so "3.201" is an error rather than a rounding.
func ParseFen(s string) (Fen, error) {
	if s == "" {
		return 0, fmt.Errorf("is empty; write an amount in CNY such as 3.20")
	}
	if s[0] == '"' {
		return 0, fmt.Errorf("must be a number such as 3.20, not a string")
	}
	neg := false
	t := s
	if t[0] == '-' {
		neg = true
		t = t[1:]
	}
	intPart, frac, hasDot := strings.Cut(t, ".")
	if intPart == "" || !allDigits(intPart) || (hasDot && !allDigits(frac)) || (hasDot && frac == "") {
		if strings.ContainsAny(t, "eE") {
			return 0, fmt.Errorf("must be a plain decimal such as 3.20, not %s", s)
		}
		return 0, fmt.Errorf("must be an amount in CNY such as 3.20, not %s", s)
	}
	if len(frac) > 2 {
		return 0, fmt.Errorf("has more than two decimals (%s): money is exact to the fen, 0.01 CNY", s)
	}
	if len(intPart) > 1 && intPart[0] == '0' {
		return 0, fmt.Errorf("must not have leading zeros (%s)", s)
	}
	// Anything longer than 15 integer digits is far beyond MaxMoney; refuse before it could overflow.
	if len(intPart) > 15 {
		return 0, fmt.Errorf("is out of range (%s); at most %s CNY", s, MaxMoney)
	}
	whole, err := strconv.ParseInt(intPart, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("is out of range (%s)", s)
	}
	for len(frac) < 2 {
		frac += "0"
	}
	cents, _ := strconv.ParseInt(frac, 10, 64)
	v := Fen(whole*100 + cents)
	if neg {
		v = -v
	}
	return v, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
