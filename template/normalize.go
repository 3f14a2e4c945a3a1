package template

import (
	"reflect"
	"sort"

	"github.com/nikolalohinski/gonja/v2/exec"
)

// normalize converts gonja values and typed Go collections into the plain
// shapes the rest of gpuctl uses: map[string]any, []any, string, int,
// float64, bool, nil.
func normalize(v any) any {
	switch x := v.(type) {
	case nil, string, bool, int, float64:
		return x
	case *exec.Value:
		if x == nil {
			return nil
		}
		return normalize(x.Interface())
	case *exec.Dict:
		out := make(map[string]any, len(x.Pairs))
		for _, pair := range x.Pairs {
			out[pair.Key.String()] = normalize(pair.Value)
		}
		return out
	case int64:
		return int(x)
	case int32:
		return int(x)
	case uint64:
		return int(x)
	case float32:
		return float64(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			out[k] = normalize(val)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			out[i] = normalize(val)
		}
		return out
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = normalize(rv.Index(i).Interface())
		}
		return out
	case reflect.Map:
		out := make(map[string]any, rv.Len())
		for _, k := range rv.MapKeys() {
			key := k.Interface()
			if kv, ok := key.(*exec.Value); ok {
				key = kv.String()
			}
			out[toString(key)] = normalize(rv.MapIndex(k).Interface())
		}
		return out
	case reflect.Int, reflect.Int8, reflect.Int16:
		return int(rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return int(rv.Uint())
	}
	return v
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return exec.AsValue(v).String()
}

func sortedMapKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
