package facts

import (
	"fmt"
	"strconv"
	"strings"
)

// Python is the interpreter Ansible's discovery would run modules with on the
// host, as ansible-core 2.14's setup reports it (ansible_python,
// ansible_python_version). gpuctl runs no Python itself, but roles branch on
// these facts (zabbix: python3-psycopg2 or python-psycopg2).
//
// The order is ansible-core's for Debian and Ubuntu: the distribution's
// /usr/bin/python3 (INTERPRETER_PYTHON_DISTRO_MAP), then its fallback list
// (INTERPRETER_PYTHON_FALLBACK). A host with none gives the zero value and the
// facts are left out, as Ansible cannot gather facts on such a host at all.
// The interpreter starts with -E -S (no environment, no site): a few
// milliseconds, and _ssl stands in for ssl, whose import costs more than the
// start and tells the same (SSLContext comes from _ssl).
var Python = &Fact[PythonInfo]{Name: "python", Cmd: `for p in /usr/bin/python3 python3.11 python3.10 python3.9 python3.8 python3.7 python3.6 python3.5 /usr/libexec/platform-python python2.7 /usr/bin/python python; do
  x=$(command -v "$p") || continue
  exec "$x" -E -S -c '
import sys
try:
    t = sys.subversion[0]
except AttributeError:
    try:
        t = sys.implementation.name
    except AttributeError:
        t = ""
try:
    import _ssl
    s = 1
except ImportError:
    s = 0
v = sys.version_info
sys.stdout.write("%s\n%d %d %d %s %d\n%s\n%d\n%s\n" % (sys.executable, v[0], v[1], v[2], v[3], v[4], t, s, sys.version.split()[0]))
'
done`, Parse: ParsePython}

// PythonInfo is what the Python fact prints: sys.executable,
// sys.version_info, the implementation and platform.python_version().
type PythonInfo struct {
	Executable   string
	Major        int
	Minor        int
	Micro        int
	ReleaseLevel string
	Serial       int
	Type         string // sys.implementation.name: cpython (CPython on Python 2)
	HasSSL       bool   // has_sslcontext
	Version      string // platform.python_version(): 3.11.2
}

// ParsePython reads the Python command's lines; no output means no Python.
func ParsePython(b []byte) (PythonInfo, error) {
	var p PythonInfo
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return p, nil
	}
	if len(lines) != 5 {
		return p, fmt.Errorf("python: want 5 lines, got %q", b)
	}
	v := strings.Fields(lines[1])
	if len(v) != 5 {
		return p, fmt.Errorf("python: version_info %q", lines[1])
	}
	var err error
	for i, dst := range map[int]*int{0: &p.Major, 1: &p.Minor, 2: &p.Micro, 4: &p.Serial} {
		if *dst, err = strconv.Atoi(v[i]); err != nil {
			return p, fmt.Errorf("python: version_info %q: %w", lines[1], err)
		}
	}
	p.Executable, p.ReleaseLevel, p.Type = lines[0], v[3], lines[2]
	p.HasSSL, p.Version = lines[3] == "1", lines[4]
	return p, nil
}

// Found is false on a host without Python.
func (p PythonInfo) Found() bool { return p.Executable != "" }

// ansibleFacts is ansible_python, as ansible-core's python fact collector
// builds it.
func (p PythonInfo) ansibleFacts() map[string]any {
	var typ any = p.Type
	if p.Type == "" {
		typ = nil
	}
	return map[string]any{
		"executable":     p.Executable,
		"has_sslcontext": p.HasSSL,
		"type":           typ,
		"version": map[string]any{
			"major": p.Major, "minor": p.Minor, "micro": p.Micro,
			"releaselevel": p.ReleaseLevel, "serial": p.Serial,
		},
		"version_info": []any{p.Major, p.Minor, p.Micro, p.ReleaseLevel, p.Serial},
	}
}
