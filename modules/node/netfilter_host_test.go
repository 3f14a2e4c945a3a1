package node

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/internal/ansibletest"
	"github.com/gpuctl/gpuctl/internal/testhosts"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// netfilterHosts starts n test hosts with their own network namespace (a
// firewall rule there cannot reach this machine's) and installs iptables,
// ufw and python3 (for the Ansible side) in them. Private hosts have no
// route to the mirror, so the packages the image lacks are fetched here with
// apt-get download (cached between runs) and copied in; dpkg -i goes round
// until python3's pre-dependencies are configured.
func netfilterHosts(t *testing.T, n int) []*moduletest.Remote {
	t.Helper()
	hs := moduletest.Start(t, n, testhosts.PrivateNetwork())
	sim := hs[0].Run(t, "apt-get install -s --no-install-recommends iptables ufw python3 | awk '/^Inst /{print $2}'")
	debs := netfilterDebs(t, strings.Fields(sim))
	var wg sync.WaitGroup
	for _, h := range hs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			if _, err := conn.Output(ctx, h.C, "mkdir -p /root/debs"); err != nil {
				t.Error(err)
				return
			}
			for _, p := range debs {
				data, err := os.ReadFile(p)
				if err != nil {
					t.Error(err)
					return
				}
				if err := h.C.WriteFile(ctx, "/root/debs/"+filepath.Base(p), data, conn.FileAttrs{Mode: 0o644}); err != nil {
					t.Errorf("copy %s: %v", p, err)
					return
				}
			}
			out, err := conn.Output(ctx, h.C, "export DEBIAN_FRONTEND=noninteractive; for i in 1 2 3; do dpkg -i /root/debs/*.deb >/root/dpkg.log 2>&1 && exit 0; done; tail -20 /root/dpkg.log; exit 1")
			if err != nil {
				t.Errorf("%s: dpkg -i: %v\n%s", h.Name(), err, out)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return hs
}

// netfilterDebs downloads the named packages from this machine's mirror
// into a cache directory, unless there already.
func netfilterDebs(t *testing.T, names []string) []string {
	t.Helper()
	dir := filepath.Join(os.TempDir(), "gpuctl-netfilter-debs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var missing, paths []string
	for _, n := range names {
		m, _ := filepath.Glob(filepath.Join(dir, n+"_*.deb"))
		if len(m) == 0 {
			missing = append(missing, n)
		}
		paths = append(paths, m...)
	}
	if len(missing) > 0 {
		cmd := exec.Command("apt-get", append([]string{"download", "-q"}, missing...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("apt-get download %v: %v\n%s", missing, err, out)
		}
		for _, n := range missing {
			m, _ := filepath.Glob(filepath.Join(dir, n+"_*.deb"))
			paths = append(paths, m...)
		}
	}
	return paths
}

func target(r *moduletest.Remote) ansibletest.Target {
	return ansibletest.Target{Addr: r.TH.Addr, Port: r.TH.Port, KeyFile: r.TH.KeyFile, KnownHostsFile: r.TH.KnownHostsFile}
}

// netfilterStep is one task run on both hosts.
type netfilterStep struct {
	args map[string]any
	fail bool // both tools fail the task
}

// runLikeAnsible runs each step on ours with gpuctl and on theirs with the
// Ansible module, in lockstep, and holds gpuctl to the module contract and
// to Ansible's changed flags: check mode (whose changed must match
// Ansible's check mode) leaves snap's proof as it was; the real run's
// changed matches Ansible's; a second run finds nothing (except where the
// module is Unverified, as Ansible reports those changed every time); the
// keys Ansible registers are there with the same values (those in same).
func runLikeAnsible(t *testing.T, ours, theirs *moduletest.Remote, name, fqcn string, snap func(*moduletest.Remote) string, same []string, steps []netfilterStep) {
	t.Helper()
	for i, st := range steps {
		label := fmt.Sprintf("step %d %v", i+1, st.args)
		before := snap(ours)
		d, err := ours.CheckOnly(t, name, st.args)
		if err != nil {
			t.Fatalf("%s: check mode: %v", label, err)
		}
		if after := snap(ours); after != before {
			t.Fatalf("%s: check mode changed the host:\n%s\n---\n%s", label, before, after)
		}
		ac := ansibletest.RunOn(t, target(theirs), fqcn, st.args, true)
		if !d.Empty() != (ac["changed"] == true) {
			t.Errorf("%s: check mode: gpuctl changed=%v, ansible %v:\n%s", label, !d.Empty(), ac["changed"], moduletest.Describe(d))
		}
		d, res, err := ours.Apply(t, name, st.args)
		a := ansibletest.RunOn(t, target(theirs), fqcn, st.args, false)
		if st.fail {
			if err == nil || a["failed"] != true {
				t.Fatalf("%s: want both to fail: gpuctl %v, ansible %v", label, err, a["msg"])
			}
			t.Logf("%s: both fail: gpuctl %v; ansible %v", label, err, a["msg"])
			continue
		}
		if err != nil || a["failed"] == true {
			t.Fatalf("%s: gpuctl %v, ansible %v", label, err, a["msg"])
		}
		if !d.Empty() != (a["changed"] == true) {
			t.Errorf("%s: gpuctl changed=%v, ansible %v:\n%s", label, !d.Empty(), a["changed"], moduletest.Describe(d))
		}
		t.Logf("%s: changed=%v\n%s", label, !d.Empty(), moduletest.Describe(d))
		for _, k := range same {
			if !ansibletest.Same(res[k], a[k]) {
				t.Errorf("%s: %s: gpuctl %v, ansible %v", label, k, res[k], a[k])
			}
		}
		if u, ok := moduletest.New(t, name, st.args).(modules.Unverified); ok && u.Unverified() {
			continue
		}
		ours.NoChange(t, name, st.args)
	}
}

var counters = regexp.MustCompile(`\[\d+:\d+\]`)

// ruleset is the host's iptables and ip6tables rules without the date
// comments and counters.
func ruleset(r *moduletest.Remote) string {
	out, err := conn.Output(context.Background(), r.C, "iptables-save; ip6tables-save")
	if err != nil {
		return "error: " + err.Error()
	}
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, "#") {
			keep = append(keep, counters.ReplaceAllString(l, ""))
		}
	}
	return strings.Join(keep, "\n")
}

// iptables on a private host against ansible.builtin.iptables on another:
// the same changed flags, in check mode and for real, step by step, and the
// same rules at the end.
func TestIptablesHost(t *testing.T) {
	hs := netfilterHosts(t, 2)
	ours, theirs := hs[0], hs[1]
	ssh := map[string]any{"chain": "INPUT", "protocol": "tcp", "destination_port": "22", "ctstate": []any{"NEW"}, "jump": "ACCEPT", "comment": "ssh from anywhere"}
	admins := map[string]any{"chain": "INPUT", "action": "insert", "rule_num": "1", "source": "10.88.0.0/24", "jump": "ACCEPT"}
	jump := map[string]any{"chain": "INPUT", "protocol": "udp", "jump": "GPUCTL-IN"}
	steps := []netfilterStep{
		{args: ssh},
		{args: ssh},
		{args: admins},
		{args: map[string]any{"chain": "GPUCTL-IN", "protocol": "udp", "jump": "RETURN"}, fail: true}, // no such chain, no chain_management
		{args: map[string]any{"chain": "GPUCTL-IN", "chain_management": true, "protocol": "udp", "destination_ports": []any{"53", 5353}, "jump": "RETURN"}},
		{args: jump},
		{args: map[string]any{"chain": "INPUT", "protocol": "tcp", "destination_port": "23", "log_prefix": "TELNET ", "log_level": "warning"}},
		{args: map[string]any{"chain": "INPUT", "protocol": "tcp", "syn": "match", "limit": "10/second", "limit_burst": "20", "jump": "ACCEPT", "destination_port": "80"}},
		{args: map[string]any{"chain": "INPUT", "protocol": "tcp", "destination_port": "25", "reject_with": "tcp-reset"}},
		{args: map[string]any{"chain": "OUTPUT", "protocol": "tcp", "destination_port": "25", "uid_owner": "!0", "jump": "DROP"}},
		{args: map[string]any{"chain": "INPUT", "match": "conntrack", "ctstate": "ESTABLISHED,RELATED", "jump": "ACCEPT", "wait": "2"}},
		{args: map[string]any{"chain": "FORWARD", "policy": "DROP"}},
		{args: map[string]any{"chain": "FORWARD", "policy": "DROP"}},
		{args: map[string]any{"chain": "INPUT", "ip_version": "ipv6", "protocol": "ipv6-icmp", "icmp_type": "echo-request", "jump": "ACCEPT"}},
		{args: map[string]any{"table": "nat", "chain": "POSTROUTING", "source": "10.88.0.0/24", "out_interface": "host0", "jump": "MASQUERADE"}},
		{args: withState(admins, "absent")},
		{args: withState(admins, "absent")},
		{args: map[string]any{"chain": "GPUCTL-IN", "flush": true}},
		{args: withState(jump, "absent")},
		{args: map[string]any{"chain": "GPUCTL-IN", "state": "absent", "chain_management": true}},
		{args: map[string]any{"chain": "GPUCTL-IN", "state": "absent", "chain_management": true}},
		{args: map[string]any{"chain": "INPUT", "state": "absent"}}, // Ansible: changed, and nothing done
	}
	runLikeAnsible(t, ours, theirs, "iptables", "ansible.builtin.iptables", ruleset,
		[]string{"ip_version", "table", "chain", "flush", "rule", "state", "chain_management"}, steps)
	if o, a := ruleset(ours), ruleset(theirs); o != a {
		t.Errorf("rules differ:\ngpuctl:\n%s\nansible:\n%s", o, a)
	} else {
		t.Logf("the same rules on both hosts:\n%s", o)
	}
}

func withState(args map[string]any, state string) map[string]any {
	out := map[string]any{"state": state}
	for k, v := range args {
		if k != "state" {
			out[k] = v
		}
	}
	return out
}

// ufwView is what ufw shows and keeps: its status, its rules and
// configuration files, and the rules in the kernel.
func ufwView(r *moduletest.Remote) string {
	out, err := conn.Output(context.Background(), r.C, "ufw status verbose; sha256sum /etc/ufw/*.rules /etc/ufw/ufw.conf /etc/default/ufw")
	if err != nil {
		return "error: " + err.Error()
	}
	return out + "\n" + ruleset(r)
}

// ufw on a private host against community.general.ufw on another.
func TestUFWHost(t *testing.T) {
	hs := netfilterHosts(t, 2)
	ours, theirs := hs[0], hs[1]
	ssh := map[string]any{"rule": "allow", "port": "22", "proto": "tcp"} // before enabling: the test reaches the host over SSH
	web := map[string]any{"rule": "allow", "from": "10.88.0.0/24", "to_port": 8080, "proto": "tcp", "comment": "web admins"}
	steps := []netfilterStep{
		{args: ssh},
		{args: ssh},
		{args: map[string]any{"state": "enabled", "policy": "deny"}},
		{args: map[string]any{"state": "enabled"}},
		{args: map[string]any{"logging": "medium"}},
		{args: map[string]any{"logging": "on"}},
		{args: web},
		{args: web},
		{args: map[string]any{"rule": "allow", "from": "10.88.0.0/24", "to_port": 8080, "proto": "tcp", "comment": "web admins, renamed"}},
		{args: map[string]any{"rule": "deny", "port": "23", "proto": "tcp", "direction": "in", "interface": "host0", "log": true}},
		{args: map[string]any{"rule": "limit", "port": "2222", "proto": "tcp"}},
		{args: map[string]any{"rule": "allow", "port": "53", "proto": "udp", "insert": 1}},
		{args: map[string]any{"rule": "allow", "port": "53", "proto": "udp", "insert": 1}},
		{args: map[string]any{"rule": "allow", "route": true, "interface_in": "host0", "interface_out": "lo", "to_port": "80", "proto": "tcp"}},
		{args: map[string]any{"default": "reject", "direction": "outgoing"}},
		{args: map[string]any{"default": "reject", "direction": "outgoing"}},
		{args: map[string]any{"rule": "allow", "delete": true, "from": "10.88.0.0/24", "to_port": 8080, "proto": "tcp"}},
		{args: map[string]any{"rule": "allow", "delete": true, "from": "10.88.0.0/24", "to_port": 8080, "proto": "tcp"}},
		{args: map[string]any{"rule": "allow", "port": "9", "proto": "udp", "insert": 0, "insert_relative_to": "first-ipv6"}},
		{args: map[string]any{"logging": "off"}},
		{args: map[string]any{"state": "reloaded"}},
	}
	runLikeAnsible(t, ours, theirs, "ufw", "community.general.ufw", ufwView, nil, steps)
	o, a := ufwView(ours), ufwView(theirs)
	if o != a {
		t.Errorf("ufw differs:\ngpuctl:\n%s\nansible:\n%s", o, a)
	} else {
		t.Logf("the same ufw status, files and kernel rules on both hosts:\n%s", ours.Run(t, "ufw status verbose"))
	}
	res := ours.NoChange(t, "ufw", map[string]any{"state": "enabled"})
	if msg, _ := res["msg"].(string); !strings.HasPrefix(msg, "Status: active") || !slices.ContainsFunc(res["commands"].([]string), func(c string) bool { return strings.HasSuffix(c, "ufw status verbose") }) {
		t.Errorf("result: %v", res)
	}
}
