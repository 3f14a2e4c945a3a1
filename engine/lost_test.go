package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/conn/local"
	"github.com/gpuctl/gpuctl/engine"
	"github.com/gpuctl/gpuctl/inventory"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
	"github.com/gpuctl/gpuctl/playbooks"
)

// lostMod fails its apply the way a host that vanished mid-task does.
type lostMod struct{}

func (*lostMod) Validate() error { return nil }
func (*lostMod) Check(context.Context, modules.Host) (plan.Diff, error) {
	var d plan.Diff
	d.Add(plan.Change{Resource: "file:/x", Action: plan.Update, Field: "content", Before: "a", After: "b"})
	return d, nil
}
func (*lostMod) Apply(context.Context, modules.Host, plan.Diff) error {
	return fmt.Errorf("run step: %w", conn.ErrConnLost)
}

func init() {
	modules.Register(modules.Info{Name: "etest_lost", Summary: "test", New: func() modules.Module { return &lostMod{} }})
}

// bootConnector hands out connections whose boot id is the next of ids; an
// empty id stands for a host that does not answer.
type bootConnector struct {
	mu  sync.Mutex
	ids []string
	n   int
}

func (b *bootConnector) Connect(ctx context.Context, h *inventory.Host, vars map[string]any) (conn.Conn, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	id := b.ids[min(b.n, len(b.ids)-1)]
	b.n++
	if id == "" {
		return nil, fmt.Errorf("dial %s: %w", h.Name, conn.ErrUnreachable)
	}
	return bootConn{Conn: local.New(), id: id}, nil
}

type bootConn struct {
	conn.Conn
	id string
}

func (c bootConn) ReadFile(ctx context.Context, path string) ([]byte, error) {
	if path == "/proc/sys/kernel/random/boot_id" {
		return []byte(c.id + "\n"), nil
	}
	return c.Conn.ReadFile(ctx, path)
}

func TestLostConnectionSaysWhatBecameOfTheHost(t *testing.T) {
	for _, tc := range []struct {
		name, probe string
		ids         []string
		want        string
	}{
		{"reboot", "5", []string{"aaaaaaaa-1", "bbbbbbbb-2"}, "rebooted during the task (boot id aaaaaaaa → bbbbbbbb)"},
		{"same boot", "5", []string{"aaaaaaaa-1", "aaaaaaaa-1"}, "up on the same boot (boot id aaaaaaaa): not a reboot"},
		{"silent", "1", []string{"aaaaaaaa-1", ""}, "did not answer for 1s"},
		{"probe off", "0", []string{"aaaaaaaa-1", "bbbbbbbb-2"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := inventory.Parse("inv.yaml", []byte("all:\n  hosts:\n    gpu-1: {gpuctl_lost_probe_timeout: "+tc.probe+"}\n"))
			if err != nil {
				t.Fatal(err)
			}
			pb := &playbooks.Playbook{Plays: []*playbooks.Play{{Name: "p", Hosts: "all",
				Tasks: []*playbooks.Task{{Name: "t", Module: "etest_lost", Args: map[string]any{}}}}}}
			rec := &recorder{}
			_, err = engine.New(inv, engine.Options{Local: local.New(), Reporter: rec, Connector: &bootConnector{ids: tc.ids}}).Run(context.Background(), pb)
			if !errors.Is(err, conn.ErrConnLost) {
				t.Fatalf("err = %v, want a lost connection", err)
			}
			msg := err.Error()
			if tc.want == "" {
				if strings.Contains(msg, "boot") || strings.Contains(msg, "did not answer") {
					t.Fatalf("probe off, yet the error has a verdict: %v", msg)
				}
				return
			}
			if !strings.Contains(msg, tc.want) {
				t.Fatalf("error %q lacks %q", msg, tc.want)
			}
		})
	}
}
