package inventory

import (
	"fmt"
	"path/filepath"

	"gopkg.in/yaml.v3"

	"github.com/gpuctl/gpuctl/vault"
)

// decoder turns YAML nodes into values, opening `!vault` scalars with the
// given vault secrets and keeping every decrypted string so it can be
// masked in output.
type decoder struct {
	secrets []vault.Secret
	found   *[]string
}

// value decodes n; file labels errors.
func (d decoder) value(file string, n *yaml.Node) (any, error) {
	if !hasVault(n) {
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, errAt(file, n, err.Error())
		}
		return v, nil
	}
	switch n.Kind {
	case yaml.DocumentNode:
		return d.value(file, n.Content[0])
	case yaml.AliasNode:
		return d.value(file, n.Alias)
	case yaml.ScalarNode:
		return d.open(file, n)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := d.value(file, c)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		return d.mapping(file, n)
	}
	return nil, errAt(file, n, "unexpected YAML node")
}

func (d decoder) mapping(file string, n *yaml.Node) (map[string]any, error) {
	out := map[string]any{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, vn := n.Content[i], n.Content[i+1]
		v, err := d.value(file, vn)
		if err != nil {
			return nil, err
		}
		if k.Tag == "!!merge" {
			if m, ok := v.(map[string]any); ok {
				for mk, mv := range m {
					if _, set := out[mk]; !set {
						out[mk] = mv
					}
				}
			}
			continue
		}
		out[k.Value] = v
	}
	return out, nil
}

// open decrypts one `!vault |` value.
func (d decoder) open(file string, n *yaml.Node) (any, error) {
	plain, err := vault.Decrypt([]byte(n.Value), d.secrets)
	if err != nil {
		return nil, fmt.Errorf("%s:%d:%d: !vault value: %w", filepath.Clean(file), n.Line, n.Column, err)
	}
	s := string(plain)
	*d.found = append(*d.found, s)
	return s, nil
}

func hasVault(n *yaml.Node) bool {
	if n == nil {
		return false
	}
	if n.Tag == "!vault" {
		return true
	}
	if n.Kind == yaml.AliasNode {
		return hasVault(n.Alias)
	}
	for _, c := range n.Content {
		if hasVault(c) {
			return true
		}
	}
	return false
}

// varsMapping decodes a mapping of variables.
func (d decoder) varsMapping(file string, n *yaml.Node, what string) (map[string]any, error) {
	if isNull(n) {
		return map[string]any{}, nil
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		return nil, errAt(file, n, what+" must be a mapping")
	}
	v, err := d.value(file, n)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errAt(file, n, what+" must be a mapping with string keys")
	}
	return m, nil
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && (n.Tag == "!!null" || n.Value == "")
}

func errAt(path string, n *yaml.Node, msg string) error {
	return fmt.Errorf("%s:%d:%d: %s", filepath.Clean(path), n.Line, n.Column, msg)
}

// secretStrings lists the string values inside v (a whole vault-encrypted
// vars file is secret throughout).
func secretStrings(v any, out *[]string) {
	switch x := v.(type) {
	case string:
		*out = append(*out, x)
	case []any:
		for _, e := range x {
			secretStrings(e, out)
		}
	case map[string]any:
		for _, e := range x {
			secretStrings(e, out)
		}
	}
}
