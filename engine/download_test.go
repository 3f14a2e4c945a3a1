package engine_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/conn/local"
	"github.com/gpuctl/gpuctl/engine"
	"github.com/gpuctl/gpuctl/internal/testhosts"
	"github.com/gpuctl/gpuctl/inventory"
	"github.com/gpuctl/gpuctl/playbooks"
)

// An archive URL the host cannot reach fails the task, in check mode as in
// a real run (the host downloads to decide), and the error names the host,
// the task, where it is written and the URL, as a user needs to find it.
func TestUnarchiveURLUnreachableNamesHostAndTask(t *testing.T) {
	ths := testhosts.Start(t, 1) // skips without the fixture
	// A port nothing listens on: take one, then free it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String() + "/summon.tar.gz"
	l.Close()
	inv, err := inventory.Parse("inv.yaml", []byte("all:\n  hosts:\n    node1: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	pbPath := filepath.Join(t.TempDir(), "pb.yaml")
	os.WriteFile(pbPath, []byte(`- hosts: all
  gather_facts: false
  tasks:
    - name: Download and unpack Summon
      unarchive:
        src: `+dead+`
        dest: /usr/local/bin
        remote_src: yes
`), 0o644)
	pb, err := (&playbooks.Loader{}).Load(pbPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, check := range []bool{true, false} {
		opt := engine.Options{Local: local.New(), Reporter: &recorder{}, Check: check,
			Connector: testhostConnector{"node1": ths[0]}}
		_, err := engine.New(inv, opt).Run(context.Background(), pb)
		if err == nil {
			t.Fatalf("check=%v: an unreachable URL did not fail the task", check)
		}
		for _, want := range []string{`host node1, task "Download and unpack Summon" (` + pbPath + `:4)`, dead, "from the host"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("check=%v: error %q does not say %q", check, err, want)
			}
		}
	}
}
