// Package playbooks loads Ansible-style YAML playbooks into plays and tasks,
// strictly: an unknown keyword or module, a wrong type or a broken
// expression is an error naming the file, line and task, reported before any
// host is contacted. It also carries the bundled playbooks (bundled.go).
package playbooks

import (
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/template"
)

// Pos locates a node in a source file.
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line"`
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d", p.File, p.Line) }

// Playbook is a list of plays, imports already expanded.
type Playbook struct {
	Path  string
	Plays []*Play
	// PythonFilters are the filter plugins in Python its templates use
	// (a collection's, filter_plugins/), for the engine to register.
	PythonFilters []template.PythonFilter
}

// Play maps a host pattern to tasks.
type Play struct {
	Name  string
	Hosts string
	Vars  map[string]any
	// VarsFiles are the vars_files entries to read per host, from the first
	// that names a template ("{{ ansible_os_family }}.yml") on; the loader
	// merges the entries before it into Vars.
	VarsFiles []VarsFile
	// VarsPrompt are asked before the play runs (engine: Options.Prompt).
	VarsPrompt []VarPrompt
	// RoleDefaults and RoleVars are the defaults and vars of the play's
	// roles (roles:, their dependencies, import_role), which every task of
	// the play sees at their ranks, as in ansible-core.
	RoleDefaults map[string]any
	RoleVars     map[string]any
	Become       *bool
	BecomeUser   string
	GatherFacts  *bool
	Connection   string
	// RemoteUser is the SSH user for hosts whose inventory names none
	// (ansible_user wins, as in Ansible).
	RemoteUser string
	// Port is the play's port keyword: the SSH port of hosts whose
	// variables name none (ansible_port wins, as in Ansible).
	Port   int
	Serial []string // batch sizes: "1", "30%", ...
	// Strategy is "linear" (every host of a batch finishes a task before any
	// starts the next; the default) or "free".
	Strategy string
	// MaxFailPercentage stops the play when more than this share of a
	// batch's hosts failed; nil: only a batch where every host failed stops it.
	MaxFailPercentage *float64
	// AnyErrorsFatal stops the play on every host after the task that
	// failed on one.
	AnyErrorsFatal bool
	// RunOnce runs every task of the play on the first host of each batch.
	RunOnce bool
	// IgnoreUnreachable is the play's ignore_unreachable, given to its
	// tasks that set none.
	IgnoreUnreachable *bool
	Tags              []string
	// GatherWhen are the conditions of an import_playbook's when, under
	// which the play gathers facts for a host (ansible-core's
	// _included_conditional on its setup task)
	GatherWhen     []string
	PreTasks       []*Task
	Roles          []*Task // one wrapper task per `roles:` entry, run after pre_tasks
	Tasks          []*Task
	PostTasks      []*Task
	Handlers       []*Task
	Environment    any   // a mapping, or an expression giving one
	ModuleDefaults any   // module_defaults: a mapping of module names to arguments, a list of them, or an expression
	Diff           *bool // the diff keyword: show (true) or hide (false) this task's diff whatever --diff says
	Pos            Pos
}

// AllTasks returns pre_tasks, tasks and post_tasks in run order.
func (p *Play) AllTasks() []*Task {
	out := append([]*Task{}, p.PreTasks...)
	out = append(out, p.Roles...)
	out = append(out, p.Tasks...)
	return append(out, p.PostTasks...)
}

