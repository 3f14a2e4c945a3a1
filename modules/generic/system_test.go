package generic_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/generic"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// hostname, timezone, alternatives and raw on one real Debian host.
func TestSystemModulesHost(t *testing.T) {
	r := moduletest.Start(t, 1)[0]
	t.Run("hostname file strategy", func(t *testing.T) {
		before := r.Run(t, "cat /proc/sys/kernel/hostname")
		r.Timeline(t, "ansible.builtin.hostname", map[string]any{"name": "gpu-node-1"})
		if out := r.Run(t, "cat /etc/hostname /proc/sys/kernel/hostname"); out != "gpu-node-1\n"+before {
			t.Errorf("host %q (Ansible's Debian strategy writes /etc/hostname only)", out)
		}
	})
	t.Run("hostname systemd", func(t *testing.T) {
		d := r.Timeline(t, "hostname", map[string]any{"name": "gpu-node-2.example.net", "use": "systemd"})
		if len(d.Changes) != 2 {
			t.Errorf("changes %+v", d.Changes)
		}
		if out := r.Run(t, "cat /etc/hostname; hostname"); out != "gpu-node-2.example.net\ngpu-node-2.example.net" {
			t.Errorf("host %q", out)
		}
		m := moduletest.New(t, "hostname", map[string]any{"name": "gpu-node-2.example.net"})
		facts := m.(modules.FactSetter).SetFacts()
		if facts["ansible_hostname"] != "gpu-node-2" || facts["ansible_domain"] != "example.net" {
			t.Errorf("facts %v", facts)
		}
	})
	t.Run("timezone", func(t *testing.T) {
		r.Timeline(t, "community.general.timezone", map[string]any{"name": "Europe/Paris"})
		if out := r.Run(t, "readlink /etc/localtime; date +%Z"); !strings.HasSuffix(strings.Split(out, "\n")[0], "zoneinfo/Europe/Paris") ||
			(!strings.HasSuffix(out, "CET") && !strings.HasSuffix(out, "CEST")) {
			t.Errorf("host %q", out)
		}
		res := r.NoChange(t, "timezone", map[string]any{"name": "Europe/Paris"})
		if diff := res["diff"].(map[string]any); diff["before"].(map[string]string)["name"] != "Europe/Paris" {
			t.Errorf("result %v", res)
		}
		_, err := moduletest.New(t, "timezone", map[string]any{"name": "Mars/Olympus"}).Check(context.Background(), r.Host)
		if err == nil || !strings.Contains(err.Error(), "Mars/Olympus does not exist") {
			t.Errorf("unknown zone: %v", err)
		}
	})
	t.Run("alternatives", func(t *testing.T) {
		r.Run(t, "printf '#!/bin/sh\\necho a\\n' > /usr/local/bin/foo-a; printf '#!/bin/sh\\necho b\\n' > /usr/local/bin/foo-b; chmod +x /usr/local/bin/foo-*")
		tl := func(args map[string]any) {
			t.Helper()
			r.Timeline(t, "community.general.alternatives", args, "/var/lib/dpkg/alternatives")
		}
		tl(map[string]any{"name": "gpuctl-foo", "link": "/usr/local/bin/gpuctl-foo", "path": "/usr/local/bin/foo-a", "priority": 10})
		tl(map[string]any{"name": "gpuctl-foo", "path": "/usr/local/bin/foo-b", "priority": 20, "state": "present"})
		if out := r.Run(t, "gpuctl-foo; update-alternatives --query gpuctl-foo | grep Status"); out != "a\nStatus: manual" {
			t.Errorf("selected a stays: %q", out)
		}
		tl(map[string]any{"name": "gpuctl-foo", "path": "/usr/local/bin/foo-b", "state": "auto"})
		if out := r.Run(t, "gpuctl-foo"); out != "b" {
			t.Errorf("auto picks the highest: %q", out)
		}
		tl(map[string]any{"name": "gpuctl-foo", "path": "/usr/local/bin/foo-a", "priority": 30, "state": "present"})
		tl(map[string]any{"name": "gpuctl-foo", "path": "/usr/local/bin/foo-a", "state": "absent"})
		if out := r.Run(t, "gpuctl-foo; update-alternatives --list gpuctl-foo"); out != "b\n/usr/local/bin/foo-b" {
			t.Errorf("after removal %q", out)
		}
	})
	t.Run("raw", func(t *testing.T) {
		d, res, err := r.Apply(t, "raw", map[string]any{"free_form": `echo "a=b  c"; echo err >&2`})
		if err != nil || len(d.Changes) != 1 || res["rc"] != 0 || res["stdout"] != "a=b  c\n" || res["stderr"] != "err\n" || len(res["stdout_lines"].([]string)) != 1 {
			t.Errorf("%v %+v %v", err, d.Changes, res)
		}
		_, res, _ = r.Apply(t, "raw", map[string]any{"free_form": `echo "$0"`, "executable": "/bin/bash"})
		if res["stdout"] != "/bin/bash\n" {
			t.Errorf("executable: %v", res)
		}
		_, res, err = r.Apply(t, "raw", map[string]any{"free_form": "exit 3"})
		var ce *generic.CommandError
		if !errors.As(err, &ce) || res["rc"] != 3 {
			t.Errorf("exit 3: %v %v", err, res)
		}
	})
}

func TestSystemModulesBadArgs(t *testing.T) {
	for _, tc := range []struct {
		module string
		args   map[string]any
		want   string
	}{
		{"hostname", map[string]any{"name": "bad_name"}, "expected letters, digits and hyphens"},
		{"hostname", map[string]any{"name": "a", "use": "windows"}, "expected one of alpine"},
		{"timezone", map[string]any{}, "give name or hwclock"},
		{"timezone", map[string]any{"name": "../etc/passwd"}, "not a time zone name"},
		{"timezone", map[string]any{"name": "UTC", "hwclock": "utc"}, "expected one of local, UTC"},
		{"alternatives", map[string]any{"name": "x", "path": "bin/x"}, "must be an absolute path"},
		{"alternatives", map[string]any{"name": "x"}, `missing required argument "path"`},
		{"alternatives", map[string]any{"name": "x", "path": "/x", "state": "on"}, "expected one of present, selected"},
		{"alternatives", map[string]any{"name": "x", "path": "/x", "slaves": []any{map[string]any{"name": "y"}}}, "each subcommand needs"},
		{"raw", map[string]any{"free_form": " "}, "empty"},
		{"raw", map[string]any{"free_form": "ls", "executable": "bash"}, "absolute path"},
	} {
		moduletest.BadArgs(t, tc.module, tc.args, tc.want)
	}
}
