package kubeclient

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/gpuctl/gpuctl/plan"
)

// serverOwned are metadata fields the server sets on every write; they
// differ between any two reads and say nothing about the desired state.
var serverOwned = []string{"managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink"}

// Normalize returns the object without status and server-maintained
// metadata, for comparing a live object with a dry-run result.
func Normalize(u *unstructured.Unstructured) map[string]any {
	if u == nil {
		return nil
	}
	o := u.DeepCopy().Object
	delete(o, "status")
	if md, ok := o["metadata"].(map[string]any); ok {
		for _, k := range serverOwned {
			delete(md, k)
		}
		if ann, ok := md["annotations"].(map[string]any); ok {
			// The DaemonSet controller's template counter follows template
			// changes, which the diff already shows.
			delete(ann, "deprecated.daemonset.template.generation")
			if len(ann) == 0 {
				delete(md, "annotations")
			}
		}
	}
	return o
}

// Project keeps only the parts of v that shape (the manifest) sets, so a
// diff shows the fields gpuctl manages rather than every server default.
// Lists are projected element by element against the manifest's element at
// the same index (or its last one, for lists the server made longer).
func Project(v, shape any) any {
	switch s := shape.(type) {
	case map[string]any:
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		out := map[string]any{}
		for k, sv := range s {
			if mv, ok := m[k]; ok {
				out[k] = Project(mv, sv)
			}
		}
		return out
	case []any:
		l, ok := v.([]any)
		if !ok || len(s) == 0 {
			return v
		}
		out := make([]any, len(l))
		for i, e := range l {
			out[i] = Project(e, s[min(i, len(s)-1)])
		}
		return out
	}
	return v
}

// objectChange describes one object's change with before/after YAML of the
// fields the manifest sets, and names the changed fields.
func objectChange(desired, live, after *unstructured.Unstructured, action plan.Action) plan.Change {
	shape := desired.Object
	var before, afterV any
	if live != nil {
		before = Project(Normalize(live), shape)
	}
	if after != nil {
		afterV = Project(Normalize(after), shape)
	}
	// A change outside the manifest's fields (server defaulting reacting to
	// one inside them) would otherwise show as an empty diff.
	if action == plan.Update && reflect.DeepEqual(before, afterV) {
		before, afterV = Normalize(live), Normalize(after)
	}
	c := plan.Change{Resource: Ref(desired), Action: action, Content: true}
	c.Before = toYAML(before)
	c.After = toYAML(afterV)
	if action == plan.Update {
		c.Field = summarize(changedPaths("", before, afterV))
	}
	// Secrets' values are credentials.
	if desired.GetKind() == "Secret" && desired.GroupVersionKind().Group == "" {
		c.Sensitive = true
	}
	return c
}

func toYAML(v any) string {
	if v == nil {
		return ""
	}
	b, err := yaml.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// changedPaths lists the dotted paths of leaves that differ.
func changedPaths(prefix string, a, b any) []string {
	if reflect.DeepEqual(a, b) {
		return nil
	}
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		var out []string
		for k := range keys {
			out = append(out, changedPaths(join(prefix, k), am[k], bm[k])...)
		}
		sort.Strings(out)
		return out
	}
	al, aok := a.([]any)
	bl, bok := b.([]any)
	if aok && bok && len(al) == len(bl) {
		var out []string
		for i := range al {
			out = append(out, changedPaths(fmt.Sprintf("%s[%d]", prefix, i), al[i], bl[i])...)
		}
		return out
	}
	if prefix == "" {
		prefix = "."
	}
	return []string{prefix}
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

// summarize keeps a field list short enough for one line.
func summarize(paths []string) string {
	const max = 4
	if len(paths) > max {
		return strings.Join(paths[:max], ", ") + fmt.Sprintf(" (+%d more)", len(paths)-max)
	}
	return strings.Join(paths, ", ")
}
