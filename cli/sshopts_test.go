package cli

import (
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/inventory"
)

func TestKeepAliveFromInventory(t *testing.T) {
	h := &inventory.Host{Name: "gpu-1"}
	for _, tc := range []struct {
		name     string
		vars     map[string]any
		interval time.Duration
		count    int
		wantErr  bool
	}{
		{name: "default", vars: map[string]any{}},
		{name: "ansible ssh args", vars: map[string]any{"ansible_ssh_common_args": "-o ServerAliveInterval=30 -oServerAliveCountMax=4"}, interval: 30 * time.Second, count: 4},
		{name: "space form", vars: map[string]any{"ansible_ssh_extra_args": "-o serveraliveinterval 20"}, interval: 20 * time.Second},
		{name: "gpuctl vars win", vars: map[string]any{"ansible_ssh_args": "-o ServerAliveInterval=30", "gpuctl_ssh_keepalive_interval": "2s", "gpuctl_ssh_keepalive_count_max": 3}, interval: 2 * time.Second, count: 3},
		{name: "zero turns them off", vars: map[string]any{"gpuctl_ssh_keepalive_interval": 0}, interval: -1},
		{name: "bad interval", vars: map[string]any{"gpuctl_ssh_keepalive_interval": "soon"}, wantErr: true},
		{name: "bad count", vars: map[string]any{"ansible_ssh_args": "-o ServerAliveCountMax=0"}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := SSHConfigFor(h, tc.vars, time.Second)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("want an error, got %+v", cfg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.KeepAliveInterval != tc.interval || cfg.KeepAliveCountMax != tc.count {
				t.Errorf("interval %s count %d, want %s %d", cfg.KeepAliveInterval, cfg.KeepAliveCountMax, tc.interval, tc.count)
			}
		})
	}
}
