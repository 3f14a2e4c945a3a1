package vault

import (
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/gpuctl/gpuctl/internal/yaml11"
)

// Vars reads a YAML or JSON vars file (vars_files, include_vars): a whole
// vault-encrypted file, or `!vault |` values inside a plain one. It returns
// the variables and every decrypted string, for the caller to mask in
// output; a whole encrypted file is secret throughout. path labels errors.
func Vars(path string, data []byte, secrets []Secret) (map[string]any, []string, error) {
	whole := IsEncrypted(data)
	if whole {
		plain, err := Decrypt(data, secrets)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		data = plain
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	yaml11.Fix(&root)
	var found []string
	if err := openValues(path, &root, secrets, &found); err != nil {
		return nil, nil, err
	}
	var vars map[string]any
	if err := root.Decode(&vars); err != nil {
		return nil, nil, fmt.Errorf("%s: must be a mapping of variables: %w", path, err)
	}
	if whole {
		found = stringsIn(vars, nil)
	}
	return vars, found, nil
}

// openValues replaces every `!vault` scalar below n with its plain text.
func openValues(path string, n *yaml.Node, secrets []Secret, found *[]string) error {
	if n.Tag == "!vault" && n.Kind == yaml.ScalarNode {
		plain, err := Decrypt([]byte(n.Value), secrets)
		if err != nil {
			return fmt.Errorf("%s:%d: !vault value: %w", path, n.Line, err)
		}
		n.Tag, n.Value, n.Style = "!!str", string(plain), 0
		*found = append(*found, string(plain))
		return nil
	}
	for _, c := range n.Content {
		if err := openValues(path, c, secrets, found); err != nil {
			return err
		}
	}
	return nil
}

// stringsIn lists the string values inside v.
func stringsIn(v any, out []string) []string {
	switch x := v.(type) {
	case string:
		out = append(out, x)
	case []any:
		for _, e := range x {
			out = stringsIn(e, out)
		}
	case map[string]any:
		for _, e := range x {
			out = stringsIn(e, out)
		}
	}
	return out
}
