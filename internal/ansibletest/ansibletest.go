// Package ansibletest runs ansible-core's modules for tests that compare gpuctl with them.
package ansibletest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Run runs one task of ansible-core's module on this machine
// (`ansible localhost -c local`) and returns what the task registers, so a
// test can compare gpuctl's module with the real one on the same files.
// check runs it with --check --diff. Without ansible the test is skipped,
// or fails under GPUCTL_TEST_HOSTS=require, as host tests do.
func Run(t *testing.T, module string, args map[string]any, check bool) map[string]any {
	t.Helper()
	return run(t, []string{"-i", "localhost,", "-c", "local"}, "localhost", module, args, check)
}

// Target is a test host that ansible reaches over SSH as root.
type Target struct {
	Addr, KeyFile, KnownHostsFile string
	Port                          int
}

// RunOn is Run against a test host; the host needs python3.
func RunOn(t *testing.T, h Target, module string, args map[string]any, check bool) map[string]any {
	t.Helper()
	inv := fmt.Sprintf("%s ansible_port=%d ansible_user=root ansible_ssh_private_key_file=%s ansible_python_interpreter=/usr/bin/python3 "+
		"ansible_ssh_common_args='-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes'\n", h.Addr, h.Port, h.KeyFile, h.KnownHostsFile)
	p := filepath.Join(t.TempDir(), "inventory")
	if err := os.WriteFile(p, []byte(inv), 0o600); err != nil {
		t.Fatal(err)
	}
	return run(t, []string{"-i", p}, h.Addr, module, args, check)
}

func run(t *testing.T, target []string, host, module string, args map[string]any, check bool) map[string]any {
	t.Helper()
	if _, err := exec.LookPath("ansible"); err != nil {
		if os.Getenv("GPUCTL_TEST_HOSTS") == "require" {
			t.Fatal("ansible not installed (GPUCTL_TEST_HOSTS=require)")
		}
		t.Skip("ansible not installed")
	}
	if testing.Short() {
		t.Skip("ansible comparison in -short mode")
	}
	if args == nil {
		args = map[string]any{}
	}
	a, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	cmdArgs := append([]string{"all"}, target...)
	cmdArgs = append(cmdArgs, "-m", module)
	if len(args) > 0 {
		cmdArgs = append(cmdArgs, "-a", string(a))
	}
	if check {
		cmdArgs = append(cmdArgs, "--check", "--diff")
	}
	cmd := exec.Command("ansible", cmdArgs...)
	cmd.Env = append(os.Environ(), "ANSIBLE_LOAD_CALLBACK_PLUGINS=1", "ANSIBLE_STDOUT_CALLBACK=json",
		"ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3", "ANSIBLE_LOCALHOST_WARNING=0", "ANSIBLE_NOCOLOR=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var res struct {
		Plays []struct {
			Tasks []struct {
				Hosts map[string]map[string]any `json:"hosts"`
			} `json:"tasks"`
		} `json:"plays"`
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber() // a result may hold integers beyond float64 (an RSA modulus in openssl_privatekey's diff)
	if jerr := dec.Decode(&res); jerr != nil || len(res.Plays) == 0 || len(res.Plays[0].Tasks) == 0 {
		t.Fatalf("ansible -m %s %s: %v %v\n%s%s", module, a, err, jerr, out, stderr.String())
	}
	r, _ := floats(res.Plays[0].Tasks[0].Hosts[host]).(map[string]any)
	delete(r, "_ansible_no_log")
	delete(r, "invocation")
	delete(r, "action")
	return r
}

// floats turns json.Numbers back into the float64s callers compare with;
// one too large for a float64 stays a json.Number.
func floats(v any) any {
	switch x := v.(type) {
	case json.Number:
		if f, err := x.Float64(); err == nil {
			return f
		}
	case map[string]any:
		for k, e := range x {
			x[k] = floats(e)
		}
	case []any:
		for i, e := range x {
			x[i] = floats(e)
		}
	}
	return v
}

// Keys are a result's keys, sorted, for comparing shapes.
func Keys(m map[string]any) string {
	return strings.Join(slices.Sorted(maps.Keys(m)), " ")
}

// Same compares a gpuctl value with one decoded from Ansible's JSON, where
// every number is a float64.
func Same(got, want any) bool {
	if g, ok := number(got); ok {
		w, ok := number(want)
		return ok && g == w
	}
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	return string(gj) == string(wj)
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case uint32:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}
