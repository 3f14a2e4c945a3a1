package modules

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
)

// Collections are the Ansible collection prefixes a task may put before a
// module name (ansible.builtin.copy, ansible.posix.sysctl); gpuctl's own
// module answers to all of them, so playbooks written for Ansible load as
// they are.
var Collections = []string{"ansible.builtin.", "ansible.posix.", "ansible.legacy.", "community.general.", "community.crypto.", "gpuctl."}

// Spec is a module resolved once: its registration and the arguments its
// struct declares. The loader checks static arguments with it, the engine
// builds the module from rendered arguments with it, and `gpuctl doc` prints
// it, so no caller asks the registry the same question twice.
type Spec struct {
	Info
	args  []Arg
	known map[string]bool
}

func newSpec(info Info) *Spec {
	s := &Spec{Info: info, args: info.Args(), known: map[string]bool{}}
	s.AnyKeys = s.AnyKeys || takesAnyKey(reflect.TypeOf(info.New()))
	for _, a := range s.args {
		s.known[a.Name] = true
		for _, al := range a.Aliases {
			s.known[al] = true
		}
	}
	return s
}

// NewSpec is the Spec of a module that is not in the registry: one found
// by the loader for a single playbook (a role's Python module).
func NewSpec(info Info) *Spec { return newSpec(info) }

// Resolve finds the module a task names, with or without a collection
// prefix. The error says which registered name is closest to a typo.
func Resolve(name string) (*Spec, error) {
	short := Canonical(name)
	regMu.RLock()
	s, ok := registry[short]
	regMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w %q%s", ErrUnknownModule, short, suggest(short))
	}
	return s, nil
}

// Canonical strips a collection prefix from a module name.
func Canonical(name string) string {
	for _, p := range Collections {
		if rest, ok := strings.CutPrefix(name, p); ok {
			return rest
		}
	}
	return name
}

// Args are the module's documented arguments, in struct order.
func (s *Spec) Args() []Arg { return s.args }

// Takes reports whether the module has an argument (or alias) name.
func (s *Spec) Takes(name string) bool { return s.AnyKeys || s.known[name] }

// CheckKeys reports arguments the module does not know, without decoding
// values, so the loader can use it on arguments that still hold templates.
// A module that takes any keys (AnyKeys) accepts every one.
func (s *Spec) CheckKeys(args map[string]any) error {
	if s.AnyKeys {
		return nil
	}
	for _, k := range slices.Sorted(maps.Keys(args)) {
		if !s.known[k] {
			return fmt.Errorf("module %s: unknown argument %q (known: %s)", s.Name, k, strings.Join(slices.Sorted(maps.Keys(s.known)), ", "))
		}
	}
	return nil
}

// Build makes the module from its arguments: defaults from struct tags,
// strict decoding (unknown keys and wrong types are errors), required and
// choices checks, then the module's own Validate. It also returns the values
// of arguments tagged secret:"true", for the engine to mask everywhere;
// they come back with an error too, as the error may quote them. It does no
// I/O.
func (s *Spec) Build(args map[string]any) (Module, []string, error) {
	secrets := s.secrets(args)
	m := s.New()
	if err := Decode(args, m); err != nil {
		return nil, secrets, fmt.Errorf("module %s: %w", s.Name, err)
	}
	if p, ok := m.(Provisioner); ok {
		p.Provision()
	}
	if err := m.Validate(); err != nil {
		return nil, secrets, fmt.Errorf("module %s: %w", s.Name, err)
	}
	return m, secrets, nil
}

func (s *Spec) secrets(args map[string]any) []string {
	var out []string
	for _, a := range s.args {
		if v, ok := args[a.Name].(string); a.Secret && ok && v != "" {
			out = append(out, v)
		}
	}
	return out
}

// ParseKV reads Ansible's one-line argument form, "a=1 b='x y'". For a
// module with a free-form argument (command's cmd, debug's msg) the words
// that are not key=value of a known argument form that argument.
func (s *Spec) ParseKV(line string) map[string]any {
	args := map[string]any{}
	var rest []string
	for _, w := range splitWords(line) {
		k, v, ok := strings.Cut(w, "=")
		// warn is among the words Ansible's parse_kv always takes as a key
		// of a free-form line (splitter.py); as a key the loader can drop it
		// with a warning instead of running "ls warn=no" literally.
		if ok && (s.known[k] || s.FreeForm == "" || k == "warn") && k != "" && !strings.ContainsAny(k, " '\"") {
			args[k] = unquote(v)
			continue
		}
		rest = append(rest, w)
	}
	if s.FreeForm != "" && len(rest) > 0 {
		args[s.FreeForm] = strings.Join(rest, " ")
	}
	return args
}

// splitWords splits on spaces outside quotes and keeps quotes in place,
// so a free-form command keeps its own quoting.
func splitWords(s string) []string {
	var out []string
	var cur strings.Builder
	var quote rune
	depth := 0 // inside {{ }} or {% %}, spaces belong to the expression
	rs := []rune(s)
	for i, r := range rs {
		if quote == 0 && i+1 < len(rs) {
			switch string(rs[i : i+2]) {
			case "{{", "{%":
				depth++
			case "}}", "%}":
				if depth > 0 {
					depth--
				}
			}
		}
		switch {
		case depth > 0 && quote == 0:
			cur.WriteRune(r)
		case quote != 0:
			cur.WriteRune(r)
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
			cur.WriteRune(r)
		case r == ' ' || r == '\t' || r == '\n':
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '\'' || s[0] == '"') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

// SecretArgs returns the values of name's arguments tagged secret:"true"
// (what Build returns alongside the module).
func SecretArgs(name string, args map[string]any) []string {
	s, err := Resolve(name)
	if err != nil {
		return nil
	}
	return s.secrets(args)
}

// CheckKeys reports arguments that module name does not know (Spec.CheckKeys).
func CheckKeys(name string, args map[string]any) error {
	s, err := Resolve(name)
	if err != nil {
		return err
	}
	return s.CheckKeys(args)
}