// Task is one module invocation with its control keywords.
type Task struct {
	Name         string
	Module       string         // registered module name (prefixes like ansible.builtin. stripped)
	Spec         *modules.Spec  // the module resolved once by the loader; nil for blocks and includes
	Args         map[string]any // raw, still templated
	When         []string
	Loop         any    // list or template string
	LoopWith     string // with_<lookup>: dict, fileglob, nested, ...; "" for loop and with_items
	LoopVar      string
	LoopControl  LoopControl // the rest of loop_control
	Register     string
	Notify       []string
	Listen       []string // handlers only
	Tags         []string
	ChangedWhen  []string
	FailedWhen   []string
	IgnoreErrors bool
	CheckMode    *bool
	Become       *bool
	BecomeUser   string
	DelegateTo   string
	// DelegateFacts: facts the task sets go to the delegate, not the host.
	DelegateFacts bool
	RunOnce       bool
	NoLog         bool
	// Throttle caps how many hosts run this task (for a block: each task
	// inside it) at once; 0 is no cap beyond --forks.
	Throttle int
	// AnyErrorsFatal overrides the play's for this task or block.
	AnyErrorsFatal *bool
	// Async is the time limit in seconds of a task run as an async job
	// (async:); 0 runs it in the foreground. Poll is the seconds between
	// looks at the job (poll:; nil is Ansible's 15); 0 returns at once and
	// leaves the job running on the host (fire and forget).
	Async int
	Poll  *int
	// IgnoreUnreachable keeps the host in play when this task finds it
	// unreachable (a task, block or play keyword; blocks pass it down).
	IgnoreUnreachable *bool
	Vars              map[string]any
	Environment       any   // a mapping, or an expression giving one
	ModuleDefaults    any   // module_defaults: a mapping of module names to arguments, a list of them, or an expression
	Diff              *bool // the diff keyword: show (true) or hide (false) this task's diff whatever --diff says
	Until             []string
	Retries           int
	Delay             int
	// Block holds a block's tasks; Rescue and Always its error handling.
	Block  []*Task
	Rescue []*Task
	Always []*Task
	// Include holds the tasks of include_tasks/import_tasks, loaded
	// statically so they are validated before anything runs.
	Include []*Task
	// IncludeFile is an include_tasks path that depends on host variables
	// ("{{ ansible_distribution }}.yml"): loaded per host at run time.
	IncludeFile string
	// IncludeRole is an include_role whose name depends on host variables
	// ("network_plugin/{{ kube_network_plugin }}"): loaded per host at run
	// time with LoadRole.
	IncludeRole *DynamicRole
	// Dynamic marks include_tasks/include_role: their when and loop apply
	// to the include itself, not to each task inside (import_* inherit).
	Dynamic bool
	// Public is include_role's public: once the include has run, the
	// role's defaults and vars reach the host's later tasks of the play.
	Public bool
	// Role is set on the task wrapping a role's tasks (or one handler): the
	// tasks inside see its defaults, vars, params and role_path.
	Role *Role
	Pos  Pos
	// Refs are the variables the task's templates read (filled at load).
	Refs TaskRefs
	// Keywords holds the templated values of TemplatedKeywords
	// (keywords.go), rendered per host into the typed fields above.
	Keywords map[string]string
}

// LoopControl is loop_control besides loop_var.
type LoopControl struct {
	IndexVar string  // index_var: the item's index under this name
	Extended bool    // extended: ansible_loop (index, first, last, ...)
	AllItems bool    // extended_allitems: ansible_loop.allitems (default true)
	Pause    float64 // pause: seconds between items
	Label    string  // label: how an item is named in output (a template)
}

// VarsFile is one vars_files entry: a path, or alternatives of which the
// first that exists is read.
type VarsFile struct {
	Paths []string       // as written: may be templates over host variables
	Dir   string         // the playbook's directory, which relative paths are under
	Pos   Pos            // where the entry is written
	Vars  map[string]any // read at load when no path is a template
}

// Role is one use of a role: its files as loaded, and the parameters of
// this use (`- role: x` keys, include_role vars).
type Role struct {
	Name     string
	Path     string         // the role's directory: templates/ and files/ are looked up here
	Defaults map[string]any // defaults/main.yml: below everything else
	Vars     map[string]any // vars/main.yml: above play vars
	Params   map[string]any // above registered and set_fact values
}

// Title is how a task is named in output.
func (t *Task) Title() string {
	if t.Name != "" {
		return t.Name
	}
	if t.Module != "" {
		return t.Module
	}
	if t.Block != nil {
		return "block"
	}
	return "include"
}

// Where names the task for errors: file:line and title.
func (t *Task) Where() string {
	return fmt.Sprintf("%s (task %q)", t.Pos, t.Title())
}

// DynamicRole is what an include_role with a templated name needs to be
// loaded when it runs: its arguments as written, where they were written,
// and the top playbook, whose directory the role search starts from.
type DynamicRole struct {
	Name string // the name template
	file string
	node *yaml.Node
	root string
}
