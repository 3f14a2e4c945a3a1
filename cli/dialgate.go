package cli

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"golang.org/x/sync/semaphore"

	"github.com/gpuctl/gpuctl/conn/ssh"
)

// defaultMaxHandshakes keeps gpuctl under sshd's MaxStartups, whose
// default 10:30:100 starts dropping 30% of new connections once 10 are
// still unauthenticated: 200 hosts behind one bastion would otherwise
// open 200 handshakes to it at once and some would fail as unreachable.
const defaultMaxHandshakes = 8

// dialGate bounds the SSH handshakes in flight to each sshd (a host's
// address, or a bastion's): a slot is held from TCP connect until
// authentication ends, when sshd stops counting the connection against
// MaxStartups.
type dialGate struct {
	per  int64 // 0: no limit
	mu   sync.Mutex
	sems map[string]*semaphore.Weighted
}

func newDialGate(perServer int) *dialGate {
	return &dialGate{per: int64(perServer), sems: map[string]*semaphore.Weighted{}}
}

// enter takes a slot on every sshd the dial of cfg talks to, in a fixed
// order so two dials never hold one slot each of what the other needs.
func (g *dialGate) enter(ctx context.Context, cfg ssh.Config) (func(), error) {
	if g == nil || g.per <= 0 {
		return func() {}, nil
	}
	addrs := []string{serverOf(cfg)}
	for b := cfg.Bastion; b != nil; b = b.Bastion {
		addrs = append(addrs, serverOf(*b))
	}
	slices.Sort(addrs)
	addrs = slices.Compact(addrs)
	var held []*semaphore.Weighted
	release := func() {
		for _, s := range held {
			s.Release(1)
		}
	}
	for _, a := range addrs {
		s := g.sem(a)
		if err := s.Acquire(ctx, 1); err != nil {
			release()
			return nil, fmt.Errorf("waiting to connect to %s: %w", a, err)
		}
		held = append(held, s)
	}
	return release, nil
}

func (g *dialGate) sem(addr string) *semaphore.Weighted {
	g.mu.Lock()
	defer g.mu.Unlock()
	s, ok := g.sems[addr]
	if !ok {
		s = semaphore.NewWeighted(g.per)
		g.sems[addr] = s
	}
	return s
}

func serverOf(cfg ssh.Config) string {
	port := cfg.Port
	if port == 0 {
		port = 22
	}
	return fmt.Sprintf("%s:%d", cfg.Host, port)
}
