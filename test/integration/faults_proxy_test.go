package integration

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/internal/testhosts"
)

// linkProxy stands between gpuctl and a host's sshd, so a test can slow
// the link (to catch an upload in the middle) or cut it. A cut drops what
// either side sends from then on without closing anything, as a pulled
// cable or a firewall that starts dropping packets does: neither side
// hears of it until its own timers give up.
type linkProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	rate  int           // bytes per second towards the host; 0 is unlimited
	cut   chan struct{} // closed while the link is cut
	conns []net.Conn
}

func newLinkProxy(t *testing.T, h testhosts.Host) *linkProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &linkProxy{ln: ln, target: net.JoinHostPort(h.Addr, fmt.Sprint(h.Port))}
	t.Cleanup(func() {
		ln.Close()
		p.closeAll()
	})
	go p.accept()
	return p
}

// host is h as reached through the proxy, with a known_hosts file for the
// proxy's address.
func (p *linkProxy) host(t *testing.T, h testhosts.Host) testhosts.Host {
	t.Helper()
	a := p.ln.Addr().(*net.TCPAddr)
	h.Addr, h.Port = a.IP.String(), a.Port
	h.KnownHostsFile = filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(h.KnownHostsFile, []byte(h.KnownHostsLine()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return h
}

func (p *linkProxy) setRate(bytesPerSec int) {
	p.mu.Lock()
	p.rate = bytesPerSec
	p.mu.Unlock()
}

// cutLink drops everything from now on.
func (p *linkProxy) cutLink() {
	p.mu.Lock()
	if p.cut == nil {
		p.cut = make(chan struct{})
	}
	p.mu.Unlock()
}

// heal lets new connections through. The ones open across the cut are
// reset, as the host's retransmissions would be answered once packets flow
// again by a client that has long given the connection up.
func (p *linkProxy) heal() {
	p.mu.Lock()
	p.cut = nil
	p.mu.Unlock()
	p.closeAll()
}

func (p *linkProxy) closeAll() {
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

func (p *linkProxy) state() (rate int, cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rate, p.cut != nil
}

func (p *linkProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go p.pipe(up, c, true)
		go p.pipe(c, up, false)
	}
}

// pipe copies src to dst in small chunks, paced when towardHost and a rate
// is set, dropping everything while the link is cut.
func (p *linkProxy) pipe(dst, src net.Conn, towardHost bool) {
	defer dst.Close()
	buf := make([]byte, 16<<10)
	for {
		n, err := src.Read(buf)
		rate, cut := p.state()
		if cut {
			// Dropped; keep reading so the sender sees nothing either.
			if err != nil {
				return
			}
			continue
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
			if towardHost && rate > 0 {
				time.Sleep(time.Duration(n) * time.Second / time.Duration(rate))
			}
		}
		if err != nil {
			return
		}
	}
}
