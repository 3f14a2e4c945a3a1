package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/go-multierror"

	"github.com/gpuctl/gpuctl/engine"
	"github.com/gpuctl/gpuctl/inventory"
)

// failedRecord remembers, per playbook and inventory, the hosts whose last
// run of that playbook failed or was unreachable, for --retry-failed. It
// lives in gpuctl's state directory, not beside the playbook, so it needs
// no setting and leaves nothing in the user's repository.
type failedRecord struct {
	Playbook  string                `json:"playbook"`
	Inventory []string              `json:"inventory"`
	Updated   time.Time             `json:"updated"`
	Hosts     map[string]failedHost `json:"hosts"`
}

type failedHost struct {
	Status string    `json:"status"` // failed or unreachable
	Task   string    `json:"task,omitempty"`
	Pos    string    `json:"pos,omitempty"`
	At     time.Time `json:"at"`
}

// failedRecordPath is $XDG_STATE_HOME/gpuctl/failed/KEY.json (by default
// ~/.local/state), KEY a hash of the playbook's and inventories' paths:
// the same playbook run against staging and production has two records.
func failedRecordPath(playbook string, sources []string) (string, error) {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("state directory for --retry-failed: %w", err)
		}
		dir = filepath.Join(home, ".local", "state")
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00", playbook)
	for _, s := range sources {
		fmt.Fprintf(h, "%s\x00", s)
	}
	return filepath.Join(dir, "gpuctl", "failed", hex.EncodeToString(h.Sum(nil))[:16]+".json"), nil
}

// loadFailedRecord reads a record; a missing one is (nil, nil).
func loadFailedRecord(path string) (*failedRecord, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed-hosts record: %w", err)
	}
	var r failedRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("failed-hosts record %s: %w", path, err)
	}
	return &r, nil
}

func (r *failedRecord) save(path string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(data, '\n'), 0o600)
}

// update folds a run into the record: hosts that failed or were unreachable
// are added (with the task that failed), and hosts that went through the
// whole run without either are removed. A run that stopped early (Ctrl-C,
// any_errors_fatal, max_fail_percentage) removes nobody: its hosts may not
// have reached every task.
func (r *failedRecord) update(recap *engine.Recap, runErr error, now time.Time) {
	if r.Hosts == nil {
		r.Hosts = map[string]failedHost{}
	}
	stopped := errors.Is(runErr, engine.ErrPlayStopped) || errors.Is(runErr, context.Canceled) ||
		errors.Is(runErr, context.DeadlineExceeded)
	tasks := hostErrors(runErr)
	for name, c := range recap.Hosts {
		switch {
		case c.Unreachable > 0 || c.Failed > 0:
			fh := failedHost{Status: "failed", At: now}
			if c.Unreachable > 0 {
				fh.Status = "unreachable"
			}
			if he := tasks[name]; he != nil {
				fh.Task, fh.Pos = he.Task, he.Pos
			}
			r.Hosts[name] = fh
		case !stopped:
			delete(r.Hosts, name)
		}
	}
	r.Updated = now
}

// names lists the recorded hosts, sorted.
func (r *failedRecord) names() []string {
	out := make([]string, 0, len(r.Hosts))
	for n := range r.Hosts {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// describe is "gpu-3 (task "install driver"), gpu-7 (unreachable)".
func (r *failedRecord) describe(names []string) string {
	parts := make([]string, len(names))
	for i, n := range names {
		fh := r.Hosts[n]
		switch {
		case fh.Task != "":
			parts[i] = fmt.Sprintf("%s (%s at task %q)", n, fh.Status, fh.Task)
		default:
			parts[i] = fmt.Sprintf("%s (%s)", n, fh.Status)
		}
	}
	return strings.Join(parts, ", ")
}

// hostErrors finds the first HostError of each host in a run's error tree.
func hostErrors(err error) map[string]*engine.HostError {
	out := map[string]*engine.HostError{}
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case nil:
		case *engine.HostError:
			if _, seen := out[e.Host]; !seen {
				out[e.Host] = e
			}
		case *multierror.Error:
			for _, x := range e.WrappedErrors() {
				walk(x)
			}
		case interface{ Unwrap() []error }:
			for _, x := range e.Unwrap() {
				walk(x)
			}
		default:
			walk(errors.Unwrap(err))
		}
	}
	walk(err)
	return out
}

// retryLimit narrows a run to the recorded hosts that are in inv and in
// limit (when given). It returns the limit pattern to run with and the
// hosts it names; none means there is nothing to retry.
func retryLimit(rec *failedRecord, inv *inventory.Inventory, limit string) (string, []string, error) {
	var keep map[string]bool
	if limit != "" {
		hosts, err := inv.Match(limit)
		if err != nil && !errors.Is(err, inventory.ErrNoMatch) {
			return "", nil, fmt.Errorf("--limit: %w", err)
		}
		keep = map[string]bool{}
		for _, h := range hosts {
			keep[h.Name] = true
		}
	}
	var names []string
	for _, n := range rec.names() {
		if _, ok := inv.Host(n); ok && (keep == nil || keep[n]) {
			names = append(names, n)
		}
	}
	return strings.Join(names, ","), slices.Clip(names), nil
}
