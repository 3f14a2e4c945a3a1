package pymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/internal/pyjson"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
	"github.com/gpuctl/gpuctl/template"
)

// Info describes src as the module a task names name (as written: kube,
// widget, acme.tools.widget), for the loader to build its Spec.
func Info(name string, src *Source) modules.Info {
	return modules.Info{
		Name:    name,
		Summary: "Ansible Python module " + src.Path + ", run on the host by its python3",
		CheckMode: "Runs the module with Ansible's check mode on; a module that does not support check mode " +
			"is reported as known after apply, where ansible-core skips it.",
		AnyKeys: true,
		New:     func() modules.Module { return &Module{name: name, src: src} },
	}
}

// Module is one task's run of a Python module. Its arguments are the
// module's own: it checks them on the host, as under ansible-core.
type Module struct {
	Args map[string]any `yaml:",remain" doc:"the Python module's arguments, passed as they are"`

	name    string
	src     *Source
	result  map[string]any
	applied plan.Diff
}

// Validate refuses the arguments only the collection's action plugin,
// which gpuctl does not run, would read.
func (m *Module) Validate() error {
	for _, a := range m.src.ControllerArgs {
		if _, ok := m.Args[a]; ok {
			return fmt.Errorf("%s is read on the controller by the collection's action plugin, which gpuctl does not run; "+
				"render it with the template module to a file on the host and pass that file instead", a)
		}
	}
	return nil
}

// Check asks the module itself under check mode. In a real run there is
// nothing to ask first: the module decides on the host whether to change
// anything, and Apply reports what it said.
func (m *Module) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	var d plan.Diff
	cm, ok := h.(modules.CheckModer)
	if !ok || !cm.CheckMode() {
		d.Add(plan.Change{Resource: "module:" + m.name, Action: plan.Run, After: m.src.Path})
		return d, nil
	}
	res, err := m.invoke(ctx, h, true)
	if err != nil {
		return d, err
	}
	if template.Truthy(res["skipped"]) {
		// ansible-core: "remote module (x) does not support check mode"
		d.Unknown = fmt.Sprintf("%s does not support check mode (%s)", m.name, str(res["msg"]))
		return d, nil
	}
	m.result = res
	if err := failure(res); err != nil {
		return d, err
	}
	if template.Truthy(res["changed"]) {
		d.Changes = changesOf(m.name, res)
	}
	return d, nil
}

func (m *Module) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	if d.Empty() {
		return nil
	}
	res, err := m.invoke(ctx, h, false)
	if err != nil {
		return err
	}
	m.result = res
	if err := failure(res); err != nil {
		return err
	}
	if template.Truthy(res["changed"]) {
		m.applied.Changes = changesOf(m.name, res)
	}
	return nil
}

// AppliedDiff is what the module said it changed.
func (m *Module) AppliedDiff() plan.Diff { return m.applied }

// Unverified: a second run to verify would run the module again, which is
// the module's idempotence to keep, not gpuctl's to measure.
func (m *Module) Unverified() bool { return true }

// Result is what the module returned, as register: sees it under ansible-core.
func (m *Module) Result() map[string]any { return m.result }

