package cli

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/conn/local"
	"github.com/gpuctl/gpuctl/engine"
	"github.com/gpuctl/gpuctl/engine/output"
	"github.com/gpuctl/gpuctl/internal/yaml11"
	"github.com/gpuctl/gpuctl/inventory"
	"github.com/gpuctl/gpuctl/playbooks"
)

// ExitError carries a process exit code out of a command.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}
func (e *ExitError) Unwrap() error { return e.Err }

type runOptions struct {
	io               IO
	playbook         string
	invFlags         inventoryFlags
	check, diff      bool
	limit            string
	tags, skipTags   []string
	forks            int
	verbose          bool
	maxHandshakes    int
	extraVars        []string
	outputFormat     string
	detailedExitcode bool
	askBecomePass    bool
	connectTimeout   time.Duration
	taskTimeout      time.Duration
	color            string
	retry            retryState
	connFlags        connectionFlags // ansibleflags.go
	pbFlags          playbookFlags   // ansibleflags.go

	vars    map[string]any
	inv     *inventory.Inventory
	pb      *playbooks.Playbook
	secrets []string // decrypted vault values (inventory, vars_files), masked in output
	becPwd  string
}

func newRunCmd(streams IO) *cobra.Command {
	_, cmd := newRun(streams)
	return cmd
}

