package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/gpuctl/gpuctl/conn"
)

// bootIDPath holds the kernel's id of the running boot: a new id means the
// host rebooted. It is read over the connection's file channel, so learning
// it starts no process on the host.
const bootIDPath = "/proc/sys/kernel/random/boot_id"

// defaultLostProbe is how long gpuctl keeps dialling a host whose connection
// broke mid-task, to tell the user whether it rebooted. A reboot of a
// server or a test container takes 10–60 s to bring sshd back; a host that
// stays silent longer is reported as such. The probe runs beside the other
// hosts' tasks, so it delays only the lost host's own report.
const defaultLostProbe = 30 * time.Second

// lostProbeVar sets the probe's budget in seconds per host (0 turns it off).
const lostProbeVar = "gpuctl_lost_probe_timeout"

// recordBoot remembers the host's boot id at connect time, the reference
// explainLost compares with. A host that does not expose one (not Linux)
// simply gets no reboot verdict.
func (r *hostRun) recordBoot(ctx context.Context, c conn.Conn) {
	b, err := c.ReadFile(ctx, bootIDPath)
	if err == nil {
		r.bootID = strings.TrimSpace(string(b))
	}
}

// lostProbeBudget reads gpuctl_lost_probe_timeout from the task's vars.
func lostProbeBudget(vars map[string]any) (time.Duration, error) {
	v, ok := vars[lostProbeVar]
	if !ok || v == nil {
		return defaultLostProbe, nil
	}
	s := strings.TrimSpace(fmt.Sprint(v))
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s must be a number of seconds ≥ 0, got %q", lostProbeVar, s)
	}
	return time.Duration(n * float64(time.Second)), nil
}

// explainLost adds to a lost-connection error what became of the host:
// gpuctl dials it again (without the host lock: the probe changes nothing)
// until the budget runs out, and compares boot ids. "Connection lost" alone
// leaves the operator guessing between a reboot, a crashed sshd and a cut
// link, which call for different next steps.
func (e *Engine) explainLost(ctx context.Context, r *hostRun, vars map[string]any, lost error) error {
	if r.bootID == "" || e.opt.Connector == nil || r.probed {
		return lost
	}
	r.probed = true // a loop's later items reuse the verdict instead of waiting again
	budget, err := lostProbeBudget(vars)
	if err != nil {
		return fmt.Errorf("%w (%v)", lost, err)
	}
	if budget == 0 {
		return lost
	}
	verdict := e.probeBoot(ctx, r, budget)
	if verdict == "" {
		return lost
	}
	return fmt.Errorf("%w; %s", lost, verdict)
}

// probeBoot dials until the host answers or the budget is spent and says
// what it found.
func (e *Engine) probeBoot(ctx context.Context, r *hostRun, budget time.Duration) string {
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	vars := maps.Clone(r.dialVars)
	vars["gpuctl_host_lock"] = false
	var last error
	for {
		id, err := e.readBoot(ctx, r, vars)
		switch {
		case err == nil && id != r.bootID:
			return fmt.Sprintf("the host rebooted during the task (boot id %s → %s): what the task started died with it; re-run to converge", short(r.bootID), short(id))
		case err == nil:
			return fmt.Sprintf("the host is up on the same boot (boot id %s): not a reboot; its sshd or the network dropped the connection", short(id))
		}
		last = err
		select {
		case <-ctx.Done():
			if errors.Is(context.Cause(ctx), context.Canceled) && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return ""
			}
			return fmt.Sprintf("the host did not answer for %s after the connection broke (last: %v): down, rebooting slowly, or cut off", budget, last)
		case <-time.After(time.Second):
		}
	}
}

// readBoot dials once and reads the boot id.
func (e *Engine) readBoot(ctx context.Context, r *hostRun, vars map[string]any) (string, error) {
	c, err := e.opt.Connector.Connect(ctx, r.inv, vars)
	if err != nil {
		return "", err
	}
	defer c.Close()
	b, err := c.ReadFile(ctx, bootIDPath)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// short keeps boot ids readable in one line.
func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