// invoke runs the module once on the host and decodes its JSON answer.
func (m *Module) invoke(ctx context.Context, h modules.Host, check bool) (map[string]any, error) {
	bundle, sha, err := m.src.Bundle()
	if err != nil {
		return nil, fmt.Errorf("%s: building the module's bundle: %w", m.name, err)
	}
	args := maps.Clone(m.Args)
	if args == nil {
		args = map[string]any{}
	}
	maps.Copy(args, map[string]any{
		"_ansible_check_mode": check,
		// always: the plan shows the module's diff, --diff or not
		"_ansible_diff":                     true,
		"_ansible_no_log":                   false,
		"_ansible_debug":                    false,
		"_ansible_verbosity":                0,
		"_ansible_module_name":              m.name,
		"_ansible_keep_remote_files":        false,
		"_ansible_remote_tmp":               "~/.ansible/tmp",
		"_ansible_shell_executable":         "/bin/sh",
		"_ansible_string_conversion_action": "warn",
		"_ansible_selinux_special_fs":       []string{"fuse", "nfs", "vboxsf", "ramfs", "9p", "vfat"},
		"_ansible_syslog_facility":          "LOG_USER",
		"_ansible_version":                  AnsibleVersion,
	})
	in, err := json.Marshal(map[string]any{"ANSIBLE_MODULE_ARGS": args})
	if err != nil {
		return nil, fmt.Errorf("%s: arguments: %w", m.name, err)
	}
	interp := interpreter(h)
	c := h.Conn()
	res, err := c.Run(ctx, bootLine(interp, "run", sha), conn.Stdin(bytes.NewReader(in)))
	if err != nil {
		return nil, err
	}
	if res.ExitCode == needBundle && strings.Contains(res.Stdout, needBundleMark) {
		put, err := c.Run(ctx, bootLine(interp, "put", sha), conn.Stdin(bytes.NewReader(bundle)))
		if err != nil {
			return nil, err
		}
		if !put.OK() {
			return nil, fmt.Errorf("%s: copying the module to the host: %s", m.name, strings.TrimSpace(put.Stderr+put.Stdout))
		}
		if res, err = c.Run(ctx, bootLine(interp, "run", sha), conn.Stdin(bytes.NewReader(in))); err != nil {
			return nil, err
		}
	}
	if res.ExitCode == noPython {
		return nil, fmt.Errorf("%s is an Ansible Python module and the host has no Python interpreter (%s); install python3 on it, or set ansible_python_interpreter",
			m.name, interp)
	}
	out, err := decodeReply(res.Stdout)
	if err != nil {
		return nil, fmt.Errorf("%s: MODULE FAILURE (rc %d): %s", m.name, res.ExitCode, strings.TrimSpace(firstLines(res.Stderr+"\n"+res.Stdout, 20)))
	}
	for _, w := range list(out["warnings"]) {
		h.Log().Warn("module warning", "module", m.name, "warning", fmt.Sprint(w))
	}
	for _, dep := range list(out["deprecations"]) {
		h.Log().Warn("module deprecation", "module", m.name, "deprecation", fmt.Sprint(dep))
	}
	return out, nil
}

// AnsibleVersion is the ansible_version the modules are told, the
// ansible-core whose behaviour gpuctl follows.
const AnsibleVersion = "2.14.18"

const (
	needBundle     = 75 // EX_TEMPFAIL: the host lacks this bundle
	needBundleMark = "GPUCTL-NEED-BUNDLE"
	noPython       = 127
)

// boot is run by the host's python3 with -c. "put" unpacks the bundle read
// from stdin, verified against its sha256, into a directory only the task's
// user can write (an unprivileged user who could swap a root task's module
// would own the host), renamed into place whole; bundles unused for 30 days
// go. "run" executes the unpacked bundle, stdin (the arguments) passing
// through. Unpacked rather than run from the zip: Python then keeps the
// compiled module_utils beside them, and a module starts about a third
// faster from the second run on.
const boot = `import hashlib,io,os,pwd,shutil,sys,tempfile,time,zipfile
op,sha=sys.argv[1],sys.argv[2]
d=os.path.join(pwd.getpwuid(os.geteuid()).pw_dir,'.ansible','tmp','gpuctl')
os.makedirs(d,0o700,exist_ok=True)
st=os.lstat(d)
if st.st_uid!=os.geteuid() or st.st_mode&0o077:
    sys.exit('gpuctl: %s is not private to this user' % d)
p=os.path.join(d,sha)
if op=='put':
    b=sys.stdin.buffer.read()
    if hashlib.sha256(b).hexdigest()!=sha:
        sys.exit('gpuctl: the module bundle arrived damaged')
    t=tempfile.mkdtemp(dir=d)
    zipfile.ZipFile(io.BytesIO(b)).extractall(t)
    try:
        os.rename(t,p)
    except OSError:
        shutil.rmtree(t,ignore_errors=True)
    for e in os.listdir(d):
        q=os.path.join(d,e)
        if e!=sha and os.path.getmtime(q)<time.time()-30*86400:
            shutil.rmtree(q,ignore_errors=True)
    sys.exit(0)
if not os.path.isfile(os.path.join(p,'__main__.py')):
    sys.stdout.write('` + needBundleMark + `')
    sys.exit(75)
os.utime(p)
os.execv(sys.executable,[sys.executable,p])
`

