package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/gpuctl/gpuctl/engine"
	"github.com/gpuctl/gpuctl/inventory"
)

// retryState is what a run needs to re-run failed hosts: Ansible's retry
// file (when enabled) and gpuctl's own record behind --retry-failed.
type retryState struct {
	failedOnly bool   // --retry-failed
	bundled    bool   // the playbook is a bundled one, not a file
	recordPath string // gpuctl's failed-hosts record
	nothing    bool   // --retry-failed found no host to run
}

// completeRetry expands @FILE in --limit and, for --retry-failed, narrows
// the limit to the hosts recorded as failed. Both happen before any host
// is contacted.
func (o *runOptions) completeRetry() error {
	limit, err := inventory.ExpandLimitFiles(o.limit)
	if err != nil {
		return &ExitError{Code: 1, Err: fmt.Errorf("--limit: %w", err)}
	}
	o.limit = limit
	o.retry.recordPath, err = failedRecordPath(o.playbookKey(), o.inventoryKey())
	if !o.retry.failedOnly {
		return nil // without a state directory, recordRun only warns
	}
	if err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	rec, err := loadFailedRecord(o.retry.recordPath)
	if err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	if rec == nil { // no run of it has failed yet
		rec = &failedRecord{}
	}
	limit, names, err := retryLimit(rec, o.inv, o.limit)
	if err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	if len(names) == 0 {
		scope := "this inventory"
		if o.limit != "" {
			scope += " and --limit"
		}
		fmt.Fprintf(o.io.Err, "--retry-failed: no host of %s is recorded as failed in runs of %s (%s); nothing to run\n",
			scope, o.playbook, o.retry.recordPath)
		o.retry.nothing = true
		return nil
	}
	fmt.Fprintf(o.io.Err, "--retry-failed: running %d host(s) that failed last time: %s\n", len(names), rec.describe(names))
	o.limit = limit
	return nil
}

// recordRun keeps the failed-hosts record (not for --check, which changes
// nothing and so fixes nothing), writes Ansible's retry file when enabled,
// and says how to re-run the failed hosts.
func (o *runOptions) recordRun(recap *engine.Recap, runErr error) {
	var failed []string
	for _, n := range recap.Order {
		if c := recap.Hosts[n]; c.Failed > 0 || c.Unreachable > 0 {
			failed = append(failed, n)
		}
	}
	hint := o.io.Out
	if o.outputFormat == "json" {
		hint = o.io.Err // stdout is the JSON event stream
	}
	if !o.check {
		o.updateRecord(recap, runErr, len(failed), hint)
	}
	if len(failed) == 0 {
		return
	}
	pbDir := ""
	if !o.retry.bundled {
		pbDir = filepath.Dir(o.playbook)
	}
	if cfg := loadRetryFileConfig(pbDir); cfg.enabled {
		p := cfg.path(o.playbook, o.retry.bundled)
		if err := writeRetryFile(p, failed); err != nil {
			fmt.Fprintf(o.io.Err, "[WARNING]: Could not create retry file '%s': %v\n", p, err)
		} else {
			fmt.Fprintf(hint, "\tto retry, use: --limit @%s\n", p)
		}
	}
}

func (o *runOptions) updateRecord(recap *engine.Recap, runErr error, nfailed int, hint io.Writer) {
	if o.retry.recordPath == "" {
		fmt.Fprintln(o.io.Err, "[WARNING]: no state directory (neither XDG_STATE_HOME nor HOME): --retry-failed will not know this run's failed hosts")
		return
	}
	rec, err := loadFailedRecord(o.retry.recordPath)
	if err == nil && rec == nil && nfailed == 0 {
		return // nothing to remember: a run that never failed leaves no file
	}
	if err != nil || rec == nil {
		rec = &failedRecord{} // a broken record is replaced, not fatal
	}
	rec.Playbook, rec.Inventory = o.playbookKey(), o.inventoryKey()
	rec.update(recap, runErr, time.Now().UTC())
	if err := rec.save(o.retry.recordPath); err != nil {
		fmt.Fprintf(o.io.Err, "[WARNING]: could not record the failed hosts for --retry-failed: %v\n", err)
		return
	}
	if nfailed > 0 {
		fmt.Fprintf(hint, "to re-run only the %d host(s) that failed or were unreachable: add --retry-failed to this command\n", nfailed)
	}
}

// playbookKey names the playbook in the record: its absolute path, or
// bundled:NAME.
func (o *runOptions) playbookKey() string {
	if o.retry.bundled {
		return "bundled:" + o.playbook
	}
	if abs, err := filepath.Abs(o.playbook); err == nil {
		return abs
	}
	return o.playbook
}

// inventoryKey lists the -i sources, files and directories as absolute paths.
func (o *runOptions) inventoryKey() []string {
	out := make([]string, len(o.invFlags.sources))
	for i, s := range o.invFlags.sources {
		out[i] = s
		if _, err := os.Stat(s); err == nil {
			if abs, err := filepath.Abs(s); err == nil {
				out[i] = abs
			}
		}
	}
	return out
}