// newRun is the run command and the options its flags fill.
func newRun(streams IO) (*runOptions, *cobra.Command) {
	o := &runOptions{io: streams}
	cmd := &cobra.Command{
		Use:   "run PLAYBOOK",
		Short: "Run a playbook against the hosts of an inventory",
		Long: `Run a playbook against the hosts of an inventory.

PLAYBOOK is a file, or the name of a bundled playbook (see 'gpuctl playbooks')
when no file of that name exists. Without -i, the play runs against localhost
over the local connection.

Hosts: --forks (default 10) is how many hosts work on a task at once; it
changes how long a run takes, never its outcome. By default a play is
linear: every host of a batch finishes a task before any host starts the
next (strategy: free lets hosts run ahead; serial makes batches). Past 10
hosts the output is one summary line per task, plus a line per host for
failures (and for changes with --diff); -v prints every host's line.
See docs/fleet.md.

Exit codes: 0 success, 1 failure; with --detailed-exitcode 0 means nothing to
change, 2 changes pending (or made), 1 failure.`,
		Example: `  gpuctl run site.yaml -i hosts.yaml --check --diff
  gpuctl run site.yaml -i hosts.yaml --limit gpu-1 -e k8s_version=1.34
  gpuctl run validate.yaml -i hosts.yaml --output json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.playbook = args[0]
			// Flags first: a typo in a flag should not wait for playbook loading.
			if err := o.Validate(); err != nil {
				return err
			}
			if err := o.Complete(cmd); err != nil {
				return err
			}
			return o.Run(cmd)
		},
	}
	f := cmd.Flags()
	o.invFlags.add(f)
	f.BoolVarP(&o.check, "check", "C", false, "change nothing; report what would change")
	f.BoolVarP(&o.diff, "diff", "D", false, "show what changes: unified diffs for files, before/after for the rest")
	f.StringVarP(&o.limit, "limit", "l", "", "further limit hosts to a pattern (a:b, a:!b, a:&b, globs; @FILE: the hosts FILE lists, one a line, as a .retry file)")
	f.BoolVar(&o.retry.failedOnly, "retry-failed", false, "run only the hosts that failed or were unreachable in the last runs of this playbook against this inventory (see docs/fleet.md)")
	f.StringSliceVarP(&o.tags, "tags", "t", nil, "only run tasks with these tags")
	f.StringSliceVar(&o.skipTags, "skip-tags", nil, "skip tasks with these tags")
	f.IntVarP(&o.forks, "forks", "f", 10, "hosts working on a task at once (time only: results do not depend on it)")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "one line per host and task even past 10 hosts")
	f.StringArrayVarP(&o.extraVars, "extra-vars", "e", nil, "extra variables: KEY=VALUE, a YAML/JSON mapping, or @file.yaml (highest precedence)")
	f.StringVarP(&o.outputFormat, "output", "o", "text", "output format: text or json")
	f.BoolVar(&o.detailedExitcode, "detailed-exitcode", false, "exit 0 when nothing changes, 2 when something changes, 1 on failure")
	f.BoolVarP(&o.askBecomePass, "ask-become-pass", "K", false, "ask for the sudo password once, for every host")
	f.VarP(newSecondsValue(&o.connectTimeout, 15*time.Second), "timeout", "T", "SSH connect timeout: seconds (as Ansible's -T) or a duration such as 30s")
	f.IntVar(&o.maxHandshakes, "max-handshakes", defaultMaxHandshakes, "SSH handshakes in flight to one sshd (a host or a bastion); keep it below the server's MaxStartups (10); 0: no limit")
	f.DurationVar(&o.taskTimeout, "task-timeout", 0, "limit for one task on one host (0: none)")
	f.StringVar(&o.color, "color", "auto", "colour output: auto, always, never")
	o.connFlags.add(f)
	o.pbFlags.add(f)
	return o, cmd
}

// Complete loads everything; any error here happens before a host is
// contacted.
func (o *runOptions) Complete(cmd *cobra.Command) error {
	vars, err := ParseExtraVars(o.extraVars)
	if err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	o.vars = vars
	if err := o.invFlags.loadVault(cmd.Context(), o.io); err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	pbFile := ""
	if _, statErr := os.Stat(o.playbook); statErr == nil {
		pbFile = o.playbook
	}
	if o.inv, err = o.invFlags.load(pbFile); err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	o.invFlags.printWarnings(o.io)
	// Static parts of plays (hosts patterns, imports) may use extra vars and
	// the inventory's groups, as Ansible allows.
	static := map[string]any{"groups": groupsVar(o.inv)}
	for k, v := range vars {
		static[k] = v
	}
	l := &playbooks.Loader{Vars: static, Vault: o.invFlags.vaultSecrets}
	path := o.playbook
	if _, statErr := os.Stat(path); statErr != nil {
		if b, ok := playbooks.Bundled(path); ok {
			l.ReadFile = b.ReadFile
			path = b.Path
		}
	}
	if o.pb, err = l.Load(path); err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	for _, w := range l.Warnings {
		fmt.Fprintf(o.io.Err, "[WARNING] %s\n", w)
	}
	o.retry.bundled = pbFile == ""
	if err := o.completeRetry(); err != nil {
		return err
	}
	o.secrets = append(o.inv.Secrets(), l.Secrets()...)
	if o.pbFlags.listing() {
		return nil // as ansible-playbook: no passwords asked to list or check syntax
	}
	if o.askBecomePass {
		pw, err := readPassword(o.io, "BECOME password: ")
		if err != nil {
			return &ExitError{Code: 1, Err: err}
		}
		o.becPwd = pw
	} else {
		o.becPwd = os.Getenv("GPUCTL_BECOME_PASSWORD")
	}
	return nil
}

// Validate checks flag values.
func (o *runOptions) Validate() error {
	if o.outputFormat != "text" && o.outputFormat != "json" {
		return &ExitError{Code: 1, Err: fmt.Errorf("--output must be text or json, not %q", o.outputFormat)}
	}
	if o.forks < 1 {
		return &ExitError{Code: 1, Err: fmt.Errorf("--forks must be at least 1")}
	}
	if o.maxHandshakes < 0 {
		return &ExitError{Code: 1, Err: fmt.Errorf("--max-handshakes must be 0 (no limit) or more")}
	}
	if o.color != "auto" && o.color != "always" && o.color != "never" {
		return &ExitError{Code: 1, Err: fmt.Errorf("--color must be auto, always or never")}
	}
	if err := o.connFlags.validate(); err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	if err := o.pbFlags.validate(); err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	return nil
}

// Run executes the playbook and maps the outcome to an exit code.
func (o *runOptions) Run(cmd *cobra.Command) error {
	if o.pbFlags.listing() {
		return o.list() // listplays.go: prints, runs and contacts nothing
	}
	if o.retry.nothing {
		return nil
	}
	var rep engine.Reporter
	if o.outputFormat == "json" {
		rep = output.NewJSON(o.io.Out)
	} else {
		color := o.color == "always" || (o.color == "auto" && isTerminal(o.io.Out) && os.Getenv("NO_COLOR") == "")
		txt := output.NewText(o.io.Out, color, o.diff)
		txt.Verbose = o.verbose
		rep = txt
	}
	opt := o.engineOptions(rep)
	if isTerminal(o.io.In) {
		opt.Prompt = func(msg string, private bool) (string, error) { return promptLine(o.io, msg, private) }
	}
	eng := engine.New(o.inv, opt)
	recap, err := eng.Run(cmd.Context(), o.pb)
	o.recordRun(recap, err)
	switch {
	case err != nil || recap.Failed():
		if err == nil {
			err = errors.New("some hosts failed")
		}
		return &ExitError{Code: 1, Err: err}
	case o.detailedExitcode && recap.Changed():
		return &ExitError{Code: 2}
	}
	return nil
}

// engineOptions are the run's engine settings, reporting to rep.
func (o *runOptions) engineOptions(rep engine.Reporter) engine.Options {
	return engine.Options{
		Check: o.check, Diff: o.diff, Forks: o.forks, Limit: o.limit, Tags: o.tags, SkipTags: o.skipTags,
		ExtraVars: o.vars, BecomePassword: o.becPwd, Secrets: o.secrets, Vault: o.invFlags.vaultSecrets,
		Connector: sshConnector{timeout: o.connectTimeout, gate: newDialGate(o.maxHandshakes), defaults: o.connFlags.connDefaults()},
		Local:     local.New(),
		Become: func(c conn.Conn, user, password string) conn.Conn {
			return conn.Become(c, conn.BecomeOptions{User: user, Password: password})
		},
		Reporter:    rep,
		Logger:      slog.Default(),
		TaskTimeout: o.taskTimeout,
		// -c, -u, -b, --become-user: the lowest layer (ansibleflags.go)
		DefaultConnection: o.connFlags.defaultConnection(),
		DefaultRemoteUser: o.connFlags.user,
		DefaultBecome:     o.connFlags.become,
		DefaultBecomeUser: o.connFlags.becomeUser,
	}
}

// ParseExtraVars reads -e values: KEY=VALUE pairs, inline YAML/JSON
// mappings, and @file references.
func ParseExtraVars(specs []string) (map[string]any, error) {
	out := map[string]any{}
	for _, s := range specs {
		var m map[string]any
		switch {
		case strings.HasPrefix(s, "@"):
			data, err := os.ReadFile(s[1:])
			if err != nil {
				return nil, fmt.Errorf("-e %s: %w", s, err)
			}
			if err := yaml11.Unmarshal(data, &m); err != nil {
				return nil, fmt.Errorf("-e %s: %w", s, err)
			}
		case strings.HasPrefix(strings.TrimSpace(s), "{"):
			if err := yaml11.Unmarshal([]byte(s), &m); err != nil {
				return nil, fmt.Errorf("-e %q: %w", s, err)
			}
		default:
			m = map[string]any{}
			for _, kv := range strings.Fields(s) {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return nil, fmt.Errorf("-e %q: expected KEY=VALUE, a mapping or @file", s)
				}
				m[k] = v
			}
		}
		for k, v := range m {
			out[k] = v
		}
	}
	return out, nil
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func readPassword(streams IO, prompt string) (string, error) {
	fmt.Fprint(streams.Err, prompt)
	defer fmt.Fprintln(streams.Err)
	if f, ok := streams.In.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		b, err := term.ReadPassword(int(f.Fd()))
		return string(b), err
	}
	var line string
	_, err := fmt.Fscanln(streams.In, &line)
	return line, err
}

func groupsVar(inv *inventory.Inventory) map[string]any {
	out := map[string]any{}
	for g, hosts := range inv.Groups() {
		l := make([]any, len(hosts))
		for i, h := range hosts {
			l[i] = h
		}
		out[g] = l
	}
	return out
}

// promptLine asks for one line on the terminal (vars_prompt): without echo
// when private, as ansible-playbook does.
func promptLine(streams IO, msg string, private bool) (string, error) {
	if private {
		return readPassword(streams, msg)
	}
	fmt.Fprint(streams.Err, msg)
	line, err := bufio.NewReader(streams.In).ReadString('\n')
	if err != nil && line == "" {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}
