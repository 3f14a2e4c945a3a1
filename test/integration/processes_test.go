package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/conn/ssh"
	"github.com/gpuctl/gpuctl/internal/testhosts"
)

// fileTasks are the generic file tasks of issue 17, each of which must be
// checked over the SFTP session alone. {{ base }} keeps the runs of the
// different logins apart on one host.
const fileTasks = `
- hosts: all
  gather_facts: false
  tasks:
    - file: {path: "{{ base }}/d", state: directory, mode: "0755"}
    - file: {path: "{{ base }}/d/sub/deeper", state: directory, owner: root, group: root}
    - copy: {dest: "{{ base }}/d/app.conf", content: "name=app\nport=80\nmode=prod\n", mode: "0640", owner: root, force: false}
    - copy: {dest: "{{ base }}/d/whole.conf", content: "whole\n", mode: "0644"}
    - copy: {dest: "{{ base }}/d/keep.conf", content: "first\n", force: false}
    - lineinfile: {path: "{{ base }}/d/app.conf", regexp: "^log=", line: "log=/var/log/app.log"}
    - replace: {path: "{{ base }}/d/app.conf", regexp: "^mode=prod$", replace: "mode=production"}
    - template: {src: t.j2, dest: "{{ base }}/d/t.conf", mode: "0600"}
    - file: {path: "{{ base }}/link", state: link, src: d/app.conf}
    - file: {path: "{{ base }}/d/app.conf", state: file, mode: "0640"}
    - file: {path: "{{ base }}/gone", state: absent}
    - command: {cmd: "touch {{ base }}/d/.init", creates: "{{ base }}/d/.init"}
    - command: {cmd: "rm -f {{ base }}/none", removes: "{{ base }}/none"}
    - shell: {cmd: "echo x > {{ base }}/d/s.out", creates: "{{ base }}/d/*.out"}
`

// login is one way of reaching the host: its user, and whether tasks run
// under become (sudo to root).
type login struct {
	user, password string
	become         bool
}

// TestFileTasksStartNoProcesses counts, on the host, the processes each run
// of fileTasks starts. The idempotent run and the check run must start none
// beyond what the connection itself costs: sshd's own processes and the SFTP
// server, plus, under become, one root SFTP server for the whole run.
func TestFileTasksStartNoProcesses(t *testing.T) {
	h := testhosts.Start(t, 1)[0]
	dir := t.TempDir()
	writeFile(t, dir, "pb.yaml", fileTasks)
	writeFile(t, dir, "t.j2", "host={{ inventory_hostname }}\n")

	rootBase := baseline(t, h, login{user: testhosts.UserRoot})
	for _, l := range []login{
		{user: testhosts.UserRoot},
		{user: testhosts.UserDeploy, become: true},
		{user: testhosts.UserAlice, password: testhosts.AlicePassword, become: true},
	} {
		t.Run(l.user, func(t *testing.T) {
			base := baseline(t, h, l)
			// One root helper per run at most: sudo and the server it starts.
			if extra := base - rootBase; extra > 3 {
				t.Errorf("becoming root costs %d processes per run, want at most 3", extra)
			}
			vars := map[string]string{"base": "/opt/procs-" + l.user}
			if l.user != testhosts.UserRoot {
				vars["ansible_user"] = l.user
			}
			if l.become {
				vars["ansible_become"] = "true"
			}
			if l.password != "" {
				vars["ansible_become_password"] = l.password
			}
			inv := inventory(t, dir, []testhosts.Host{h}, map[string]map[string]string{h.Name: vars})
			counts := map[string]int{}
			for _, phase := range []struct {
				name string
				args []string
				code int
			}{
				{"converge", nil, 2},
				{"idempotent", nil, 0},
				{"check", []string{"--check"}, 0},
			} {
				var r result
				counts[phase.name] = h.Processes(t, func() {
					r = gpuctl(t, nil, dir, append([]string{"run", "pb.yaml", "-i", inv, "--detailed-exitcode"}, phase.args...)...)
				})
				if r.code != phase.code {
					t.Fatalf("%s: want exit %d\n%s", phase.name, phase.code, r)
				}
			}
			tasks := strings.Count(fileTasks, "\n    - ")
			t.Logf("%s: %d tasks; processes on the host: connection %d, converge %d, idempotent %d, check %d",
				l.user, tasks, base, counts["converge"], counts["idempotent"], counts["check"])
			for _, phase := range []string{"idempotent", "check"} {
				if n := counts[phase] - base; n != 0 {
					t.Errorf("%s run started %d processes beyond the connection's %d (%.2f per task), want 0",
						phase, n, base, float64(n)/float64(tasks))
				}
			}
		})
	}
}

