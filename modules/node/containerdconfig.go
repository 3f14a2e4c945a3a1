package node

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// Where the settings kubeadm cares about live differs between containerd
// 1.x (config version 2, one CRI plugin) and 2.x (version 3, the CRI plugin
// split into images and runtime plugins).
const (
	criV2        = "io.containerd.grpc.v1.cri"
	criRuntimeV3 = "io.containerd.cri.v1.runtime"
	criImagesV3  = "io.containerd.cri.v1.images"
)

// DefaultSandboxImage is the pause image kubeadm 1.34 pre-pulls and expects
// the runtime to use; a different one makes kubeadm warn and the kubelet
// pull a second image.
const DefaultSandboxImage = "registry.k8s.io/pause:3.10.1"

// ContainerdRuntime is an extra runtime handler (nvidia, kata) for the CRI
// plugin, run through the runc v2 shim unless RuntimeType says otherwise.
type ContainerdRuntime struct {
	Name          string `yaml:"name" doc:"handler name, used by RuntimeClass"`
	BinaryName    string `yaml:"binary" doc:"path of the OCI runtime binary"`
	RuntimeType   string `yaml:"type" doc:"shim (default io.containerd.runc.v2)"`
	Default       bool   `yaml:"default" doc:"make this the default runtime for pods without a RuntimeClass"`
	SystemdCgroup *bool  `yaml:"systemd_cgroup" doc:"use the systemd cgroup driver (default true, as for runc)"`
}

func (r ContainerdRuntime) table() map[string]any {
	typ := r.RuntimeType
	if typ == "" {
		typ = "io.containerd.runc.v2"
	}
	sc := r.SystemdCgroup == nil || *r.SystemdCgroup
	opts := map[string]any{"SystemdCgroup": sc}
	if r.BinaryName != "" {
		opts["BinaryName"] = r.BinaryName
	}
	return map[string]any{"runtime_type": typ, "options": opts}
}

func (r ContainerdRuntime) validate() error {
	if !kmodName.MatchString(r.Name) || r.Name == "runc" {
		return fmt.Errorf("runtime %q: need a name of letters, digits, '-' and '_' other than runc", r.Name)
	}
	if r.BinaryName != "" && !strings.HasPrefix(r.BinaryName, "/") {
		return fmt.Errorf("runtime %s: binary %q must be an absolute path", r.Name, r.BinaryName)
	}
	return nil
}

// ctrdSettings are what the containerd module imposes on the default
// configuration.
type ctrdSettings struct {
	SandboxImage  string
	SystemdCgroup bool
	DropInDir     string              // "" leaves imports alone
	Runtimes      []ContainerdRuntime // written into the main file
	Overrides     map[string]any      // merged last, key by key
}

// ctrdConfig is a parsed containerd configuration.
type ctrdConfig struct {
	m       map[string]any
	version int
}

func parseContainerdConfig(data []byte) (*ctrdConfig, error) {
	m := map[string]any{}
	if err := toml.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("parse containerd config: %w", err)
	}
	// No version key means version 1, which containerd 1.x still reads;
	// Docker's containerd.io ships such a file.
	v, _ := m["version"].(int64)
	return &ctrdConfig{m: m, version: max(int(v), 1)}, nil
}

// parseDefaultConfig parses `containerd config default` output, which gpuctl
// only derives from for versions 2 (containerd 1.x) and 3 (2.x).
func parseDefaultConfig(data []byte) (*ctrdConfig, error) {
	c, err := parseContainerdConfig(data)
	if err != nil {
		return nil, err
	}
	if c.version < 2 {
		return nil, fmt.Errorf("containerd config version %d: containerd older than 1.3 is not supported", c.version)
	}
	return c, nil
}

// table returns the nested table at path, creating missing levels.
func table(m map[string]any, path ...string) map[string]any {
	for _, k := range path {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	return m
}

// runtimesPath is the table holding runtime handlers, and its parent
// holding default_runtime_name.
func (c *ctrdConfig) criContainerd() []string {
	switch {
	case c.version >= 3:
		return []string{"plugins", criRuntimeV3, "containerd"}
	case c.version == 1:
		return []string{"plugins", "cri", "containerd"}
	}
	return []string{"plugins", criV2, "containerd"}
}

// apply imposes settings on a default configuration.
func (c *ctrdConfig) apply(s ctrdSettings) error {
	// Docker's containerd.io ships disabled_plugins = ["cri"]: kubeadm then
	// fails with "container runtime is not running".
	if dp, ok := c.m["disabled_plugins"].([]any); ok {
		var keep []any
		for _, p := range dp {
			if ps, _ := p.(string); !isCRIPlugin(ps) {
				keep = append(keep, p)
			}
		}
		c.m["disabled_plugins"] = nonNil(keep)
	}
	if s.DropInDir != "" {
		imp, _ := c.m["imports"].([]any)
		glob := strings.TrimSuffix(s.DropInDir, "/") + "/*.toml"
		if !slices.Contains(imp, any(glob)) {
			imp = append(imp, glob)
		}
		c.m["imports"] = imp
	}
	cd := table(c.m, c.criContainerd()...)
	runc := table(cd, "runtimes", "runc", "options")
	runc["SystemdCgroup"] = s.SystemdCgroup
	if c.version >= 3 {
		table(c.m, "plugins", criImagesV3, "pinned_images")["sandbox"] = s.SandboxImage
	} else {
		table(c.m, "plugins", criV2)["sandbox_image"] = s.SandboxImage
	}
	for _, r := range s.Runtimes {
		table(cd, "runtimes")[r.Name] = r.table()
		if r.Default {
			cd["default_runtime_name"] = r.Name
		}
	}
	if s.Overrides != nil {
		if err := mergeInto(c.m, s.Overrides, "config_overrides"); err != nil {
			return err
		}
	}
	return nil
}

func isCRIPlugin(p string) bool {
	return p == "cri" || p == criV2 || strings.HasPrefix(p, "io.containerd.cri.v1.")
}

func nonNil(a []any) []any {
	if a == nil {
		return []any{}
	}
	return a
}

// mergeInto merges src into dst table by table; values replace values.
func mergeInto(dst, src map[string]any, where string) error {
	for k, v := range src {
		if sv, ok := asTable(v); ok {
			dv, exists := dst[k]
			if !exists {
				dst[k] = map[string]any{}
				dv = dst[k]
			}
			dt, ok := dv.(map[string]any)
			if !ok {
				return fmt.Errorf("%s: %s.%s is a value, not a table", where, where, k)
			}
			if err := mergeInto(dt, sv, where+"."+k); err != nil {
				return err
			}
			continue
		}
		dst[k] = normalizeTOML(v)
	}
	return nil
}

// asTable accepts the map types YAML decoding produces.
func asTable(v any) (map[string]any, bool) {
	switch t := v.(type) {
	case map[string]any:
		return t, true
	case map[any]any:
		out := make(map[string]any, len(t))
		for k, v := range t {
			out[fmt.Sprint(k)] = v
		}
		return out, true
	}
	return nil, false
}

// normalizeTOML makes YAML numbers TOML integers where they are whole, so
// that `oom_score: 0` does not become 0.0.
func normalizeTOML(v any) any {
	switch t := v.(type) {
	case int:
		return int64(t)
	case float64:
		if t == float64(int64(t)) {
			return int64(t)
		}
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = normalizeTOML(e)
		}
		return out
	}
	return v
}

