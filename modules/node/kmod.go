package node

import (
	"context"
	"fmt"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
)

// loadedModules answers "is this kernel module loaded?" from files read
// over the connection's file channel (SFTP), so checking a node's modules
// starts no process: /proc/modules, /sys/module, the kernel's
// modules.builtin, and for modules that may be built in without a trace
// there, the feature they provide. Each file is read once per Check.
type loadedModules struct {
	c                    conn.Conn
	procModules, builtin string
	filesystems          string
	read                 bool
}

func (l *loadedModules) load(ctx context.Context) error {
	if l.read {
		return nil
	}
	mods, _, err := readFile(ctx, l.c, "/proc/modules")
	if err != nil {
		return err
	}
	release, _, err := readFile(ctx, l.c, "/proc/sys/kernel/osrelease")
	if err != nil {
		return err
	}
	builtin, _, err := readFile(ctx, l.c, "/lib/modules/"+strings.TrimSpace(string(release))+"/modules.builtin")
	if err != nil {
		return err
	}
	fss, _, err := readFile(ctx, l.c, "/proc/filesystems")
	if err != nil {
		return err
	}
	l.procModules, l.builtin, l.filesystems, l.read = "\n"+string(mods), string(builtin), string(fss), true
	return nil
}

// loaded reports whether module m is loaded or built into the kernel.
func (l *loadedModules) loaded(ctx context.Context, m string) (bool, error) {
	if err := l.load(ctx); err != nil {
		return false, fmt.Errorf("module %s: %w", m, err)
	}
	if strings.Contains(l.procModules, "\n"+m+" ") || strings.Contains(l.builtin, "/"+m+".ko") {
		return true, nil
	}
	if ok, err := exists(ctx, l.c, "/sys/module/"+m); ok || err != nil {
		return ok, err
	}
	switch m {
	case "br_netfilter":
		return exists(ctx, l.c, "/proc/sys/net/bridge/bridge-nf-call-iptables")
	case "overlay":
		for _, line := range strings.Split(l.filesystems, "\n") {
			if f := strings.Fields(line); len(f) > 0 && f[len(f)-1] == "overlay" {
				return true, nil
			}
		}
	}
	return false, nil
}
