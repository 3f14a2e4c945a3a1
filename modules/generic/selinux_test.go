package generic_test

import (
	"maps"
	"testing"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// Ansible's SELinux arguments load on every file module (zabbix_proxy's
// sqlite3.yml: file with seuser, serole, setype) and change nothing on a host
// without SELinux, as ansible-core skips them there: each task converges,
// and the same task without them then has nothing to do.
func TestSELinuxArgsChangeNothingWithoutSELinux(t *testing.T) {
	h := moduletest.Start(t, 1)[0]
	se := map[string]any{"seuser": "system_u", "serole": "object_r", "setype": "zabbix_var_lib_t", "selevel": "s0", "unsafe_writes": true}
	for _, tc := range []struct {
		module string
		args   map[string]any
	}{
		{"file", map[string]any{"path": "/opt/se-dir", "state": "directory", "owner": "root", "mode": "0750"}},
		{"copy", map[string]any{"dest": "/opt/se-copy", "content": "x=1\n", "mode": "0640"}},
		{"lineinfile", map[string]any{"path": "/opt/se-lines", "line": "a=1", "create": true}},
	} {
		t.Run(tc.module, func(t *testing.T) {
			args := maps.Clone(tc.args)
			maps.Copy(args, se)
			h.Timeline(t, tc.module, args, "/opt")
			h.NoChange(t, tc.module, tc.args)
			m := moduletest.New(t, tc.module, args)
			l, ok := m.(modules.SELinuxLabeler)
			if !ok || len(l.SELinuxArgs()) != 4 {
				t.Errorf("%s does not name its SELinux arguments for the engine: %T", tc.module, m)
			}
		})
	}
}
