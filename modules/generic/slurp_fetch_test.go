package generic_test

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/internal/ansibletest"
	"github.com/gpuctl/gpuctl/modules/moduletest"
	"github.com/gpuctl/gpuctl/plan"
)

func TestSlurpHost(t *testing.T) {
	r := moduletest.Start(t, 1)[0]
	r.Run(t, "printf 'tok\\n' > /etc/join-token")
	res := r.NoChange(t, "ansible.builtin.slurp", map[string]any{"path": "/etc/join-token"})
	if b, _ := base64.StdEncoding.DecodeString(res["content"].(string)); string(b) != "tok\n" || res["encoding"] != "base64" || res["source"] != "/etc/join-token" {
		t.Errorf("result %v", res)
	}
	if _, _, err := r.Apply(t, "slurp", map[string]any{"src": "/etc/nope"}); err == nil || !strings.Contains(err.Error(), "file not found: /etc/nope") {
		t.Errorf("missing: %v", err)
	}
	moduletest.BadArgs(t, "slurp", map[string]any{"src": "rel"}, "must be an absolute path")
	moduletest.BadArgs(t, "slurp", map[string]any{}, `missing required argument "src"`)
}

// slurp registers what ansible-core's does for the same file.
func TestSlurpLikeAnsible(t *testing.T) {
	f := filepath.Join(t.TempDir(), "k")
	write(t, f, "a\x00b", 0o600)
	want := ansibletest.Run(t, "slurp", map[string]any{"src": f}, false)
	m := moduletest.New(t, "slurp", map[string]any{"src": f})
	if _, err := m.Check(t.Context(), moduletest.Local()); err != nil {
		t.Fatal(err)
	}
	res := moduletest.Result(m)
	for _, k := range []string{"content", "encoding", "source"} {
		if res[k] != want[k] {
			t.Errorf("%s: %v, ansible %v", k, res[k], want[k])
		}
	}
}

func TestFetchHost(t *testing.T) {
	r := moduletest.Start(t, 1)[0]
	r.Run(t, "mkdir -p /etc/kubernetes && printf 'kind: Config\\n' > /etc/kubernetes/admin.conf")
	pb := t.TempDir()
	r.V["playbook_dir"], r.V["inventory_hostname"] = pb, "cp-1"
	d := moduletest.TimelineSnap(t, r.Host, func() string { return moduletest.Snapshot(t, pb) + r.TH.Hash(t) },
		"fetch", map[string]any{"src": "/etc/kubernetes/admin.conf", "dest": "artifacts"})
	hasChange(t, d, plan.Create, "content")
	if read(t, filepath.Join(pb, "artifacts", "cp-1", "etc", "kubernetes", "admin.conf")) != "kind: Config\n" {
		t.Error("not fetched")
	}
	moduletest.TimelineSnap(t, r.Host, func() string { return moduletest.Snapshot(t, pb) },
		"fetch", map[string]any{"src": "/etc/kubernetes/admin.conf", "dest": "kube/", "flat": true})
	if _, err := os.Stat(filepath.Join(pb, "kube", "admin.conf")); err != nil {
		t.Error(err)
	}
	_, res, err := r.Apply(t, "fetch", map[string]any{"src": "/etc/nope", "dest": "x", "fail_on_missing": false})
	if err != nil || !strings.Contains(res["msg"].(string), "does not exist") {
		t.Errorf("fail_on_missing false: %v %v", err, res)
	}
	if _, _, err := r.Apply(t, "fetch", map[string]any{"src": "/etc/nope", "dest": "x"}); err == nil {
		t.Error("missing src: no error")
	}
	moduletest.BadArgs(t, "fetch", map[string]any{"src": "/a"}, `missing required argument "dest"`)
	moduletest.BadArgs(t, "fetch", map[string]any{"src": "a", "dest": "x"}, "must be an absolute path")
}
