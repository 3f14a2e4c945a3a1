package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/conn/local"
	"github.com/gpuctl/gpuctl/engine"
	"github.com/gpuctl/gpuctl/inventory"
	"github.com/gpuctl/gpuctl/plan"
	"github.com/gpuctl/gpuctl/playbooks"
)

// renderer renders every diff it receives while other hosts keep running,
// as the text output does, so reads of the secret set race with additions.
type renderer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (r *renderer) Event(ev engine.Event) {
	var b bytes.Buffer
	if ev.Diff != nil {
		plan.WriteText(&b, *ev.Diff, nil, "  ", plan.Style{})
	}
	fmt.Fprintf(&b, "%s %s %s %s\n", ev.Host, ev.Task, ev.Status, ev.Msg)
	r.mu.Lock()
	r.buf.Write(b.Bytes())
	r.mu.Unlock()
}

// Many hosts run become tasks at once while results are rendered: every
// become password must be masked, and under -race nothing may race.
func TestSecretsMaskedWhileHostsRunConcurrently(t *testing.T) {
	const hosts = 24
	dir := t.TempDir()
	var inv strings.Builder
	inv.WriteString("all:\n  hosts:\n")
	for i := range hosts {
		fmt.Fprintf(&inv, "    h%02d: {ansible_connection: local, ansible_become_password: \"pw-secret-%02d\"}\n", i, i)
	}
	pb := `
- hosts: all
  gather_facts: false
  become: true
  tasks:
    - etest_file: {path: "` + dir + `/{{ inventory_hostname }}.a", content: "{{ ansible_become_password }}\n"}
    - etest_file: {path: "` + dir + `/{{ inventory_hostname }}.b", content: "b {{ ansible_become_password }}\n"}
    - etest_echo: {msg: "pw={{ ansible_become_password }}"}
    - etest_file: {path: "` + dir + `/{{ inventory_hostname }}.c", content: "c {{ ansible_become_password }}\n"}
`
	out := runInv(t, inv.String(), pb, engine.Options{Diff: true, Forks: hosts})
	for i := range hosts {
		if s := fmt.Sprintf("pw-secret-%02d", i); strings.Contains(out, s) {
			t.Fatalf("become password %s leaked:\n%s", s, out)
		}
	}
	if !strings.Contains(out, "+********") || !strings.Contains(out, "pw=********") {
		t.Fatalf("output lacks masked values:\n%s", out)
	}
}

// runInv runs a playbook against an inventory given as YAML, with a pass
// through become, and returns the rendered output.
func runInv(t *testing.T, invYAML, pbYAML string, opt engine.Options) string {
	t.Helper()
	dir := t.TempDir()
	pbPath := filepath.Join(dir, "pb.yaml")
	if err := os.WriteFile(pbPath, []byte(pbYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Parse("inv.yaml", []byte(invYAML))
	if err != nil {
		t.Fatal(err)
	}
	pb, err := (&playbooks.Loader{}).Load(pbPath)
	if err != nil {
		t.Fatal(err)
	}
	rep := &renderer{}
	opt.Reporter = rep
	opt.Local = local.New()
	opt.Become = func(c conn.Conn, user, password string) conn.Conn { return c }
	if _, err := engine.New(inv, opt).Run(context.Background(), pb); err != nil {
		t.Fatalf("run: %v\n%s", err, rep.buf.String())
	}
	return rep.buf.String()
}

// A private key a module returns (openssl_privatekey's return_content) is
// masked in all output after, as modules.SecretResults asks.
func TestReturnedPrivateKeyMasked(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("no openssl")
	}
	pb := `
- hosts: a
  gather_facts: false
  tasks:
    - community.crypto.openssl_privatekey: {path: DIR/key, type: Ed25519, return_content: true}
      register: k
    - debug: {msg: "{{ k.privatekey }}"}
`
	dir := t.TempDir()
	_, rec, err := runIn(t, dir, invLocal, pb, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := os.ReadFile(filepath.Join(dir, "key"))
	if !strings.Contains(string(key), "PRIVATE KEY") {
		t.Fatalf("key = %q", key)
	}
	for _, e := range rec.events {
		if strings.Contains(e.Msg, "PRIVATE KEY") || strings.Contains(fmt.Sprint(e.Item), "PRIVATE KEY") {
			t.Errorf("event shows the key: %s %q", e.Task, e.Msg)
		}
	}
}