// bootLine runs boot with the interpreter: the one the host's variables name,
// else the first python3 found, as ansible-core's interpreter discovery
// settles on for Debian and Ubuntu.
func bootLine(interp []string, op, sha string) string {
	var b strings.Builder
	b.WriteString("for p in")
	for _, i := range interp {
		b.WriteString(" " + conn.Quote(i))
	}
	fmt.Fprintf(&b, `; do if command -v "$p" >/dev/null 2>&1; then exec "$p" -c %s %s %s; fi; done; echo "no Python interpreter found" >&2; exit %d`,
		conn.Quote(boot), op, sha, noPython)
	return b.String()
}

func interpreter(h modules.Host) []string {
	v, _ := h.Vars()["ansible_python_interpreter"].(string)
	if strings.Contains(v, "{{") {
		if r, err := h.Render(v); err == nil {
			v = r
		}
	}
	v = strings.TrimSpace(v)
	if v == "" || strings.HasPrefix(v, "auto") {
		return []string{"/usr/bin/python3", "python3", "/usr/libexec/platform-python"}
	}
	return []string{v}
}

// decodeReply finds the module's JSON in its stdout, past anything printed
// before it, as ansible-core's _filter_non_json_lines does.
func decodeReply(stdout string) (map[string]any, error) {
	start, off := -1, 0
	for _, l := range strings.SplitAfter(stdout, "\n") {
		if strings.HasPrefix(strings.TrimLeft(l, " \t"), "{") {
			start = off
			break
		}
		off += len(l)
	}
	if start < 0 {
		return nil, errors.New("no JSON in the module's output")
	}
	return pyjson.DecodeObject(strings.NewReader(stdout[start:]))
}

// failure is the module's own failure, with its message and, as
// ansible-core shows them, the command's output when it ran one.
func failure(res map[string]any) error {
	if !template.Truthy(res["failed"]) {
		return nil
	}
	msg := str(res["msg"])
	if msg == "" {
		msg = "the module failed without a message"
	}
	for _, k := range []string{"stderr", "module_stderr"} {
		if s := strings.TrimSpace(str(res[k])); s != "" && !strings.Contains(msg, s) {
			msg += ": " + firstLines(s, 10)
			break
		}
	}
	return errors.New(msg)
}

// changesOf turns the module's diff (a mapping, or a list of them, with
// before/after and their headers, or prepared text) into the plan's changes.
func changesOf(name string, res map[string]any) []plan.Change {
	var out []plan.Change
	var diffs []any
	switch d := res["diff"].(type) {
	case map[string]any:
		diffs = []any{d}
	case []any:
		diffs = d
	}
	for _, e := range diffs {
		d, ok := e.(map[string]any)
		if !ok {
			continue
		}
		res := "module:" + name
		if hdr := str(d["after_header"]); hdr != "" {
			res = "module:" + name + ":" + hdr
		}
		if p := str(d["prepared"]); p != "" {
			out = append(out, plan.Change{Resource: res, Action: plan.Update, After: p})
			continue
		}
		before, after := text(d["before"]), text(d["after"])
		if before == after {
			continue
		}
		out = append(out, plan.Change{Resource: res, Action: plan.Update, Before: before, After: after, Content: true})
	}
	if len(out) == 0 {
		// changed, with no diff to show: say what the module said
		out = append(out, plan.Change{Resource: "module:" + name, Action: plan.Update, After: or(str(res["msg"]), "changed")})
	}
	return out
}

func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	}
	b, err := json.MarshalIndent(v, "", "    ")
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b) + "\n"
}

func str(v any) string {
	if v == nil {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = append(lines[:n], fmt.Sprintf("... (%d more lines)", len(lines)-n))
	}
	return strings.Join(lines, "\n")
}

var (
	_ modules.Module     = (*Module)(nil)
	_ modules.Resulter   = (*Module)(nil)
	_ modules.Unverified = (*Module)(nil)

	_ modules.AppliedDiffer = (*Module)(nil)
)