// baseline is what reaching the host costs in processes, without any task:
// an SSH login and its SFTP session, and under become, sudo's one file
// server for the connection (started by the first file read, kept for the
// second).
func baseline(t *testing.T, h testhosts.Host, l login) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := ssh.Config{
		Host: h.Addr, Port: h.Port, User: l.user, KeyFiles: []string{h.KeyFile}, NoAgent: true,
		KnownHostsFiles: []string{h.KnownHostsFile}, NoUserKnownHosts: true, ConnectTimeout: 10 * time.Second,
		HostLock:      true, // gpuctl run holds the host's lock for the connection (conn/ssh/hostlock.go)
		CommandServer: true, // and runs commands through its holder (conn/ssh/cmdserver.go)
	}
	// The first connection since boot also makes the lock's directory
	// (mkdir, once: /run is a tmpfs); count a connection as every later one
	// costs, as the runs measured against this baseline are not the first.
	warm, err := ssh.Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	warm.Close()
	return h.Processes(t, func() {
		c, err := ssh.Dial(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.ReadFile(ctx, "/etc/passwd"); err != nil {
			t.Fatal(fmt.Errorf("baseline read: %w", err))
		}
		var cc conn.Conn = c
		if l.become {
			cc = conn.Become(c, conn.BecomeOptions{Password: l.password})
		}
		for _, p := range []string{"/etc/hostname", "/etc/os-release"} {
			if _, err := cc.ReadFile(ctx, p); err != nil {
				t.Fatal(fmt.Errorf("baseline read: %w", err))
			}
		}
	})
}

// TestFactsOncePerHost: gathering facts costs one remote command per host
// and run, however many plays ask for them, and nothing the first play did
// not already pay. The processes counted are that command's and what it
// forks (a subshell and a tool per command fact); file facts are read over
// SFTP.
func TestFactsOncePerHost(t *testing.T) {
	h := testhosts.Start(t, 1)[0]
	dir := t.TempDir()
	inv := inventory(t, dir, []testhosts.Host{h}, nil)
	play := "- hosts: all\n  gather_facts: true\n  tasks:\n    - debug: {msg: \"{{ ansible_distribution }} {{ ansible_memtotal_mb }}\"}\n"
	writeFile(t, dir, "one.yaml", play)
	writeFile(t, dir, "three.yaml", play+play+play)
	base := baseline(t, h, login{user: testhosts.UserRoot})
	counts := map[string]int{}
	for _, pb := range []string{"one.yaml", "three.yaml"} {
		counts[pb] = h.Processes(t, func() {
			if r := gpuctl(t, nil, dir, "run", pb, "-i", inv); r.code != 0 {
				t.Fatalf("%s: %s", pb, r)
			}
		})
	}
	t.Logf("processes on the host: connection %d, facts %d (one command and what it forks)", base, counts["one.yaml"]-base)
	if counts["three.yaml"] != counts["one.yaml"] {
		t.Errorf("three plays gathering facts started %d processes, one play %d: facts must be gathered once per host",
			counts["three.yaml"], counts["one.yaml"])
	}
}

// TestNodeChecksStartNoProcesses: the kernel module's check reads
// /proc/modules, /sys/module, /proc/sys and its files under /etc over SFTP.
// (Loading modules and setting sysctls needs a VM; the check does not.)
func TestNodeChecksStartNoProcesses(t *testing.T) {
	h := testhosts.Start(t, 1)[0]
	dir := t.TempDir()
	inv := inventory(t, dir, []testhosts.Host{h}, nil)
	writeFile(t, dir, "pb.yaml", `
- hosts: all
  gather_facts: false
  tasks:
    - kernel: {modules: [overlay, br_netfilter], sysctls: {net.ipv4.ip_forward: "1", fs.inotify.max_user_watches: "524288"}}
`)
	base := baseline(t, h, login{user: testhosts.UserRoot})
	var r result
	n := h.Processes(t, func() { r = gpuctl(t, nil, dir, "run", "pb.yaml", "-i", inv, "--check") })
	if r.code != 0 {
		t.Fatalf("check: %s", r)
	}
	if n != base {
		t.Errorf("kernel check started %d processes beyond the connection's %d, want 0", n-base, base)
	}
}
