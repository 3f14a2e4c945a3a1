package cli

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/conn/ssh"
)

// TestDialGateBoundsHandshakesPerServer: 30 dials through one bastion never
// have more than the limit in flight to it; direct dials to different
// hosts are not held back by each other.
func TestDialGateBoundsHandshakesPerServer(t *testing.T) {
	g := newDialGate(3)
	var inFlight, peak atomic.Int64
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Go(func() {
			cfg := ssh.Config{Host: "10.0.0." + string(rune('a'+i%26)), Bastion: &ssh.Config{Host: "bastion"}}
			release, err := g.enter(context.Background(), cfg)
			if err != nil {
				t.Error(err)
				return
			}
			n := inFlight.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			time.Sleep(5 * time.Millisecond)
			inFlight.Add(-1)
			release()
		})
	}
	wg.Wait()
	if peak.Load() != 3 {
		t.Fatalf("peak handshakes through the bastion = %d, want 3", peak.Load())
	}
	// distinct hosts, no bastion: all 3 slots of each host are free
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var releases []func()
	for _, h := range []string{"a", "b", "c", "a", "b", "c"} {
		r, err := g.enter(ctx, ssh.Config{Host: h})
		if err != nil {
			t.Fatalf("host %s held back: %v", h, err)
		}
		releases = append(releases, r)
	}
	for _, r := range releases {
		r()
	}
}

func TestDialGateWaitsAndHonoursContext(t *testing.T) {
	g := newDialGate(1)
	release, err := g.enter(context.Background(), ssh.Config{Host: "h", Port: 2222})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := g.enter(ctx, ssh.Config{Host: "h", Port: 2222}); err == nil {
		t.Fatal("second handshake to h:2222 did not wait")
	}
	if r, err := g.enter(context.Background(), ssh.Config{Host: "h"}); err != nil {
		t.Fatal("port 22 of the same host is another sshd:", err)
	} else {
		r()
	}
	release()
	if r, err := newDialGate(0).enter(context.Background(), ssh.Config{Host: "h"}); err != nil {
		t.Fatal(err)
	} else {
		r()
	}
}
