package playbooks

import (
	"gopkg.in/yaml.v3"
)

// VarPrompt is one vars_prompt entry: a variable the play asks the user
// for before it runs, unless -e gives it.
type VarPrompt struct {
	Name     string
	Prompt   string // as written: may be a template over play vars
	Default  any    // nil: none
	Private  bool   // no echo (default true)
	Confirm  bool   // ask twice
	Encrypt  string // a password_hash scheme (sha512_crypt, ...)
	Salt     string
	SaltSize int
	Unsafe   bool // not templated later (gpuctl never templates a prompted value)
}

var varPromptKeys = []string{"name", "prompt", "default", "private", "confirm", "encrypt", "salt", "salt_size", "unsafe"}

// varsPrompt reads a play's vars_prompt list.
func (l *Loader) varsPrompt(file string, n *yaml.Node) ([]VarPrompt, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, l.errf(file, n, "vars_prompt must be a list, got %s", kindName(n))
	}
	var out []VarPrompt
	for _, e := range n.Content {
		if e.Kind != yaml.MappingNode {
			return nil, l.errf(file, e, "each vars_prompt entry is a mapping with a name")
		}
		p := VarPrompt{Private: true}
		for i := 0; i+1 < len(e.Content); i += 2 {
			k, v := e.Content[i], e.Content[i+1]
			var err error
			switch k.Value {
			case "name":
				p.Name, err = l.str(file, v)
			case "prompt":
				p.Prompt, err = l.str(file, v)
			case "default":
				err = v.Decode(&p.Default)
			case "private":
				p.Private, err = l.boolVal(file, v)
			case "confirm":
				p.Confirm, err = l.boolVal(file, v)
			case "encrypt":
				p.Encrypt, err = l.str(file, v)
			case "salt":
				p.Salt, err = l.str(file, v)
			case "salt_size":
				p.SaltSize, err = l.intVal(file, v)
			case "unsafe":
				p.Unsafe, err = l.boolVal(file, v)
			default:
				err = l.errf(file, k, "unknown vars_prompt key %q%s", k.Value, suggestFrom(k.Value, varPromptKeys))
			}
			if err != nil {
				return nil, err
			}
		}
		if p.Name == "" {
			return nil, l.errf(file, e, "vars_prompt entry without a name")
		}
		out = append(out, p)
	}
	return out, nil
}
