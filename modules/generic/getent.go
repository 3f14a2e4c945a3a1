package generic

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "getent",
		Summary: "Set ansible_facts.getent_<database>: the entries of a Unix name service database (ansible.builtin.getent)",
		CheckMode: "Reads only (one getent command); it runs under --check as in a real run, so later tasks " +
			"can read the facts. Never reports a change.",
		Example: `- name: Who is in the docker group
  ansible.builtin.getent:
    database: group
    key: docker
- debug:
    msg: "members: {{ ansible_facts.getent_group.docker[2] }}"`,
		New: func() modules.Module { return &Getent{} },
	})
}

// Getent is ansible.builtin.getent: it runs getent(1) on the host and
// sets ansible_facts.getent_<database> to a dict of each entry's first
// field and its other fields, split as Ansible splits them.
type Getent struct {
	Database string  `yaml:"database" required:"true" doc:"the database to read: passwd, group, shadow, gshadow, hosts, services, protocols, ... (any getent(1) knows)"`
	Key      string  `yaml:"key" doc:"one key to look up (a name, a number); unset lists the whole database"`
	Service  string  `yaml:"service" doc:"the NSS service to ask (getent -s), for example files"`
	Split    *string `yaml:"split" doc:"the character that separates fields; unset: ':' for passwd, shadow, group and gshadow, whitespace for the others (as Ansible)"`
	FailKey  bool    `yaml:"fail_key" default:"true" doc:"fail when key is not found; false sets the key to null and says so in msg"`

	entries map[string]any
	msg     string
}

// colonDatabases are the databases Ansible splits at ':' by default.
var colonDatabases = []string{"passwd", "shadow", "group", "gshadow"}

var getentWord = regexp.MustCompile(`^[A-Za-z0-9_.+-]+$`)

func (m *Getent) Validate() error {
	if !getentWord.MatchString(m.Database) {
		return fmt.Errorf("database %q is not a database name (passwd, group, hosts, ...)", m.Database)
	}
	if m.Service != "" && !getentWord.MatchString(m.Service) {
		return fmt.Errorf("service %q is not an NSS service name (files, systemd, ...)", m.Service)
	}
	if m.Split != nil && *m.Split == "" {
		return errors.New("split is empty: give the separating character, or leave split out")
	}
	if strings.ContainsAny(m.Key, "\n") {
		return errors.New("key cannot hold a newline")
	}
	return nil
}

// Reads: an earlier user or group task that would change the database
// makes the entries known only after apply under --check.
func (m *Getent) Reads() []string {
	switch m.Database {
	case "passwd", "group", "shadow", "gshadow":
		return []string{"/etc/" + m.Database}
	}
	return nil
}

func (m *Getent) fact() string { return "getent_" + m.Database }

func (m *Getent) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	args := []string{"getent", m.Database}
	if m.Key != "" {
		args = append(args, m.Key)
	}
	if m.Service != "" {
		args = append(args, "-s", m.Service)
	}
	r, err := h.Conn().Run(ctx, conn.Join(args...))
	if err != nil {
		return plan.Diff{}, fmt.Errorf("getent: %w", err)
	}
	switch r.ExitCode {
	case 0:
		m.entries = parseGetent(r.Stdout, m.separator())
		return plan.Diff{}, nil
	case 1:
		return plan.Diff{}, errors.New("Missing arguments, or database unknown.")
	case 2:
		const msg = "One or more supplied key could not be found in the database."
		if !m.FailKey {
			m.entries, m.msg = map[string]any{m.Key: nil}, msg
			return plan.Diff{}, nil
		}
		return plan.Diff{}, errors.New(msg)
	case 3:
		return plan.Diff{}, errors.New("Enumeration not supported on this database.")
	case 127:
		return plan.Diff{}, fmt.Errorf("getent: %w", &conn.ExitError{Cmd: "getent", Result: r})
	}
	return plan.Diff{}, errors.New("Unexpected failure!")
}

// separator is split, or Ansible's default for the database ("" splits
// at runs of whitespace, as Python's str.split() without an argument).
func (m *Getent) separator() string {
	if m.Split != nil {
		return *m.Split
	}
	for _, db := range colonDatabases {
		if db == m.Database {
			return ":"
		}
	}
	return ""
}

// parseGetent builds Ansible's dict: key -> the other fields. A key seen
// again (hosts with two addresses) becomes a list of field lists, the
// first entry's included, as in Ansible.
func parseGetent(out, sep string) map[string]any {
	entries := map[string]any{}
	if out == "" {
		return entries
	}
	seen := map[string]int{}
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		line = strings.TrimSuffix(line, "\r")
		var rec []string
		if sep == "" {
			rec = strings.Fields(line)
		} else {
			rec = strings.Split(line, sep)
		}
		if len(rec) == 0 {
			continue
		}
		key, fields := rec[0], toAnyList(rec[1:])
		switch seen[key] {
		case 0:
			entries[key] = fields
		case 1:
			entries[key] = []any{entries[key], fields}
		default:
			entries[key] = append(entries[key].([]any), fields)
		}
		seen[key]++
	}
	return entries
}

func toAnyList(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// Apply is never called: Check never finds anything to change.
func (m *Getent) Apply(context.Context, modules.Host, plan.Diff) error { return nil }

func (m *Getent) SetFacts() map[string]any {
	return map[string]any{"ansible_facts": map[string]any{m.fact(): m.entries}}
}

func (m *Getent) Result() map[string]any {
	res := map[string]any{"ansible_facts": map[string]any{m.fact(): m.entries}}
	if m.msg != "" {
		res["msg"] = m.msg
	}
	return res
}

var (
	_ modules.Module     = (*Getent)(nil)
	_ modules.FactSetter = (*Getent)(nil)
	_ modules.Resulter   = (*Getent)(nil)
	_ modules.Reader     = (*Getent)(nil)
)
