package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// retryPlaybook fails on host b until -e fixed=true; every host appends a
// line to ran-HOST, so a test can count which hosts each run touched.
func retryPlaybook(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("XDG_STATE_HOME", filepath.Join(dir, "state"))
	t.Setenv("ANSIBLE_CONFIG", filepath.Join(dir, "none.cfg")) // not this machine's
	os.WriteFile(filepath.Join(dir, "hosts.yaml"), []byte(`all:
  vars: {ansible_connection: local}
  hosts: {a: {}, b: {}, c: {}}
`), 0o644)
	os.WriteFile(filepath.Join(dir, "site.yml"), []byte(`
- hosts: all
  gather_facts: false
  tasks:
    - shell: echo run >> ran-{{ inventory_hostname }}
    - name: breaks on b
      fail: {msg: boom}
      when: inventory_hostname == 'b' and not (fixed | default(false) | bool)
`), 0o644)
	return dir
}

func runs(t *testing.T, dir string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, h := range []string{"a", "b", "c"} {
		b, _ := os.ReadFile(filepath.Join(dir, "ran-"+h))
		out[h] = strings.Count(string(b), "run")
	}
	return out
}

func TestRetryFailedRunsOnlyFailedHosts(t *testing.T) {
	dir := retryPlaybook(t)
	out, stderr, code := gpuctl(t, dir, "run", "site.yml", "-i", "hosts.yaml")
	if code != 1 || !strings.Contains(out, "add --retry-failed") {
		t.Fatalf("first run: code %d\n%s%s", code, out, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "site.retry")); err == nil {
		t.Error("a retry file was written though retry files are off by default")
	}
	// Still broken: only b runs, and it stays recorded.
	out, stderr, code = gpuctl(t, dir, "run", "site.yml", "-i", "hosts.yaml", "--retry-failed")
	if code != 1 || !strings.Contains(stderr, `running 1 host(s) that failed last time: b (failed at task "breaks on b")`) {
		t.Fatalf("retry while broken: code %d\n%s%s", code, out, stderr)
	}
	if got := runs(t, dir); got["a"] != 1 || got["b"] != 2 || got["c"] != 1 {
		t.Fatalf("runs %v: want a and c once, b twice", got)
	}
	// A --check run fixes nothing, so it leaves the record alone.
	if _, stderr, code = gpuctl(t, dir, "run", "site.yml", "-i", "hosts.yaml", "--retry-failed", "--check", "-e", "fixed=true"); code != 0 {
		t.Fatalf("check: code %d %s", code, stderr)
	}
	// Fixed: b runs and leaves the record.
	if out, stderr, code = gpuctl(t, dir, "run", "site.yml", "-i", "hosts.yaml", "--retry-failed", "-e", "fixed=true"); code != 0 {
		t.Fatalf("retry once fixed: code %d\n%s%s", code, out, stderr)
	}
	if got := runs(t, dir); got["a"] != 1 || got["b"] != 3 || got["c"] != 1 {
		t.Fatalf("runs %v: want a and c once, b three times", got)
	}
	out, stderr, code = gpuctl(t, dir, "run", "site.yml", "-i", "hosts.yaml", "--retry-failed")
	if code != 0 || !strings.Contains(stderr, "nothing to run") {
		t.Fatalf("retry with nothing failed: code %d\n%s%s", code, out, stderr)
	}
	if got := runs(t, dir); got["b"] != 3 {
		t.Fatalf("runs %v after a retry with nothing to run", got)
	}
}

// A host leaves the record only when it runs without failing, whichever
// run that is; --limit narrows --retry-failed further.
func TestRetryFailedKeepsHostsUntilTheySucceed(t *testing.T) {
	dir := retryPlaybook(t)
	os.WriteFile(filepath.Join(dir, "site.yml"), []byte(`
- hosts: all
  gather_facts: false
  tasks:
    - shell: echo run >> ran-{{ inventory_hostname }}
    - fail: {msg: boom}
      when: inventory_hostname in (broken | default('b c'))
`), 0o644)
	if out, _, code := gpuctl(t, dir, "run", "site.yml", "-i", "hosts.yaml"); code != 1 || !strings.Contains(out, "re-run only the 2 host(s) that failed") {
		t.Fatalf("first run: code %d\n%s", code, out)
	}
	// A run limited to a, which succeeds, keeps b and c recorded.
	if out, stderr, code := gpuctl(t, dir, "run", "site.yml", "-i", "hosts.yaml", "-l", "a"); code != 0 {
		t.Fatalf("run on a: code %d\n%s%s", code, out, stderr)
	}
	if _, stderr, code := gpuctl(t, dir, "run", "site.yml", "-i", "hosts.yaml", "--retry-failed", "-l", "c", "-e", "broken=b"); code != 0 || !strings.Contains(stderr, "running 1 host(s)") {
		t.Fatalf("retry limited to c: code %d %s", code, stderr)
	}
	if got := runs(t, dir); got["a"] != 2 || got["b"] != 1 || got["c"] != 2 {
		t.Fatalf("runs %v", got)
	}
	_, stderr, code := gpuctl(t, dir, "run", "site.yml", "-i", "hosts.yaml", "--retry-failed", "-e", "broken=b")
	if code != 1 || !strings.Contains(stderr, "running 1 host(s) that failed last time: b") {
		t.Fatalf("retry: code %d %s", code, stderr)
	}
}

