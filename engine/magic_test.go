package engine_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/conn/local"
	"github.com/gpuctl/gpuctl/engine"
	"github.com/gpuctl/gpuctl/inventory"
	"github.com/gpuctl/gpuctl/playbooks"
)

// TestMagicVarsLikeAnsible runs testdata/magic/magic.yml (INI inventory,
// serial batches, a failing host, --skip-tags) and compares the magic
// variables every host wrote with what ansible-core 2.14 wrote
// (testdata/magic/expected-ansible, recorded by gen-expected.sh):
// ansible_version's keys, omit, ansible_play_hosts(_all), ansible_play_batch,
// play_hosts, group_names, groups, inventory_hostname_short,
// ansible_check_mode, ansible_diff_mode, ansible_run_tags,
// ansible_skip_tags, inventory_file, ansible_config_file.
func TestMagicVarsLikeAnsible(t *testing.T) {
	out := t.TempDir()
	inv, err := inventory.Open(inventory.Options{Sources: []string{"testdata/magic/inv.ini"}})
	if err != nil {
		t.Fatal(err)
	}
	pb, err := (&playbooks.Loader{}).Load("testdata/magic/magic.yml")
	if err != nil {
		t.Fatal(err)
	}
	opt := engine.Options{Local: local.New(), ExtraVars: map[string]any{"out_dir": out}, SkipTags: []string{"foo"}, Reporter: &recorder{}}
	_, err = engine.New(inv, opt).Run(context.Background(), pb)
	if err == nil || !strings.Contains(err.Error(), "w2") || strings.Contains(err.Error(), "w1") || strings.Contains(err.Error(), "d1") {
		t.Fatalf("want w2's failure only, got %v", err)
	}
	compareDirs(t, "testdata/magic/expected-ansible", out)
}

// compareDirs checks that got holds every file of want with the same
// content, and no file want lacks.
func compareDirs(t *testing.T, want, got string) {
	t.Helper()
	wantFiles, _ := filepath.Glob(filepath.Join(want, "*"))
	gotFiles, _ := filepath.Glob(filepath.Join(got, "*"))
	if len(wantFiles) == 0 || len(gotFiles) != len(wantFiles) {
		t.Errorf("files: got %d, want %d", len(gotFiles), len(wantFiles))
	}
	for _, w := range wantFiles {
		exp, _ := os.ReadFile(w)
		b, err := os.ReadFile(filepath.Join(got, filepath.Base(w)))
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(w), err)
			continue
		}
		if !sameJSON(b, exp) {
			t.Errorf("%s differs from ansible's:\n got: %s\nwant: %s", filepath.Base(w), b, exp)
		}
	}
}

// sameJSON compares two JSON documents as values (Ansible's to_json keeps
// insertion order, gpuctl's sorts keys); anything else byte for byte.
func sameJSON(a, b []byte) bool {
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return string(a) == string(b)
	}
	return reflect.DeepEqual(va, vb)
}
