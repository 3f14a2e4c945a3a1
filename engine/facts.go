package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
)

// baseFactsScript reads everything the base facts need in one round trip.
const baseFactsScript = `
echo "hostname=$(hostname 2>/dev/null || cat /etc/hostname)"
echo "fqdn=$(hostname -f 2>/dev/null)"
echo "kernel=$(uname -r)"
echo "arch=$(uname -m)"
echo "user=$(id -un)"
echo "uid=$(id -u)"
echo "nproc=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)"
awk '/^MemTotal:/{print "memtotal_kb="$2} /^SwapTotal:/{print "swaptotal_kb="$2}' /proc/meminfo
[ -d /run/systemd/system ] && echo "init=systemd" || echo "init=other"
[ -f /sys/fs/cgroup/cgroup.controllers ] && echo "cgroup=v2" || echo "cgroup=v1"
if [ -r /etc/os-release ]; then sed -n 's/^\(ID\|ID_LIKE\|VERSION_ID\|VERSION_CODENAME\|PRETTY_NAME\)=/os_\1=/p' /etc/os-release; fi
`

// gatherFacts collects the base facts and every registered gatherer's.
// Facts are named as Ansible names them where Ansible has a name, so
// playbooks keep working (ansible_distribution, ansible_kernel, ...).
func gatherFacts(ctx context.Context, c conn.Conn, log *slog.Logger) (modules.Facts, error) {
	out, err := conn.Output(ctx, c, baseFactsScript)
	if err != nil {
		return nil, fmt.Errorf("gathering facts: %w", err)
	}
	kv := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			kv[k] = strings.Trim(v, `"'`)
		}
	}
	f := modules.Facts{
		"ansible_hostname":             kv["hostname"],
		"ansible_fqdn":                 kv["fqdn"],
		"ansible_kernel":               kv["kernel"],
		"ansible_architecture":         kv["arch"],
		"ansible_user_id":              kv["user"],
		"ansible_distribution":         distroName(kv["os_ID"]),
		"ansible_distribution_version": kv["os_VERSION_ID"],
		"ansible_distribution_release": kv["os_VERSION_CODENAME"],
		"ansible_os_family":            osFamily(kv["os_ID"], kv["os_ID_LIKE"]),
		"ansible_service_mgr":          kv["init"],
		"os_id":                        kv["os_ID"],
		"os_pretty_name":               kv["os_PRETTY_NAME"],
		"cgroup_version":               kv["cgroup"],
	}
	if n, err := strconv.Atoi(kv["nproc"]); err == nil {
		f["ansible_processor_vcpus"] = n
	}
	if n, err := strconv.Atoi(kv["memtotal_kb"]); err == nil {
		f["ansible_memtotal_mb"] = n / 1024
	}
	if n, err := strconv.Atoi(kv["swaptotal_kb"]); err == nil {
		f["ansible_swaptotal_mb"] = n / 1024
	}
	for _, g := range modules.FactGatherers() {
		extra, err := g.Gather(ctx, c)
		if err != nil {
			if errors.Is(err, conn.ErrConnLost) || errors.Is(err, context.Canceled) {
				return nil, fmt.Errorf("gathering %s facts: %w", g.Name, err)
			}
			// One family failing (no nvidia-smi, no containerd) must not stop
			// the run; the modules that need it report the cause.
			log.Warn("fact gathering failed", "gatherer", g.Name, "err", err)
			continue
		}
		for k, v := range extra {
			f[k] = v
		}
	}
	return f, nil
}

func distroName(id string) string {
	switch id {
	case "ubuntu":
		return "Ubuntu"
	case "debian":
		return "Debian"
	case "":
		return ""
	}
	return strings.ToUpper(id[:1]) + id[1:]
}

func osFamily(id, like string) string {
	if id == "debian" || id == "ubuntu" || strings.Contains(like, "debian") {
		return "Debian"
	}
	if strings.Contains(like, "rhel") || strings.Contains(like, "fedora") {
		return "RedHat"
	}
	return distroName(id)
}
