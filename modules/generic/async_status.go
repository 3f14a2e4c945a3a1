package generic

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "async_status",
		Summary: "Read (or clean up) the result of an async job started with async and poll: 0",
		CheckMode: "Skipped, as ansible-core skips it (\"remote module (async_status) does not support check mode\"); " +
			"in check mode the async task it follows starts no job, so the job id it reads is known after apply.",
		Example: `- name: Start the drain without waiting
  command: kubectl drain node1 --ignore-daemonsets
  async: 600
  poll: 0
  register: drain
- name: Wait for it
  async_status:
    jid: "{{ drain.ansible_job_id }}"
  register: job
  until: job.finished
  retries: 60
  delay: 10`,
		New: func() modules.Module { return &AsyncStatus{} },
	})
}

// AsyncStatus reads ~/.ansible_async/<jid> of the task's user, the file an
// async job (gpuctl's or ansible-core's) writes, with the keys ansible-core's
// async_status returns.
type AsyncStatus struct {
	JID  string `yaml:"jid" required:"true" doc:"the job id: the ansible_job_id the async task registered"`
	Mode string `yaml:"mode" default:"status" choices:"status,cleanup" doc:"status reads the job's result; cleanup deletes its file"`

	path   string // the results file, as the host expanded it
	skip   string
	result map[string]any
}

func (m *AsyncStatus) Validate() error {
	// The id becomes a file name under the async directory: a path there
	// would read or delete another file.
	if strings.ContainsAny(m.JID, "/\x00") || m.JID == "." || m.JID == ".." {
		return fmt.Errorf("jid %q is not a job id", m.JID)
	}
	return nil
}

// errNoJob is ansible-core's message for a job file that is not there.
var errNoJob = errors.New("could not find job")

func (m *AsyncStatus) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	if cm, ok := h.(modules.CheckModer); ok && cm.CheckMode() {
		m.skip = "remote module (async_status) does not support check mode"
		return plan.Diff{}, nil
	}
	// The first line is the path the host's shell expanded; the job's
	// JSON follows. Exit 3: no such job.
	res, err := h.Conn().Run(ctx, modules.ReadJobScript(modules.AsyncDirOf(h.Vars()), m.JID))
	if err != nil {
		return plan.Diff{}, fmt.Errorf("async_status %s: %w", m.JID, err)
	}
	path, data, _ := strings.Cut(res.Stdout, "\n")
	m.path = path
	switch {
	case res.ExitCode == 3:
		m.result = jobKeys(m.JID, path, 1)
		return plan.Diff{}, &modules.ResultError{Err: errNoJob, Res: m.result}
	case res.ExitCode != 0:
		return plan.Diff{}, fmt.Errorf("async_status %s: read %s: exit %d: %s", m.JID, path, res.ExitCode, strings.TrimSpace(res.Stderr))
	}
	if m.Mode == "cleanup" {
		m.result = jobKeys(m.JID, path, 0)
		delete(m.result, "results_file")
		m.result["erased"], m.result["changed"] = path, false
		var d plan.Diff
		d.Add(plan.Change{Resource: "file:" + path, Action: plan.Delete, Field: "state", Before: "async job result"})
		return d, nil
	}
	m.result, err = modules.JobStatus(m.JID, path, []byte(data))
	return plan.Diff{}, err
}

// jobKeys are the keys ansible-core's async_status returns for a job
// whose file holds no result of its own (missing, or being erased).
func jobKeys(jid, path string, finished int) map[string]any {
	return map[string]any{"ansible_job_id": jid, "results_file": path, "started": finished, "finished": finished,
		"stdout": "", "stderr": "", "stdout_lines": []string{}, "stderr_lines": []string{}}
}

func (m *AsyncStatus) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	if d.Empty() {
		return nil
	}
	if _, err := conn.Output(ctx, h.Conn(), "rm -f -- "+conn.Quote(m.path)); err != nil {
		return fmt.Errorf("async_status %s: cleanup: %w", m.JID, err)
	}
	return nil
}

func (m *AsyncStatus) Skip() string           { return m.skip }
func (m *AsyncStatus) Result() map[string]any { return m.result }

// Unverified: after cleanup the job is gone, and checking again would
// fail as ansible-core's cleanup of a missing job does.
func (m *AsyncStatus) Unverified() bool { return m.Mode == "cleanup" }

var (
	_ modules.Module     = (*AsyncStatus)(nil)
	_ modules.Resulter   = (*AsyncStatus)(nil)
	_ modules.Skipper    = (*AsyncStatus)(nil)
	_ modules.Unverified = (*AsyncStatus)(nil)
)
