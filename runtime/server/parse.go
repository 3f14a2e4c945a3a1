package server

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"unsafe"
)

// inputError is a client mistake; its message says what was expected and
// becomes the 4xx body.
type inputError struct {
	status int
	msg    string
}

func (e *inputError) Error() string { return e.msg }

func badInput(status int, format string, args ...any) error {
	return &inputError{status: status, msg: fmt.Sprintf(format, args...)}
}

// parseRows reads the seed's /predict body: a JSON list of numbers (one
// row) or a list of lists (a batch), each row `width` long. It is a small
// hand-written scanner rather than encoding/json into []any: the body is
// numbers only, and this path is most of the work per small request.
// batched reports whether the body was a list of lists, which decides the
// shape of the answer, as it does for the seed's torch.tensor(data).
func parseRows(b []byte, width int, dst []float32, maxRows int) (vals []float32, rows int, batched bool, err error) {
	p := scanner{b: b}
	p.ws()
	if !p.eat('[') {
		return nil, 0, false, p.fail("expected a JSON list of %d numbers, or a list of such lists", width)
	}
	p.ws()
	if p.peek() == '[' {
		batched = true
		for {
			p.ws()
			if !p.eat('[') {
				return nil, 0, false, p.fail("row %d: expected a list of %d numbers", rows, width)
			}
			if rows >= maxRows {
				return nil, 0, false, badInput(413, "batch has more than %d rows (the server's --max-rows)", maxRows)
			}
			var n int
			dst, n, err = p.numbers(dst, rows, width, nil)
			if err == errTooLong {
				return nil, 0, false, badInput(422, "row %d has more than %d numbers, the model takes %d", rows, width, width)
			}
			if err != nil {
				return nil, 0, false, err
			}
			if n != width {
				return nil, 0, false, badInput(422, "row %d has %d numbers, the model takes %d", rows, n, width)
			}
			rows++
			p.ws()
			if p.eat(',') {
				continue
			}
			if p.eat(']') {
				break
			}
			return nil, 0, false, p.fail("expected ',' or ']' after row %d", rows-1)
		}
	} else {
		var n int
		dst, n, err = p.numbers(dst, -1, width, nil)
		if err == errTooLong {
			return nil, 0, false, badInput(422, "got a list of more than %d numbers, the model takes %d per row", width, width)
		}
		if err != nil {
			return nil, 0, false, err
		}
		if n != 0 && n != width {
			return nil, 0, false, badInput(422, "got a list of %d numbers, the model takes %d per row", n, width)
		}
		if n != 0 {
			rows = 1
		}
	}
	p.ws()
	if p.i != len(p.b) {
		return nil, 0, false, p.fail("unexpected data after the list")
	}
	return dst, rows, batched, nil
}

type scanner struct {
	b []byte
	i int
}

func (p *scanner) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *scanner) peek() byte {
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

func (p *scanner) eat(c byte) bool {
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *scanner) fail(format string, args ...any) error {
	where := "end of body"
	if p.i < len(p.b) {
		where = fmt.Sprintf("byte %d (%q)", p.i, p.b[p.i])
	}
	if len(p.b) == 0 {
		return badInput(400, "empty body: "+format, args...)
	}
	return badInput(400, "malformed JSON at "+where+": "+format, args...)
}

// errTooLong is numbers' answer to a list longer than its limit; the
// caller names the limit in its own terms.
var errTooLong = errors.New("list too long")

// numbers reads numbers up to the closing ']' (the '[' is already eaten),
// at most limit of them: it stops at the first number past the limit
// instead of reading (and storing) a list of any length. row is -1 for a
// single-row body, for the messages. dt, when not nil, is the datatype the
// values must fit (v2's integer types).
func (p *scanner) numbers(dst []float32, row, limit int, dt *dtype) ([]float32, int, error) {
	where := rowPrefix(row)
	n := 0
	p.ws()
	if p.eat(']') {
		return dst, 0, nil
	}
	for {
		p.ws()
		start := p.i
		for p.i < len(p.b) {
			c := p.b[p.i]
			if (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
				p.i++
				continue
			}
			break
		}
		tok := p.b[start:p.i]
		if len(tok) == 0 {
			// Name what came instead: a string, null, a nested list, NaN.
			rest := p.b[p.i:]
			switch {
			case len(rest) == 0:
				return nil, 0, p.fail("%sunterminated list", where)
			case rest[0] == '"':
				return nil, 0, badInput(422, "%selement %d is a string; the model takes numbers", where, n)
			case rest[0] == '[' || rest[0] == '{':
				return nil, 0, badInput(422, "%selement %d is a nested list or object; expected a number (send one row as [x, ...] or a batch as [[x, ...], ...])", where, n)
			case hasWord(rest, "NaN"), hasWord(rest, "Infinity"), hasWord(rest, "-Infinity"):
				return nil, 0, badInput(422, "%selement %d is not finite; NaN and Infinity are not accepted", where, n)
			case hasWord(rest, "null"), hasWord(rest, "true"), hasWord(rest, "false"):
				return nil, 0, badInput(422, "%selement %d is %s; the model takes numbers", where, n, word(rest))
			}
			return nil, 0, p.fail("%sexpected a number", where)
		}
		if tok[0] == '-' && len(p.b) > p.i && hasWord(p.b[p.i:], "Infinity") {
			return nil, 0, badInput(422, "%selement %d is not finite; NaN and Infinity are not accepted", where, n)
		}
		v, ok := fastFloat(tok)
		var err error
		if !ok {
			// unsafe.String: ParseFloat only reads tok, and an error is
			// formatted before the body buffer is reused.
			v, err = strconv.ParseFloat(unsafe.String(&tok[0], len(tok)), 64)
		}
		if err != nil || (!ok && !validJSONNumber(tok)) {
			if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
				return nil, 0, badInput(422, "%selement %d (%s) is out of the float32 range", where, n, tok)
			}
			return nil, 0, p.fail("%s%q is not a JSON number", where, tok)
		}
		if dt != nil && !dt.holds(v) {
			return nil, 0, badInput(422, "%selement %d (%s) is not %s: %s", where, n, tok, dt.name, dt.rangeText())
		}
		if math.Abs(v) > math.MaxFloat32 {
			return nil, 0, badInput(422, "%selement %d (%s) is out of the float32 range", where, n, tok)
		}
		if n == limit {
			return nil, 0, errTooLong
		}
		dst = append(dst, float32(v))
		n++
		p.ws()
		if p.eat(',') {
			continue
		}
		if p.eat(']') {
			return dst, n, nil
		}
		return nil, 0, p.fail("%sexpected ',' or ']' after element %d", where, n-1)
	}
}

