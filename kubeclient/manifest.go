package kubeclient

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// Decode splits a multi-document YAML or JSON manifest into objects, skipping
// empty documents and unrolling v1 Lists. source names the manifest in errors.
func Decode(source string, data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for i := 1; ; i++ {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("%s: document %d: %w", source, i, err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.IsList() {
			l, err := u.ToList()
			if err != nil {
				return nil, fmt.Errorf("%s: document %d: %w", source, i, err)
			}
			for j := range l.Items {
				out = append(out, &l.Items[j])
			}
			continue
		}
		if err := validObject(u); err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", source, i, err)
		}
		out = append(out, u)
	}
}

// FromMaps turns already-parsed YAML values (a playbook's inline definition)
// into objects.
func FromMaps(source string, docs []map[string]any) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for i, m := range docs {
		u := &unstructured.Unstructured{Object: normalizeYAML(m).(map[string]any)}
		if err := validObject(u); err != nil {
			return nil, fmt.Errorf("%s: object %d: %w", source, i+1, err)
		}
		out = append(out, u)
	}
	return out, nil
}

func validObject(u *unstructured.Unstructured) error {
	var missing []string
	if u.GetAPIVersion() == "" {
		missing = append(missing, "apiVersion")
	}
	if u.GetKind() == "" {
		missing = append(missing, "kind")
	}
	if u.GetName() == "" {
		missing = append(missing, "metadata.name")
	}
	if len(missing) > 0 {
		return fmt.Errorf("object %s has no %s", Ref(u), strings.Join(missing, ", "))
	}
	return nil
}

// normalizeYAML converts map[any]any and int widths from YAML decoders into
// the JSON-shaped values unstructured objects require.
func normalizeYAML(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = normalizeYAML(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[fmt.Sprint(k)] = normalizeYAML(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = normalizeYAML(e)
		}
		return out
	case int:
		return int64(t)
	case int32:
		return int64(t)
	case uint64:
		return int64(t)
	case float32:
		return float64(t)
	}
	return v
}

// Ref names an object the way users read it: kind/namespace/name, with
// the kind in lower case ("daemonset/kube-flannel/kube-flannel-ds").
func Ref(u *unstructured.Unstructured) string {
	kind := strings.ToLower(u.GetKind())
	if kind == "" {
		kind = "object"
	}
	if ns := u.GetNamespace(); ns != "" {
		return kind + "/" + ns + "/" + u.GetName()
	}
	return kind + "/" + u.GetName()
}
