// Package modules defines what a gpuctl module is and keeps the registry of
// them. A module is one idempotent unit of work: it measures the host in
// Check, and changes it in Apply only when Check found a difference. The
// engine checks again after Apply; a module that still reports changes is a
// bug and the task fails.
package modules

import (
	"context"
	"log/slog"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/plan"
)

// Module is one task's work on one host. The engine decodes the task's
// arguments into a fresh value for every host, calls Validate, then Check,
// and Apply only when the diff is not empty and the run is not in check mode.
type Module interface {
	// Validate is pure: no I/O. It runs before any host is touched.
	Validate() error
	// Check is read-only and returns what Apply would change.
	Check(ctx context.Context, h Host) (plan.Diff, error)
	// Apply makes the changes in d, which Check returned for this host.
	Apply(ctx context.Context, h Host, d plan.Diff) error
}

// Host is what a module sees of the host it works on.
type Host interface {
	Name() string
	// Conn reaches the host, with privilege escalation already applied when
	// the task asks for it.
	Conn() conn.Conn
	// Local reaches the machine gpuctl runs on (for fetched files, image
	// archives built locally).
	Local() conn.Conn
	// Facts are gathered once per host per run and shared by every task.
	Facts() Facts
	// Vars are the host's variables, facts and registered results merged.
	Vars() map[string]any
	// Eval evaluates a Jinja2 expression against Vars (assert, when).
	Eval(expr string) (any, error)
	// Render renders a template file against Vars (template module), its string
	// literals read as Jinja2 reads them.
	Render(tpl string) (string, error)
	Log() *slog.Logger
}

// Optional capabilities, found by type assertion as Caddy does. Every one
// lives here, so a module author reads one file to know what a module may
// offer the engine and what a Host may offer a module.

// Provisioner modules fill in defaults that depend on other arguments
// (a taint's effect, a file's state from its other fields). Spec.Build calls
// Provision after decoding and before Validate, so Validate only validates.
type Provisioner interface {
	Provision()
}

// SecretResults is a module whose results hold secrets (the private key
// openssl_privatekey returns with return_content): the engine masks them
// in all output from then on, as it masks vault values and passwords.
type SecretResults interface {
	SecretResults() []string
}

// AppliedDiffer modules learn what they changed only by doing it (a
// Python module, which decides on the host): after Apply the engine shows
// and records this diff instead of the one Check predicted; an empty one
// means Apply found nothing to change.
type AppliedDiffer interface {
	AppliedDiff() plan.Diff
}

// Resulter exposes values for `register:` beyond changed/failed
// (stdout, rc, and the like).
type Resulter interface {
	Result() map[string]any
}

// Unverified modules cannot be checked again after Apply because their
// effect is not observable (command without creates, reboot, debug).
type Unverified interface {
	Unverified() bool
}

// SELinuxLabeler modules take Ansible's SELinux file arguments (seuser,
// serole, setype, selevel) and name those a task gave. gpuctl sets no SELinux
// context: like ansible-core, which skips them where SELinux is not enabled,
// they change nothing on Debian and Ubuntu (AppArmor); on a host with SELinux
// enabled the engine fails the task before Check rather than leave a file
// labelled other than the task says.
type SELinuxLabeler interface {
	SELinuxArgs() []string
}

// PendingRefs hosts (the engine's, under --check) say whether a template a
// module renders reads a result only known after apply (a register of a task
// that would change): the module then reports NotYet instead of failing on a
// result that was never produced, as the engine does for a task's own
// arguments. The reason is "" when nothing it reads is pending.
type PendingRefs interface {
	PendingRefs(src string) string
}

// FactSetter modules add variables to the host for later tasks (set_fact).
type FactSetter interface {
	SetFacts() map[string]any
}

// Messager modules print a message in the task line (debug, assert).
type Messager interface {
	Message() string
}

// Reader modules read paths that an earlier task may write; in check mode
// the engine reports "known after apply" when one of them is pending.
type Reader interface {
	Reads() []string
}

// Skipper modules can decide a task does not apply to a host (no GPU found)
// without failing: the task is reported as skipped with the reason.
type Skipper interface {
	Skip() string
}

// Detacher modules can run as Ansible's async jobs (task keywords async
// and poll): their work on the host is one command, which the engine hands
// to the host to run detached from the connection, as ansible-core's
// async_wrapper does, so it survives a dropped session and, with poll: 0,
// the end of the run. Modules whose Apply is several steps driven from the
// controller cannot: they would stop with the controller.
type Detacher interface {
	// Detach describes the command Apply would run. It is called after a
	// Check that found work to do.
	Detach() DetachedCommand
}

// DetachedCommand is what a Detacher runs on the host, and how its result
// is written (Ansible's command module keys).
type DetachedCommand struct {
	Cmdline string // run with /bin/sh -c
	Cmd     any    // what the result shows as cmd: argv for command, text for shell
	Dir     string // working directory; "" for the login directory
	Stdin   string // fed to the command; "" for none
	// StripEmptyEnds drops trailing newlines from stdout and stderr.
	StripEmptyEnds bool
}

// Host capabilities: an engine's Host may implement these; a module that
// needs one asserts it and fails with a clear error when it is missing.

// Reconnector is a Host that can drop and re-dial its connection (after a
// reboot). After Reconnect returns nil, Host.Conn returns the new connection.
type Reconnector interface {
	Reconnect(ctx context.Context) error
}

// Rebooter is a Host that reboots the machine and waits until it answers
// again by itself (a test VM, a cloud API); modules that reboot prefer it to
// their own reboot-and-reconnect loop.
type Rebooter interface {
	Reboot(ctx context.Context, reason string) error
}

// CheckModer is a Host that says whether its task runs in check mode. Most
// modules never ask (Check is read-only either way); async_status does,
// because ansible-core skips it in check mode.
type CheckModer interface {
	CheckMode() bool
}

// Delegator is a Host that says where a delegated task's connection leads:
// the delegate's inventory name (the rendered delegate_to), "" when the task
// is not delegated. synchronize asks, because its two sides depend on it.
type Delegator interface {
	DelegatedTo() string
}

// AsyncDir is where async jobs keep their results on the host, in the home
// of the user the task runs as (after become): ansible-core's default
// async_dir, so its async_status and gpuctl's read each other's jobs. The
// host variable ansible_async_dir moves it, as it does ansible-core's.
const AsyncDir = "~/.ansible_async"

// AsyncDirOf is the async_dir a task's variables choose: ansible_async_dir
// when set, else AsyncDir.
func AsyncDirOf(vars map[string]any) string {
	if d, ok := vars["ansible_async_dir"].(string); ok && strings.TrimSpace(d) != "" {
		return strings.TrimSpace(d)
	}
	return AsyncDir
}

// AsyncDirWord is dir as one shell word: quoted, but with a leading ~ or
// ~/ left for the host's shell to expand to the task user's home.
func AsyncDirWord(dir string) string {
	switch {
	case dir == "~":
		return "~"
	case strings.HasPrefix(dir, "~/"):
		return "~/" + conn.Quote(dir[2:])
	}
	return conn.Quote(dir)
}

// Facts are the values gathered from a host once per run.
type Facts map[string]any

// String returns a fact as a string, or "" when missing.
func (f Facts) String(key string) string {
	if v, ok := f[key].(string); ok {
		return v
	}
	return ""
}

// Bool returns a fact as a bool, false when missing.
func (f Facts) Bool(key string) bool {
	v, _ := f[key].(bool)
	return v
}
