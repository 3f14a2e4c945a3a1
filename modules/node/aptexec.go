package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules/internal/apt"
)

// updateStamp is touched after every successful `apt-get update` gpuctl
// runs, so cache_valid_time works on Debian too, which has no
// update-success-stamp unless update-notifier is installed.
const updateStamp = "/var/lib/apt/gpuctl-update-stamp"

var aptEnv = apt.Env

// aptRunner is the shared apt runner (modules/internal/apt: lock wait,
// non-interactive environment) with node's update and cache bookkeeping.
type aptRunner struct {
	*apt.Runner
	c conn.Conn
}

func newAptRunner(c conn.Conn, log *slog.Logger, lockTimeout time.Duration) *aptRunner {
	return &aptRunner{Runner: apt.NewRunner(c, log, lockTimeout), c: c}
}

func (a *aptRunner) run(ctx context.Context, cmd string) (conn.Result, error) { return a.Run(ctx, cmd) }

func (a *aptRunner) must(ctx context.Context, cmd string) (string, error) { return a.Must(ctx, cmd) }

// update runs apt-get update and records when it succeeded.
func (a *aptRunner) update(ctx context.Context) error {
	r, err := a.run(ctx, "apt-get update -q")
	if err != nil {
		return fmt.Errorf("apt-get update: %w", err)
	}
	// apt-get update exits 0 even when a repository failed to download or
	// verify; those are the errors users need to see, with apt's reason.
	if bad := updateErrors(r.Stdout + "\n" + r.Stderr); bad != "" || r.ExitCode != 0 {
		if bad == "" {
			bad = (&conn.ExitError{Cmd: "apt-get update", Result: r}).Error()
		}
		return fmt.Errorf("apt-get update: %s", bad)
	}
	return sh(ctx, a.c, "touch "+updateStamp)
}

// updateErrors collects apt-get update's failures: "Err:" lines with the
// indented reason that follows them, and E:/W: lines about signatures or
// unreachable repositories.
func updateErrors(out string) string {
	var bad []string
	inErr := false
	for l := range strings.SplitSeq(out, "\n") {
		switch {
		case strings.HasPrefix(l, "Err:"):
			bad = append(bad, strings.TrimSpace(l))
			inErr = true
		case inErr && strings.HasPrefix(l, " "):
			bad[len(bad)-1] += ": " + strings.TrimSpace(l)
		case strings.HasPrefix(l, "E:"), strings.HasPrefix(l, "W:") && (strings.Contains(l, "GPG error") || strings.Contains(l, "Failed to fetch")):
			bad = append(bad, strings.TrimSpace(l))
			inErr = false
		default:
			inErr = false
		}
	}
	return strings.Join(bad, "; ")
}

// cacheAge returns how long ago the apt lists were last refreshed and
// whether a source file changed since; ok is false when never. age is only
// measured when it matters: not when ok is false or sourcesNewer is true,
// for which the caller refreshes whatever the age.
func cacheAge(ctx context.Context, c conn.Conn) (age time.Duration, sourcesNewer bool, ok bool, err error) {
	stamp, src, err := cacheTimesFromFiles(ctx, c)
	if err != nil {
		if !errors.Is(err, errUseCommand) && !errors.Is(err, conn.ErrNotSupported) {
			return 0, false, false, fmt.Errorf("apt cache age: %w", err)
		}
		return cacheAgeScript(ctx, c)
	}
	if stamp == 0 {
		return 0, true, false, nil
	}
	if src > stamp {
		return 0, true, true, nil
	}
	// The host's clock, not this machine's: the stamps are its times.
	out, err := output(ctx, c, "date +%s")
	if err != nil {
		return 0, false, false, fmt.Errorf("apt cache age: %w", err)
	}
	now, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if err != nil {
		return 0, false, false, fmt.Errorf("apt cache age: date printed %q", out)
	}
	return time.Duration(now-stamp) * time.Second, false, true, nil
}

// cacheAgeScript is cacheAge in one command, for connections without file
// operations and the cases cacheTimesFromFiles leaves to the shell.
func cacheAgeScript(ctx context.Context, c conn.Conn) (age time.Duration, sourcesNewer bool, ok bool, err error) {
	script := `s=0; for f in ` + updateStamp + ` /var/lib/apt/periodic/update-success-stamp; do
  [ -e "$f" ] && t=$(stat -c %Y "$f") && [ "$t" -gt "$s" ] && s=$t; done
n=0; for f in /etc/apt/sources.list /etc/apt/sources.list.d/* /etc/apt/keyrings/*; do
  [ -e "$f" ] && t=$(stat -c %Y "$f") && [ "$t" -gt "$n" ] && n=$t; done
echo "$s $n $(date +%s)"`
	out, err := output(ctx, c, script)
	if err != nil {
		return 0, false, false, fmt.Errorf("apt cache age: %w", err)
	}
	f := strings.Fields(out)
	if len(f) != 3 {
		return 0, false, false, fmt.Errorf("apt cache age: unexpected %q", out)
	}
	stamp, _ := strconv.ParseInt(f[0], 10, 64)
	src, _ := strconv.ParseInt(f[1], 10, 64)
	now, _ := strconv.ParseInt(f[2], 10, 64)
	if stamp == 0 {
		return 0, true, false, nil
	}
	return time.Duration(now-stamp) * time.Second, src > stamp, true, nil
}

// dpkgStatus is what dpkg knows of the named packages: from its status
// file over the connection's file operations where that gives
// dpkg-query's answer (dpkgQueryFromFile), else from dpkg-query.
func dpkgStatus(ctx context.Context, c conn.Conn, names []string) (map[string]pkgStatus, error) {
	if len(names) == 0 {
		return map[string]pkgStatus{}, nil
	}
	out, err := dpkgQueryFromFile(ctx, c, names)
	switch {
	case err == nil:
		return parseDpkgQuery(out), nil
	case !errors.Is(err, errUseCommand) && !errors.Is(err, conn.ErrNotSupported):
		return nil, fmt.Errorf("dpkg status: %w", err)
	}
	return dpkgQuery(ctx, c, names)
}

// dpkgQuery asks dpkg-query.
func dpkgQuery(ctx context.Context, c conn.Conn, names []string) (map[string]pkgStatus, error) {
	cmd := `dpkg-query -W -f='${Package}\t${Version}\t${db:Status-Abbrev}\n' ` + conn.Join(names...)
	r, err := c.Run(ctx, cmd, conn.Env(aptEnv))
	if err != nil {
		return nil, fmt.Errorf("dpkg-query: %w", err)
	}
	// Exit 1 only means some names are unknown to dpkg.
	if r.ExitCode > 1 {
		return nil, fmt.Errorf("dpkg-query: %w", &conn.ExitError{Cmd: cmd, Result: r})
	}
	return parseDpkgQuery(r.Stdout), nil
}
