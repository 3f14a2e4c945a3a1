package nvidia

import (
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// containerd's configuration for the nvidia runtime, as text edits.
//
// containerd 2.0 and later merge imported files key by key, so the runtime
// goes into a drop-in of its own. containerd 1.x replaces a whole plugin
// section with the one from an imported file (containerd issue 5837;
// measured here with 1.6.20: a drop-in holding only the nvidia runtime
// erased the runc runtime and its SystemdCgroup), so for 1.x the runtime
// is written into the main config, inside a marked block gpuctl owns.
// Both paths are checked with `containerd config dump` before a restart.

// NVIDIARuntimeBinary is what nvidia-container-toolkit installs.
const NVIDIARuntimeBinary = "/usr/bin/nvidia-container-runtime"

const (
	blockBegin = "# BEGIN gpuctl nvidia runtime (managed by nvidia_container_toolkit)"
	blockEnd   = "# END gpuctl nvidia runtime"
)

var containerdVersionRe = regexp.MustCompile(`\sv?(\d+)\.(\d+)(?:\.\d+)?`)

// parseContainerdVersion reads `containerd --version`, e.g.
// "containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1" or
// "containerd containerd.io v2.1.4 75cb2b7".
func parseContainerdVersion(out string) (major, minor int, ok bool) {
	m := containerdVersionRe.FindStringSubmatch(out)
	if m == nil {
		return 0, 0, false
	}
	major, _ = strconv.Atoi(m[1])
	minor, _ = strconv.Atoi(m[2])
	return major, minor, true
}

var versionLineRe = regexp.MustCompile(`(?m)^[ \t]*version[ \t]*=[ \t]*(\d+)[ \t]*$`)

// configVersion returns the top-level `version = N` of a containerd
// config, 0 when it has none.
func configVersion(toml string) int {
	top := topLevel(toml)
	m := versionLineRe.FindStringSubmatch(top)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// topLevel is the part of a TOML file before its first table header.
func topLevel(toml string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(toml, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "[") {
			break
		}
		b.WriteString(line)
	}
	return b.String()
}

// criPlugin is the name of the plugin that holds runtimes in each config
// version.
func criPlugin(version int) string {
	if version >= 3 {
		return "io.containerd.cri.v1.runtime"
	}
	return "io.containerd.grpc.v1.cri"
}

// runtimeTables is the TOML for the nvidia runtime.
func runtimeTables(plugin string) string {
	p := `[plugins."` + plugin + `".containerd.runtimes.nvidia]`
	return p + "\n" +
		"  runtime_type = \"io.containerd.runc.v2\"\n" +
		"  privileged_without_host_devices = false\n" +
		p[:len(p)-1] + ".options]\n" +
		"  BinaryName = \"" + NVIDIARuntimeBinary + "\"\n" +
		"  SystemdCgroup = true\n"
}

// dropinConfig is the whole drop-in for containerd 2.x. Its version must
// not be above the main config's, or containerd ignores it (containerd
// PR 12891), so it follows the main config.
func dropinConfig(version int, defaultRuntime bool) string {
	plugin := criPlugin(version)
	var b strings.Builder
	fmt.Fprintf(&b, "# Managed by gpuctl (nvidia_container_toolkit).\nversion = %d\n\n", version)
	if defaultRuntime {
		fmt.Fprintf(&b, "[plugins.%q.containerd]\n  default_runtime_name = \"nvidia\"\n\n", plugin)
	}
	b.WriteString(runtimeTables(plugin))
	return b.String()
}

var importsRe = regexp.MustCompile(`(?ms)^\s*imports\s*=\s*\[(.*?)\]`)
var quotedRe = regexp.MustCompile(`"([^"]*)"|'([^']*)'`)

// imports lists the top-level imports of a config.
func imports(toml string) []string {
	m := importsRe.FindStringSubmatch(topLevel(toml))
	if m == nil {
		return nil
	}
	var out []string
	for _, q := range quotedRe.FindAllStringSubmatch(m[1], -1) {
		out = append(out, q[1]+q[2])
	}
	return out
}

// importsCover reports whether one of the config's imports matches file.
func importsCover(toml, file string) bool {
	for _, g := range imports(toml) {
		if ok, _ := path.Match(g, file); ok || g == file {
			return true
		}
	}
	return false
}

// addImport makes the config import glob, keeping everything else.
func addImport(toml, glob string) string {
	if importsCover(toml, strings.ReplaceAll(glob, "*", "x")) {
		return toml
	}
	top := topLevel(toml)
	if loc := importsRe.FindStringSubmatchIndex(top); loc != nil {
		list := strings.TrimSpace(top[loc[2]:loc[3]])
		if strings.Count(list, `"`)%2 != 0 || strings.Count(list, "'")%2 != 0 {
			// Not valid TOML: leave it to containerd's own check to report.
			return toml
		}
		sep := ", "
		if list == "" || strings.HasSuffix(list, ",") {
			sep = " "
		}
		insert := strings.TrimRight(top[loc[2]:loc[3]], " \n\t") + sep + strconv.Quote(glob)
		return top[:loc[2]] + insert + top[loc[3]:] + toml[len(top):]
	}
	line := "imports = [" + strconv.Quote(glob) + "]\n"
	if loc := versionLineRe.FindStringIndex(top); loc != nil {
		end := loc[1]
		if end < len(toml) && toml[end] == '\n' {
			end++
		} else {
			line = "\n" + line
		}
		return toml[:end] + line + toml[end:]
	}
	return line + toml
}

// headerKey normalises a table header for comparison.
func headerKey(line string) (string, bool) {
	t := strings.TrimSpace(line)
	if !strings.HasPrefix(t, "[") || strings.HasPrefix(t, "[[") {
		return "", false
	}
	if i := strings.Index(t, "]"); i >= 0 {
		t = t[:i+1]
	}
	// containerd 2.x dumps with single quotes, 1.x with double quotes.
	t = strings.ReplaceAll(strings.ReplaceAll(t, " ", ""), "'", `"`)
	return strings.ReplaceAll(t, `"nvidia"`, "nvidia"), true
}

// editMainConfig puts the nvidia runtime into a containerd 1.x main
// config: it drops any earlier definition of the nvidia runtime (ours or
// nvidia-ctk's), sets or resets default_runtime_name, and appends the
// managed block. Applying it to its own output changes nothing.
func editMainConfig(toml string, defaultRuntime bool) string {
	plugin := criPlugin(2)
	nvidiaKey := `[plugins."` + plugin + `".containerd.runtimes.nvidia`
	ctrKey := `[plugins."` + plugin + `".containerd]`
	var out []string
	skipping, inBlock, inCtr, setDefault := false, false, false, false
	lines := strings.Split(strings.TrimRight(toml, "\n"), "\n")
	if toml == "" {
		lines = nil
	}
	for _, line := range lines {
		switch strings.TrimSpace(line) {
		case blockBegin:
			inBlock = true
			continue
		case blockEnd:
			inBlock = false
			continue
		}
		if inBlock {
			continue
		}
		if key, ok := headerKey(line); ok {
			skipping = key == nvidiaKey+"]" || strings.HasPrefix(key, nvidiaKey+".")
			inCtr = key == ctrKey
			if inCtr && defaultRuntime {
				out = append(out, line, `      default_runtime_name = "nvidia"`)
				setDefault = true
				continue
			}
		}
		if skipping {
			continue
		}
		if inCtr && strings.HasPrefix(strings.TrimSpace(line), "default_runtime_name") {
			if defaultRuntime {
				continue // replaced right after the header
			}
			if strings.Contains(line, `"nvidia"`) {
				line = strings.Replace(line, `"nvidia"`, `"runc"`, 1)
			}
		}
		out = append(out, line)
	}
	for len(out) > 0 && strings.TrimSpace(out[len(out)-1]) == "" {
		out = out[:len(out)-1]
	}
	if configVersion(toml) == 0 {
		out = append([]string{"version = 2"}, out...)
	}
	var b strings.Builder
	for _, l := range out {
		b.WriteString(l + "\n")
	}
	b.WriteString("\n" + blockBegin + "\n")
	if defaultRuntime && !setDefault {
		b.WriteString(ctrKey + "\n  default_runtime_name = \"nvidia\"\n")
	}
	b.WriteString(runtimeTables(plugin))
	b.WriteString(blockEnd + "\n")
	return b.String()
}

// tableBody returns the lines of the table with the given header in a
// `containerd config dump`, quoted with double quotes, or ok=false when it
// is absent.
func tableBody(dump, header string) (string, bool) {
	want, _ := headerKey(header)
	var b strings.Builder
	in, found := false, false
	for _, line := range strings.Split(dump, "\n") {
		if key, ok := headerKey(line); ok {
			in = key == want
			found = found || in
			continue
		}
		if in {
			b.WriteString(strings.ReplaceAll(strings.TrimSpace(line), "'", `"`) + "\n")
		}
	}
	return b.String(), found
}

// verifyDump checks the effective config containerd will run with.
func verifyDump(dump string, version int, defaultRuntime bool) error {
	plugin := criPlugin(version)
	opts, ok := tableBody(dump, `[plugins."`+plugin+`".containerd.runtimes.nvidia.options]`)
	if !ok {
		return fmt.Errorf("containerd's effective config has no nvidia runtime under plugin %s", plugin)
	}
	if !strings.Contains(opts, "SystemdCgroup = true") {
		return fmt.Errorf("containerd's nvidia runtime does not have SystemdCgroup = true")
	}
	if !strings.Contains(opts, `BinaryName = "`+NVIDIARuntimeBinary+`"`) {
		return fmt.Errorf("containerd's nvidia runtime does not run %s", NVIDIARuntimeBinary)
	}
	if defaultRuntime {
		ctr, _ := tableBody(dump, `[plugins."`+plugin+`".containerd]`)
		if !strings.Contains(ctr, `default_runtime_name = "nvidia"`) {
			return fmt.Errorf("containerd's default runtime is not nvidia")
		}
	}
	return nil
}
