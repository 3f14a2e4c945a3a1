package engine_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/conn/local"
	"github.com/gpuctl/gpuctl/engine"
	"github.com/gpuctl/gpuctl/inventory"
	"github.com/gpuctl/gpuctl/playbooks"
	"github.com/gpuctl/gpuctl/vault"
)

// TestPseudoModulesLikeAnsible runs testdata/pseudo/pseudo.yml and compares
// what it writes with what ansible-core 2.14 wrote
// (testdata/pseudo/expected-ansible, gen-expected.sh): include_vars (free
// form, dir with files_matching and name, depth, ignore_unknown_extensions,
// a vault-encrypted file, a file beside the including task file), fail,
// pause with a prompt and no terminal, set_stats, setup with filter,
// meta flush_handlers, end_host (no handlers afterwards) and end_play.
func TestPseudoModulesLikeAnsible(t *testing.T) {
	out := t.TempDir()
	inv, err := inventory.Open(inventory.Options{Sources: []string{"testdata/pseudo/inv.ini"}})
	if err != nil {
		t.Fatal(err)
	}
	pb, err := (&playbooks.Loader{}).Load("testdata/pseudo/pseudo.yml")
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	opt := engine.Options{Local: local.New(), ExtraVars: map[string]any{"out_dir": out}, Reporter: rec,
		Vault: []vault.Secret{{ID: vault.DefaultID, Password: []byte("hunter2pass")}}}
	recap, err := engine.New(inv, opt).Run(context.Background(), pb)
	if err != nil {
		t.Fatal(err)
	}
	if recap.Failed() {
		t.Fatalf("recap: %+v", recap.Hosts)
	}
	compareDirs(t, "testdata/pseudo/expected-ansible", out)
	for _, ev := range rec.events {
		if ev.Type == engine.EventTaskResult && containsSecret(ev.Msg) {
			t.Errorf("vaulted value in output: %+v", ev)
		}
	}
}

func containsSecret(s string) bool { return strings.Contains(s, "s3cret-from-vault") }
