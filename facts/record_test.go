package facts_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/conn/local"
	"github.com/gpuctl/gpuctl/conn/ssh"
	"github.com/gpuctl/gpuctl/facts"
	"github.com/gpuctl/gpuctl/internal/testhosts"
)

// GPUCTL_FACTS_RECORD=1 go test ./facts -run TestRecord rewrites testdata:
// the base facts script's output on this machine and on a test host, and
// what Debian's ansible-core (`apt-get install ansible-core`) setup module
// returns on this machine. The environment is cut to keepEnv, so no secret of
// the recording machine lands in the tree.
const recordEnv = "GPUCTL_FACTS_RECORD"

var keepEnv = map[string]bool{"HOME": true, "PATH": true, "LANG": true, "SHELL": true, "USER": true, "LOGNAME": true, "PWD": true, "TERM": true, "SHLVL": true}

func TestRecordLocal(t *testing.T) {
	if os.Getenv(recordEnv) == "" {
		t.Skip("set " + recordEnv + "=1 to record")
	}
	dir := filepath.Join("testdata", "local-debian12")
	record(t, local.New(), dir)
	tree := t.TempDir()
	out, err := exec.Command("ansible", "localhost", "-c", "local", "-m", "setup", "--tree", tree).CombinedOutput()
	if err != nil {
		t.Fatalf("ansible setup: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(filepath.Join(tree, "localhost"))
	if err != nil {
		t.Fatal(err)
	}
	var res map[string]any
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatal(err)
	}
	af := res["ansible_facts"].(map[string]any)
	for k := range af {
		if strings.HasPrefix(k, "ansible_ssh_host_key") {
			delete(af, k)
		}
	}
	af["ansible_env"] = scrubEnv(af["ansible_env"].(map[string]any))
	b, _ := json.MarshalIndent(af, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "ansible-setup.json"), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRecordTestHost(t *testing.T) {
	if os.Getenv(recordEnv) == "" {
		t.Skip("set " + recordEnv + "=1 to record")
	}
	th := testhosts.Start(t, 1)[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := ssh.Dial(ctx, ssh.Config{
		Host: th.Addr, Port: th.Port, User: testhosts.UserRoot,
		KeyFiles: []string{th.KeyFile}, NoAgent: true,
		KnownHostsFiles: []string{th.KnownHostsFile}, NoUserKnownHosts: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Local facts of both kinds, as a role would leave them.
	th.Run(t, `mkdir -p /etc/ansible/facts.d && printf '{"role": "gpu", "n": 2}\n' > /etc/ansible/facts.d/node.fact &&
printf '[general]\nRack = r12\nslot: 4\n' > /etc/ansible/facts.d/place.fact &&
printf '#!/bin/sh\necho "{\\"exec\\": true}"\n' > /etc/ansible/facts.d/dyn.fact && chmod +x /etc/ansible/facts.d/dyn.fact`)
	record(t, c, filepath.Join("testdata", "testhost-debian12"))
	os.WriteFile(filepath.Join("testdata", "testhost-debian12", "hostname.txt"), []byte(th.Name+"\n"), 0o644)
}

// record runs the base facts script and stores its output, environment cut.
func record(t *testing.T, c conn.Conn, dir string) {
	t.Helper()
	r, err := c.Run(context.Background(), facts.Script(facts.Base...))
	if err != nil {
		t.Fatal(err)
	}
	secs := facts.Split(r.Stdout)
	env, _ := facts.ParseEnv([]byte(secs[facts.Env.Name]))
	var kept []string
	for k, v := range env {
		if keepEnv[k] {
			kept = append(kept, k+"="+v)
		}
	}
	var b strings.Builder
	for _, d := range facts.Base {
		b.WriteString("\n@@gpuctl-fact " + d.FactName() + "\n")
		if d.FactName() == facts.Env.Name {
			b.WriteString(strings.Join(kept, "\x00") + "\x00")
			continue
		}
		b.WriteString(secs[d.FactName()])
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "base.txt"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func scrubEnv(env map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range env {
		if keepEnv[k] {
			out[k] = v
		}
	}
	return out
}