// rowPrefix is a lazy "row N, " for messages: formatting it for every
// row of every request would cost an allocation per row.
type rowPrefix int

func (r rowPrefix) String() string {
	if r < 0 {
		return ""
	}
	return fmt.Sprintf("row %d, ", int(r))
}

func hasWord(b []byte, w string) bool {
	return len(b) >= len(w) && string(b[:len(w)]) == w
}

func word(b []byte) string {
	for i, c := range b {
		if c < 'a' || c > 'z' {
			return string(b[:i])
		}
	}
	return string(b)
}

var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// fastFloat parses the common JSON number (at most 15 significant digits,
// decimal exponent within ±22) exactly: the digits fit a float64 without
// rounding, as does the power of ten, so one multiplication or division
// rounds once, correctly (Clinger's fast path). Anything else, including
// what is not a JSON number, reports !ok and goes to strconv.ParseFloat.
// Parsing dominates a /predict request with wide rows.
func fastFloat(t []byte) (float64, bool) {
	i, neg := 0, false
	if t[0] == '-' {
		neg, i = true, 1
	}
	var m uint64
	digits, exp := 0, 0
	start := i
	for ; i < len(t) && t[i] >= '0' && t[i] <= '9'; i++ {
		if m != 0 || t[i] != '0' {
			digits++
		}
		m = m*10 + uint64(t[i]-'0')
	}
	if i == start || (t[start] == '0' && i-start > 1) {
		return 0, false
	}
	if i < len(t) && t[i] == '.' {
		i++
		fs := i
		for ; i < len(t) && t[i] >= '0' && t[i] <= '9'; i++ {
			if m != 0 || t[i] != '0' {
				digits++
			}
			m = m*10 + uint64(t[i]-'0')
			exp--
		}
		if i == fs {
			return 0, false
		}
	}
	if digits > 15 {
		return 0, false
	}
	if i < len(t) && (t[i] == 'e' || t[i] == 'E') {
		i++
		eneg := false
		if i < len(t) && (t[i] == '+' || t[i] == '-') {
			eneg = t[i] == '-'
			i++
		}
		es, e := i, 0
		for ; i < len(t) && t[i] >= '0' && t[i] <= '9'; i++ {
			if e < 10000 {
				e = e*10 + int(t[i]-'0')
			}
		}
		if i == es {
			return 0, false
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	if i != len(t) || exp < -22 || exp > 22 {
		return 0, false
	}
	f := float64(m)
	if exp < 0 {
		f /= pow10[-exp]
	} else {
		f *= pow10[exp]
	}
	if neg {
		f = -f
	}
	return f, true
}

// validJSONNumber applies JSON's grammar, which is stricter than
// ParseFloat's (no "+1", ".5", "1.", hex or underscores).
func validJSONNumber(t []byte) bool {
	i := 0
	if i < len(t) && t[i] == '-' {
		i++
	}
	if i >= len(t) {
		return false
	}
	if t[i] == '0' {
		i++
	} else if t[i] >= '1' && t[i] <= '9' {
		for i < len(t) && t[i] >= '0' && t[i] <= '9' {
			i++
		}
	} else {
		return false
	}
	if i < len(t) && t[i] == '.' {
		i++
		d := i
		for i < len(t) && t[i] >= '0' && t[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	if i < len(t) && (t[i] == 'e' || t[i] == 'E') {
		i++
		if i < len(t) && (t[i] == '+' || t[i] == '-') {
			i++
		}
		d := i
		for i < len(t) && t[i] >= '0' && t[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	return i == len(t)
}

// appendFloat writes the shortest decimal that reads back as the same
// float32, which is what a client comparing with the seed's output needs.
func appendFloat(b []byte, v float32) []byte {
	return strconv.AppendFloat(b, float64(v), 'g', -1, 32)
}
