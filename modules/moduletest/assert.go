package moduletest

import (
	"context"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

// NoChange asserts that a fresh module has nothing to do on h (what a
// second run finds), and returns what it registers.
func NoChange(t *testing.T, h modules.Host, name string, args map[string]any) map[string]any {
	t.Helper()
	m := New(t, name, args)
	d, err := m.Check(context.Background(), h)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if !d.Empty() {
		t.Fatalf("%s: expected no change, got:\n%s", name, Describe(d))
	}
	return Result(m)
}

// CheckOnly runs one check as --check does (modules.CheckOnly).
func CheckOnly(t *testing.T, h modules.Host, name string, args map[string]any) (plan.Diff, error) {
	t.Helper()
	return modules.CheckOnly(context.Background(), New(t, name, args), h)
}

// Apply runs one task as a real run does (check, then apply when needed)
// and returns the diff and what the module registers.
func Apply(t *testing.T, h modules.Host, name string, args map[string]any) (plan.Diff, map[string]any, error) {
	t.Helper()
	ctx := context.Background()
	m := New(t, name, args)
	d, err := m.Check(ctx, h)
	if err == nil && !d.Empty() {
		err = m.Apply(ctx, h, d)
	}
	return d, Result(m), err
}

// Result is what `register` would get from m, or nil.
func Result(m modules.Module) map[string]any {
	if rs, ok := m.(modules.Resulter); ok {
		return rs.Result()
	}
	return nil
}

// BadArgs asserts that building the module fails with an error containing
// want: bad arguments are refused before any host is touched.
func BadArgs(t *testing.T, name string, args map[string]any, want string) {
	t.Helper()
	_, err := modules.New(name, args)
	if err == nil {
		t.Errorf("%s %v: accepted, want error containing %q", name, args, want)
		return
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("%s %v: error %q, want it to contain %q", name, args, err, want)
	}
}

// Describe is a diff as a test log shows it: one line a change, secrets
// masked, contents left out.
func Describe(d plan.Diff) string {
	var b strings.Builder
	for _, c := range d.Masked(nil).Changes {
		b.WriteString("  " + c.Action.Symbol() + " " + c.Resource)
		if c.Field != "" {
			b.WriteString(" " + c.Field)
		}
		if !c.Content && (c.Before != "" || c.After != "") {
			b.WriteString(": " + c.Before + " → " + c.After)
		}
		b.WriteString("\n")
	}
	if d.Unknown != "" {
		b.WriteString("  ? " + d.Unknown + "\n")
	}
	for _, n := range d.Notes {
		b.WriteString("  note: " + n + "\n")
	}
	return b.String()
}

// HasChange reports whether d changes resource (field "" matches any).
func HasChange(d plan.Diff, resource, field string) bool {
	for _, c := range d.Changes {
		if c.Resource == resource && (field == "" || c.Field == field) {
			return true
		}
	}
	return false
}
