// Package pyjson decodes JSON as Python's json module does: whole numbers
// are ints, others floats. Ansible modules, filter plugins and async job
// files are written by Python; rc must render as 4, not 4.0.
package pyjson

import (
	"encoding/json"
	"io"
)

// Decode reads one JSON value from r (anything after it is left unread).
func Decode(r io.Reader) (any, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return numbers(v), nil
}

// DecodeObject is Decode for a JSON object.
func DecodeObject(r io.Reader) (map[string]any, error) {
	v, err := Decode(r)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, &json.UnmarshalTypeError{Value: "non-object", Type: nil}
	}
	return m, nil
}

func numbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return int(i)
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = numbers(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = numbers(x[k])
		}
	}
	return v
}