// marshal renders the configuration deterministically (keys sorted), so
// the same inputs always give the same bytes and a second run sees no
// change.
func (c *ctrdConfig) marshal(header string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(header)
	enc := toml.NewEncoder(&b)
	enc.SetIndentTables(true)
	if err := enc.Encode(c.m); err != nil {
		return nil, fmt.Errorf("render containerd config: %w", err)
	}
	return b.Bytes(), nil
}

// buildContainerdConfig derives the managed config.toml from `containerd
// config default` output.
func buildContainerdConfig(defaults []byte, s ctrdSettings, header string) ([]byte, int, error) {
	c, err := parseDefaultConfig(defaults)
	if err != nil {
		return nil, 0, err
	}
	if err := c.apply(s); err != nil {
		return nil, 0, err
	}
	out, err := c.marshal(header)
	return out, c.version, err
}

// runtimeDropIn renders a drop-in adding rt. containerd 2.x merges imported
// plugin tables key by key, so the runtime's table is enough. containerd
// 1.x replaces a whole plugin table with the imported one, so there the
// drop-in must carry the complete CRI table of main plus the runtime, or it
// would silently drop SystemdCgroup and the sandbox image.
func runtimeDropIn(main []byte, rt ContainerdRuntime, header string) ([]byte, error) {
	c, err := parseDefaultConfig(main)
	if err != nil {
		return nil, err
	}
	out := &ctrdConfig{m: map[string]any{"version": int64(c.version)}, version: c.version}
	if c.version >= 3 {
		cd := table(out.m, out.criContainerd()...)
		table(cd, "runtimes")[rt.Name] = rt.table()
		if rt.Default {
			cd["default_runtime_name"] = rt.Name
		}
		return out.marshal(header)
	}
	cri, ok := c.m["plugins"].(map[string]any)[criV2].(map[string]any)
	if !ok {
		return nil, errors.New("main containerd config has no CRI plugin table to extend")
	}
	table(out.m, "plugins")[criV2] = cri
	cd := table(out.m, out.criContainerd()...)
	table(cd, "runtimes")[rt.Name] = rt.table()
	if rt.Default {
		cd["default_runtime_name"] = rt.Name
	}
	return out.marshal(header)
}

// ctrdView is what preflight and facts read from a configuration.
type ctrdView struct {
	Version       int
	SystemdCgroup bool
	CRIDisabled   bool
	SandboxImage  string
}

func viewContainerdConfig(data []byte) (ctrdView, error) {
	c, err := parseContainerdConfig(data)
	if err != nil {
		return ctrdView{}, err
	}
	v := ctrdView{Version: c.version}
	if dp, ok := c.m["disabled_plugins"].([]any); ok {
		for _, p := range dp {
			if ps, _ := p.(string); ps == "cri" || ps == criV2 || ps == criRuntimeV3 {
				v.CRIDisabled = true
			}
		}
	}
	cd := lookup(c.m, c.criContainerd()...)
	if opts := lookup(cd, "runtimes", "runc", "options"); opts != nil {
		v.SystemdCgroup, _ = opts["SystemdCgroup"].(bool)
	}
	switch c.version {
	case 1:
		v.SandboxImage, _ = lookup(c.m, "plugins", "cri")["sandbox_image"].(string)
	case 2:
		v.SandboxImage, _ = lookup(c.m, "plugins", criV2)["sandbox_image"].(string)
	default:
		v.SandboxImage, _ = lookup(c.m, "plugins", criImagesV3, "pinned_images")["sandbox"].(string)
	}
	return v, nil
}

// lookup walks nested tables without creating them; nil when missing.
func lookup(m map[string]any, path ...string) map[string]any {
	for _, k := range path {
		if m == nil {
			return nil
		}
		m, _ = m[k].(map[string]any)
	}
	return m
}
