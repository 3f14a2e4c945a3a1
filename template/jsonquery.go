package template

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/jmespath/go-jmespath"
	"github.com/nikolalohinski/gonja/v2/exec"
)

// jsonQuery is community.general's json_query: a JMESPath query over the
// input. go-jmespath compares numbers as float64, so integers go in as
// floats and whole floats come out as integers, as Python's jmespath
// keeps a JSON integer an int.
func jsonQuery(_ *exec.Evaluator, in *exec.Value, p *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	if len(p.Args) != 1 || !p.Args[0].IsString() {
		return exec.AsValue(errors.New("json_query needs one argument, the query"))
	}
	q, err := jmespath.Compile(legacyLiterals(p.Args[0].String()))
	if err != nil {
		return exec.AsValue(fmt.Errorf("json_query: %w", err))
	}
	out, err := q.Search(floats(normalize(in.Interface())))
	if err != nil {
		return exec.AsValue(fmt.Errorf("json_query: %w", err))
	}
	return exec.AsValue(ints(out))
}

func floats(v any) any {
	switch x := v.(type) {
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = floats(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = floats(e)
		}
		return out
	}
	return v
}

func ints(v any) any {
	switch x := v.(type) {
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int(x)
		}
	case []any:
		for i, e := range x {
			x[i] = ints(e)
		}
	case map[string]any:
		for k, e := range x {
			x[k] = ints(e)
		}
	}
	return v
}

// legacyLiterals quotes the backtick literals of a query that are not JSON
// (`kube-bridge`), which Python's jmespath, and so Ansible, still reads as
// strings (its lexer's deprecated fallback) and go-jmespath refuses.
func legacyLiterals(q string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(q, '`')
		if i < 0 {
			b.WriteString(q)
			return b.String()
		}
		j := i + 1
		for j < len(q) && q[j] != '`' {
			if q[j] == '\\' {
				j++
			}
			j++
		}
		if j >= len(q) {
			b.WriteString(q)
			return b.String()
		}
		lit := strings.ReplaceAll(q[i+1:j], "\\`", "`")
		b.WriteString(q[:i+1])
		if json.Valid([]byte(lit)) {
			b.WriteString(q[i+1 : j])
		} else {
			quoted, _ := json.Marshal(strings.TrimLeft(lit, " "))
			b.WriteString(strings.ReplaceAll(string(quoted), "`", "\\`"))
		}
		b.WriteByte('`')
		q = q[j+1:]
	}
}
