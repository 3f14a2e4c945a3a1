package engine

import (
	"context"
	"io/fs"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	_ "github.com/gpuctl/gpuctl/modules/generic"
)

// selinuxHost answers only whether selinuxfs is mounted.
type selinuxHost struct {
	modules.Host
	enabled bool
}

func (h selinuxHost) Conn() conn.Conn { return selinuxConn{enabled: h.enabled} }

type selinuxConn struct {
	conn.Conn
	enabled bool
}

func (c selinuxConn) ReadFile(_ context.Context, p string) ([]byte, error) {
	if p == "/sys/fs/selinux/enforce" && c.enabled {
		return []byte("1"), nil
	}
	return nil, fs.ErrNotExist
}

// A task with SELinux context arguments fails on a host with SELinux
// enabled, naming them, since gpuctl sets no contexts; without SELinux, or
// without such arguments, the host is let through as ansible-core does.
func TestRefuseSELinux(t *testing.T) {
	ctx := context.Background()
	with, err := modules.New("file", map[string]any{"path": "/var/lib/zabbix", "state": "directory", "seuser": "system_u", "setype": "zabbix_var_lib_t"})
	if err != nil {
		t.Fatal(err)
	}
	without, err := modules.New("file", map[string]any{"path": "/var/lib/zabbix", "state": "directory"})
	if err != nil {
		t.Fatal(err)
	}
	err = refuseSELinux(ctx, with, selinuxHost{enabled: true})
	if err == nil || !strings.Contains(err.Error(), "seuser, setype: SELinux is enabled on this host") {
		t.Errorf("SELinux host: %v", err)
	}
	if err := refuseSELinux(ctx, with, selinuxHost{}); err != nil {
		t.Errorf("host without SELinux: %v", err)
	}
	if err := refuseSELinux(ctx, without, selinuxHost{enabled: true}); err != nil {
		t.Errorf("no SELinux arguments: %v", err)
	}
}
