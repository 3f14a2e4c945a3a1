package modules

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gpuctl/gpuctl/conn"
)

// Info describes a module for the registry and for `gpuctl doc`. Arguments
// are documented from the struct tags of the value New returns:
//
//	Path  string `yaml:"path" required:"true" doc:"file to manage"`
//	State string `yaml:"state" default:"present" choices:"present,absent" doc:"..."`
//
//	Token string `yaml:"token" secret:"true" doc:"..."` // masked in all output
//	Path  string `yaml:"path" aliases:"dest,name" doc:"..."` // Ansible's other names
//
// Aliases lists extra names the module answers to (systemd for service).
type Info struct {
	Name      string
	Aliases   []string
	Summary   string // one line for `gpuctl modules`
	CheckMode string // what the module does under --check
	Example   string // a YAML task
	// FreeForm names the argument that takes the words of Ansible's one-line
	// form that are not key=value ("shell: ls -l /tmp" sets cmd).
	FreeForm string
	// AnyKeys modules take arbitrary argument names (set_fact); the struct
	// collects them in a `yaml:",remain"` map.
	AnyKeys bool
	New     func() Module
}

var (
	regMu    sync.RWMutex
	registry = map[string]*Spec{}
)

// Register adds a module; it panics on an empty or duplicate name, which
// is a programming error caught by any test that imports the module.
func Register(info Info) {
	if info.Name == "" || info.New == nil {
		panic("modules: Register needs a name and a constructor")
	}
	spec := newSpec(info)
	regMu.Lock()
	defer regMu.Unlock()
	for _, n := range append([]string{info.Name}, info.Aliases...) {
		if _, dup := registry[n]; dup {
			panic(fmt.Sprintf("modules: %q registered twice", n))
		}
		registry[n] = spec
	}
}

// Lookup finds a module by name or alias (without a collection prefix; see
// Resolve for what a task names).
func Lookup(name string) (Info, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	s, ok := registry[name]
	if !ok {
		return Info{}, false
	}
	return s.Info, true
}

// All returns every module once, sorted by name.
func All() []Info {
	regMu.RLock()
	defer regMu.RUnlock()
	var out []Info
	for n, s := range registry {
		if n == s.Name {
			out = append(out, s.Info)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}

// Names returns every module name and alias, for suggestions.
func Names() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Arg documents one argument.
type Arg struct {
	Name     string
	Type     string
	Required bool
	Default  string
	Choices  []string
	Doc      string
	Secret   bool
	Aliases  []string // other names the argument answers to (Ansible's aliases)
}

// Args lists the arguments of a module from its struct tags.
func (i Info) Args() []Arg {
	return argsOf(reflect.TypeOf(i.New()))
}

func argsOf(t reflect.Type) []Arg {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []Arg
	for f := range t.Fields() {
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			out = append(out, argsOf(f.Type)...)
			continue
		}
		name := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		a := Arg{
			Name:     name,
			Type:     typeName(f.Type),
			Required: f.Tag.Get("required") == "true",
			Default:  f.Tag.Get("default"),
			Doc:      f.Tag.Get("doc"),
			Secret:   f.Tag.Get("secret") == "true",
		}
		if c := f.Tag.Get("choices"); c != "" {
			a.Choices = strings.Split(c, ",")
		}
		if al := f.Tag.Get("aliases"); al != "" {
			a.Aliases = strings.Split(al, ",")
			a.Doc += " (aliases: " + strings.Join(a.Aliases, ", ") + ")"
		}
		out = append(out, a)
	}
	return out
}

func typeName(t reflect.Type) string {
	if t == reflect.TypeOf(time.Duration(0)) {
		return "duration"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "bool"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint32, reflect.Uint64:
		return "int"
	case reflect.Float64:
		return "float"
	case reflect.Slice:
		return "list of " + typeName(t.Elem())
	case reflect.Map:
		return "mapping"
	case reflect.Pointer:
		return typeName(t.Elem())
	case reflect.Struct:
		if t.Name() == "Duration" {
			return "duration"
		}
		return "mapping"
	case reflect.Interface:
		return "any"
	}
	return t.Kind().String()
}

// FactGatherer reads one family of facts from a host (OS, node, GPU).
type FactGatherer struct {
	Name   string
	Gather func(ctx context.Context, c conn.Conn) (Facts, error)
}

var gatherers []FactGatherer

// RegisterFacts adds a gatherer that the engine runs once per host when a
// play gathers facts; its keys are merged into the host's facts.
func RegisterFacts(g FactGatherer) {
	regMu.Lock()
	defer regMu.Unlock()
	for _, x := range gatherers {
		if x.Name == g.Name {
			panic(fmt.Sprintf("modules: fact gatherer %q registered twice", g.Name))
		}
	}
	gatherers = append(gatherers, g)
}

// FactGatherers returns the registered gatherers in registration order.
func FactGatherers() []FactGatherer {
	regMu.RLock()
	defer regMu.RUnlock()
	return append([]FactGatherer(nil), gatherers...)
}
