// Package plan holds the structured description of what a task would
// change on a host. Modules compute it; renderers in this package print it.
// Keeping the two apart lets the text and JSON outputs show exactly the same
// facts, and lets secrets be masked in one place.
package plan

import "strings"

// Action says what happens to a resource.
type Action string

const (
	Create  Action = "create"  // resource does not exist yet
	Update  Action = "update"  // resource exists and one of its fields changes
	Delete  Action = "delete"  // resource is removed
	Replace Action = "replace" // resource is removed and created again
	Run     Action = "run"     // a command runs; its effect cannot be predicted
)

// Symbol is the one-character marker used in text output, as OpenTofu does.
func (a Action) Symbol() string {
	switch a {
	case Create:
		return "+"
	case Delete:
		return "-"
	case Replace:
		return "-/+"
	case Run:
		return "!"
	default:
		return "~"
	}
}

// Change is one field of one resource that differs between the host and the
// desired state.
type Change struct {
	// Resource names the thing changed, as kind:name ("file:/etc/fstab",
	// "service:containerd", "package:kubelet", "node/gpu-1").
	Resource string `json:"resource"`
	Action   Action `json:"action"`
	// Field is the attribute that differs ("content", "mode", "state");
	// empty when the whole resource is created or deleted.
	Field  string `json:"field,omitempty"`
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
	// Content marks Before/After as file contents, rendered as a unified diff.
	Content bool `json:"content,omitempty"`
	// Sensitive values are never printed, in any renderer.
	Sensitive bool `json:"sensitive,omitempty"`
}

// Diff is everything a task would change on one host. An empty diff means
// the host is already in the desired state.
type Diff struct {
	Changes []Change `json:"changes,omitempty"`
	// Unknown is set when the outcome depends on something an earlier task
	// would change in check mode; it holds the reason ("known after apply").
	Unknown string `json:"unknown,omitempty"`
	// Notes are facts worth showing next to the changes (e.g. "node stays
	// NotReady until a CNI is installed"). They do not make a diff non-empty.
	Notes []string `json:"notes,omitempty"`
	// State carries module-private data from Check to Apply; never rendered.
	State any `json:"-"`
}

// Empty reports whether applying the diff would change nothing.
func (d Diff) Empty() bool { return len(d.Changes) == 0 && d.Unknown == "" }

// Add appends a change and returns the diff, so checks read as a chain.
func (d *Diff) Add(c Change) { d.Changes = append(d.Changes, c) }

// Note appends an informational line.
func (d *Diff) Note(format string) { d.Notes = append(d.Notes, format) }

// Merge appends the changes and notes of other.
func (d *Diff) Merge(other Diff) {
	d.Changes = append(d.Changes, other.Changes...)
	d.Notes = append(d.Notes, other.Notes...)
	if d.Unknown == "" {
		d.Unknown = other.Unknown
	}
}

// Resources lists the distinct resources touched, in order.
func (d Diff) Resources() []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range d.Changes {
		if !seen[c.Resource] {
			seen[c.Resource] = true
			out = append(out, c.Resource)
		}
	}
	return out
}

// Paths lists the files the diff would write or remove, taken from
// resources of kind "file:". The engine uses them to mark later reads of
// the same paths as known only after apply.
func (d Diff) Paths() []string {
	var out []string
	for _, r := range d.Resources() {
		if p, ok := strings.CutPrefix(r, "file:"); ok {
			out = append(out, p)
		}
	}
	return out
}

// Masked returns a copy with sensitive values replaced, for renderers and for
// anything that leaves the process.
func (d Diff) Masked(secrets []string) Diff {
	out := d
	out.Changes = make([]Change, len(d.Changes))
	for i, c := range d.Changes {
		if c.Sensitive {
			if c.Before != "" {
				c.Before = "(sensitive)"
			}
			if c.After != "" {
				c.After = "(sensitive)"
			}
		} else {
			c.Before = Redact(c.Before, secrets)
			c.After = Redact(c.After, secrets)
		}
		out.Changes[i] = c
	}
	return out
}

// Redact replaces every occurrence of each non-empty secret in s.
func Redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 3 {
			s = strings.ReplaceAll(s, sec, "********")
		}
	}
	return s
}
