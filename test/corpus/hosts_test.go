package corpus

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/internal/gpuctltest"
	"github.com/gpuctl/gpuctl/internal/testhosts"
)

// TestCorpus takes every item as far as it goes, on real Debian test hosts: load; --check on a
// host (which must change nothing); and for items that can run offline, apply with gpuctl on one
// fresh host and with ansible-playbook (same play, same vars) on a twin, re-run both (gpuctl must
// change nothing), and compare the end states. Each item must reach exactly the level the
// manifest expects. GPUCTL_CORPUS_REPORT=file writes the table (run.sh).
func TestCorpus(t *testing.T) {
	m := readManifest(t)
	needCorpus(t, m)
	check := testhosts.Start(t, 1)[0]
	// Roles read the facts of the host's Python (zabbix: ansible_python_version), which gpuctl
	// reports only where there is one; Ansible needs it anyway, so a real target has it.
	installPython(t, check)
	bin, cleanup, err := gpuctltest.Build("gpuctl-corpus-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	pkgs := map[string]string{}
	for _, it := range m.Items {
		if it.Apply != nil {
			for n, v := range it.Apply.Repo {
				pkgs[n] = v
			}
		}
	}
	h := &harness{m: m, bin: bin, repo: localRepo(t, pkgs), check: check}
	var rs []result
	for _, it := range m.Items {
		t.Run(it.Name, func(t *testing.T) {
			r := h.measure(t, it)
			rs = append(rs, r)
			if len(r.gaps) > 0 || r.note != "" {
				t.Logf("reaches %q; stopped by: %s %s", r.got, strings.Join(r.gaps, "; "), r.note)
			}
			if err := verdict(it.Name, r.got, it.Expect); err != nil {
				t.Error(err)
			}
		})
	}
	writeReport(t, m, rs, true)
}

type harness struct {
	m     *Manifest
	bin   string
	repo  string         // the local apt repository's URL, {{ corpus_repo }}
	check testhosts.Host // --check runs here, one item after another: check mode changes nothing
}

func (h *harness) measure(t *testing.T, it Item) result {
	r := result{it: it, got: None}
	if errs := loadItem(t, h.m, it); len(errs) > 0 {
		r.gaps = classify(h.m, it, append(errs, lateErrors(t, h.m, it, errs)...))
		return r
	}
	r.got = Loads
	dir := t.TempDir()
	env := h.m.env(it)
	vars := []string{"-e", "corpus_repo=" + h.repo}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	before := h.check.Hash(t)
	plan := gpuctlRun(ctx, h.bin, dir, env, h.m.playbook(it), writeInventory(t, dir, h.check), append(vars, "--check")...)
	if after := h.check.Hash(t); after != before {
		t.Errorf("--check changed the host")
	}
	if !plan.ok {
		r.gaps = classify(h.m, it, plan.failures)
		t.Logf("--check:\n%s", lastLines(plan.output, 40))
		return r
	}
	r.got = Plans
	if it.Apply == nil {
		return r
	}

	h.applyAndCompare(ctx, t, &r, dir, env, vars)
	return r
}

// applyAndCompare applies the item with gpuctl on a fresh host, re-runs it (nothing may
// change), applies it with ansible-playbook on a twin host, and compares the end states.
// It returns the end state of gpuctl's host ("" when it got no end state).
func (h *harness) applyAndCompare(ctx context.Context, t *testing.T, r *result, dir string, env, vars []string) string {
	it := r.it
	hosts := testhosts.Start(t, 2)
	g, a := hosts[0], hosts[1]
	installPython(t, a)
	ginv, ainv := writeInventory(t, dir, g), writeInventory(t, dir, a)
	if first := gpuctlRun(ctx, h.bin, dir, env, h.m.playbook(it), ginv, vars...); !first.ok {
		r.gaps = classify(h.m, it, first.failures)
		t.Logf("apply:\n%s", lastLines(first.output, 40))
		return ""
	}
	again := gpuctlRun(ctx, h.bin, dir, env, h.m.playbook(it), ginv, vars...)
	if !again.ok || again.changed > 0 {
		r.note = "the re-run changed something or failed: " + strings.Join(again.failures, "; ")
		t.Logf("re-run:\n%s", lastLines(again.output, 40))
		return ""
	}
	r.got, r.gpuctlRerun = Applies, again.took

	if first := ansibleRun(ctx, dir, env, h.m.playbook(it), ainv, vars...); !first.ok {
		r.note = "ansible-playbook failed, so there is no state to compare: " + first.failures[0]
		return ""
	}
	if ar := ansibleRun(ctx, dir, env, h.m.playbook(it), ainv, vars...); ar.ok && ar.changed == 0 {
		r.ansibleRerun = ar.took
	}
	gs, as := state(t, g, it.Apply), state(t, a, it.Apply)
	if gs != as {
		r.note = "end state differs from Ansible's"
		t.Logf("end state, gpuctl:\n%s\nansible-playbook:\n%s", gs, as)
		return gs
	}
	r.got = Same
	return gs
}

// installPython installs python3 on a test host (the image has none): ansible-playbook needs it
// on its hosts, and content written for Ansible reads the facts of it.
func installPython(t *testing.T, h testhosts.Host) {
	t.Helper()
	h.Run(t, "command -v python3 >/dev/null || apt-get install -y -q python3 >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q python3 >/dev/null)")
}

// TestHarness runs the apply-and-compare path on a play of ours that gpuctl fully supports,
// so the harness is proven even while no corpus item reaches it: both tools must reach the same
// end state, and a state that differs must be noticed.
func TestHarness(t *testing.T) {
	m := readManifest(t)
	check := testhosts.Start(t, 1)[0]
	bin, cleanup, err := gpuctltest.Build("gpuctl-corpus-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	h := &harness{m: m, bin: bin, check: check}
	it := Item{Name: "selftest", Play: "testdata/selftest.yml", Expect: Same, Apply: &Apply{
		Paths: []string{"/opt/corpus-selftest"}, Packages: []string{"net-tools"},
	}}
	r := result{it: it, got: Plans}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	converged := h.applyAndCompare(ctx, t, &r, t.TempDir(), nil, nil)
	if r.got != Same {
		t.Fatalf("reaches %q, want %q: %v %s", r.got, Same, r.gaps, r.note)
	}
	t.Logf("idempotent re-run: gpuctl %.2f s, ansible-playbook %.2f s", r.gpuctlRerun.Seconds(), r.ansibleRerun.Seconds())
	// A host that differs only in a mode and a line must not compare equal.
	check.Run(t, "mkdir -p -m 0755 /opt/corpus-selftest && chgrp adm /opt/corpus-selftest && printf 'port=8080\\nlog=/var/log/app.log\\n' > /opt/corpus-selftest/app.conf && chmod 0640 /opt/corpus-selftest/app.conf && apt-get install -y -q net-tools >/dev/null")
	if other := state(t, check, it.Apply); other == converged {
		t.Fatalf("a host with the directory at 0755 compares equal to the converged one:\n%s", other)
	}
}