// With no failure recorded, --retry-failed contacts no host and exits 0.
func TestRetryFailedWithoutRecord(t *testing.T) {
	dir := retryPlaybook(t)
	_, stderr, code := gpuctl(t, dir, "run", "site.yml", "-i", "hosts.yaml", "--retry-failed")
	if code != 0 || !strings.Contains(stderr, "nothing to run") {
		t.Fatalf("code %d %s", code, stderr)
	}
	if got := runs(t, dir); got["a"]+got["b"]+got["c"] != 0 {
		t.Fatalf("hosts ran: %v", got)
	}
	// A run without failures leaves no record behind.
	if _, _, code := gpuctl(t, dir, "run", "site.yml", "-i", "hosts.yaml", "-e", "fixed=true"); code != 0 {
		t.Fatalf("run: code %d", code)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "state", "gpuctl", "failed", "*")); len(m) != 0 {
		t.Errorf("a run without failures wrote %v", m)
	}
}

// Ansible's habit: retry_files_enabled writes NAME.retry beside the
// playbook (or in retry_files_save_path), and --limit @FILE reads it.
func TestAnsibleRetryFile(t *testing.T) {
	dir := retryPlaybook(t)
	save := filepath.Join(dir, "retries")
	os.WriteFile(filepath.Join(dir, "ansible.cfg"), []byte("[defaults]\nretry_files_enabled = True ; as Ansible writes it\nretry_files_save_path = retries\n"), 0o644)
	t.Setenv("ANSIBLE_CONFIG", filepath.Join(dir, "ansible.cfg"))
	out, stderr, code := gpuctl(t, dir, "run", "site.yml", "-i", "hosts.yaml")
	retry := filepath.Join(save, "site.retry")
	if code != 1 || !strings.Contains(out, "to retry, use: --limit @"+retry) {
		t.Fatalf("code %d\n%s%s", code, out, stderr)
	}
	if b, err := os.ReadFile(retry); err != nil || string(b) != "b\n" {
		t.Fatalf("retry file %q, %v", b, err)
	}
	if _, stderr, code = gpuctl(t, dir, "run", "site.yml", "-i", "hosts.yaml", "--limit", "@"+retry, "-e", "fixed=true"); code != 0 {
		t.Fatalf("--limit @file: code %d %s", code, stderr)
	}
	if got := runs(t, dir); got["a"] != 1 || got["b"] != 2 || got["c"] != 1 {
		t.Fatalf("runs %v", got)
	}
	// The environment wins over ansible.cfg, and without a save path the
	// file goes beside the playbook.
	t.Setenv("ANSIBLE_RETRY_FILES_SAVE_PATH", "")
	os.WriteFile(filepath.Join(dir, "ansible.cfg"), []byte("[defaults]\nretry_files_enabled = yes\n"), 0o644)
	t.Setenv("ANSIBLE_RETRY_FILES_ENABLED", "false")
	if gpuctl(t, dir, "run", "site.yml", "-i", "hosts.yaml"); fileExists(filepath.Join(dir, "site.retry")) {
		t.Fatal("ANSIBLE_RETRY_FILES_ENABLED=false did not turn retry files off")
	}
	t.Setenv("ANSIBLE_RETRY_FILES_ENABLED", "1")
	gpuctl(t, dir, "run", "site.yml", "-i", "hosts.yaml")
	if b, err := os.ReadFile(filepath.Join(dir, "site.retry")); err != nil || string(b) != "b\n" {
		t.Fatalf("retry file beside the playbook: %q, %v", b, err)
	}
	_, stderr, code = gpuctl(t, dir, "run", "site.yml", "-i", "hosts.yaml", "--limit", "@missing.retry")
	if code != 1 || !strings.Contains(stderr, "missing.retry") {
		t.Fatalf("missing limit file: code %d %s", code, stderr)
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }
