package playbooks

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/gpuctl/gpuctl/template"
)

// moduleDefaults reads a module_defaults keyword (play, block or task): a
// mapping of module names to default arguments, or a list of them, or an
// expression giving one. ansible-core's action groups (group/aws) are
// refused by name: their members are other collections' modules, none of
// which gpuctl has.
func (l *Loader) moduleDefaults(file string, n *yaml.Node) (any, error) {
	var v any
	if err := l.decode(file, n, &v, "a mapping of module names to arguments"); err != nil {
		return nil, err
	}
	var maps []any
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		if !template.IsTemplate(x) {
			return nil, l.errf(file, n, "module_defaults: expected a mapping of module names to arguments, got %q", x)
		}
		return x, nil
	case map[string]any:
		maps = []any{x}
	case []any:
		maps = x
	default:
		return nil, l.errf(file, n, "module_defaults: expected a mapping of module names to arguments")
	}
	for _, m := range maps {
		mm, ok := m.(map[string]any)
		if !ok {
			return nil, l.errf(file, n, "module_defaults: each entry must be a mapping of module names to arguments")
		}
		for name, args := range mm {
			if strings.HasPrefix(name, "group/") {
				return nil, l.errf(file, n, "module_defaults: action group %q is not supported (its modules belong to collections gpuctl does not have); name the modules instead", name)
			}
			if _, ok := args.(map[string]any); !ok && args != nil {
				if s, isStr := args.(string); !isStr || !template.IsTemplate(s) {
					return nil, l.errf(file, n, "module_defaults: %s: expected a mapping of arguments", name)
				}
			}
		}
	}
	return v, nil
}

// ModuleDefaultsFor returns the default arguments the module_defaults
// layers (outermost first; each a value moduleDefaults read, rendered)
// give module, canonical name as modules.Canonical gives it. canonical
// maps a layer's module name to its canonical one. Later layers and later
// entries win, key by key, as in ansible-core.
func ModuleDefaultsFor(layers []any, module string, canonical func(string) string) (map[string]any, error) {
	out := map[string]any{}
	for _, layer := range layers {
		var entries []any
		switch x := layer.(type) {
		case nil:
			continue
		case map[string]any:
			entries = []any{x}
		case []any:
			entries = x
		default:
			return nil, fmt.Errorf("module_defaults: expected a mapping of module names to arguments, got %T", layer)
		}
		for _, e := range entries {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("module_defaults: expected a mapping of module names to arguments, got %T", e)
			}
			for name, args := range m {
				if canonical(name) != module || args == nil {
					continue
				}
				am, ok := args.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("module_defaults: %s: expected a mapping of arguments, got %T", name, args)
				}
				for k, v := range am {
					out[k] = v
				}
			}
		}
	}
	return out, nil
}
