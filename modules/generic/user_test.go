package generic_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// SHA-512 crypt of "gpuctl" (openssl passwd -6 -salt saltsalt gpuctl).
const testHash = "$6$saltsalt$LZ0XUYRQ5D8RigltFM9xJEaca14WbPTkdW66ScI52ftW.WkubS7o6yNOw2ABwph9Omg0yOQ1k3vzebfRQ2S890"

// The account modules on a real Debian host: every step keeps the
// timeline (check changes nothing under /etc and /home, apply, nothing
// left), and the host's own tools (getent, id, stat) see the result.
func TestUserGroupHost(t *testing.T) {
	r := moduletest.Start(t, 1)[0]
	tl := func(t *testing.T, name string, args map[string]any) {
		t.Helper()
		r.Timeline(t, name, args, "/home", "/srv")
	}
	t.Run("group", func(t *testing.T) {
		tl(t, "ansible.builtin.group", map[string]any{"name": "gpuops", "gid": 2345})
		if out := r.Run(t, "getent group gpuops"); out != "gpuops:x:2345:" {
			t.Errorf("getent %q", out)
		}
		tl(t, "group", map[string]any{"name": "gpuops", "gid": 2346})
		res := r.NoChange(t, "group", map[string]any{"name": "gpuops"})
		if res["gid"] != 2346 || res["state"] != "present" {
			t.Errorf("result %v", res)
		}
		tl(t, "group", map[string]any{"name": "svcgrp", "system": true})
		if gid, _ := strconv.Atoi(r.Run(t, "getent group svcgrp | cut -d: -f3")); gid >= 1000 || gid == 0 {
			t.Errorf("system gid %d", gid)
		}
	})
	t.Run("user created", func(t *testing.T) {
		tl(t, "ansible.builtin.user", map[string]any{"name": "deploy2", "uid": 2001, "group": "gpuops", "groups": []any{"sudo", "adm"},
			"shell": "/bin/bash", "comment": "Deploy Two", "password": testHash})
		if out := r.Run(t, "getent passwd deploy2; id -nG deploy2; getent shadow deploy2 | cut -d: -f2; stat -c '%a %U %G' /home/deploy2; ls -A /home/deploy2"); out !=
			"deploy2:x:2001:2346:Deploy Two:/home/deploy2:/bin/bash\ngpuops adm sudo\n"+testHash+"\n755 deploy2 gpuops\n.bash_logout\n.bashrc\n.profile" {
			t.Errorf("host:\n%s", out)
		}
		res := r.NoChange(t, "user", map[string]any{"name": "deploy2", "password": testHash, "groups": "sudo,adm"})
		want := map[string]any{"name": "deploy2", "state": "present", "uid": 2001, "group": 2346, "comment": "Deploy Two",
			"home": "/home/deploy2", "shell": "/bin/bash", "groups": "sudo,adm", "password": "NOT_LOGGING_PASSWORD", "append": false, "move_home": false}
		for k, v := range want {
			if res[k] != v {
				t.Errorf("%s = %v, want %v", k, res[k], v)
			}
		}
	})
	t.Run("groups append then replace", func(t *testing.T) {
		tl(t, "user", map[string]any{"name": "deploy2", "groups": "users", "append": true})
		if out := r.Run(t, "id -nG deploy2"); out != "gpuops adm users sudo" && out != "gpuops adm sudo users" {
			t.Errorf("after append: %q", out)
		}
		tl(t, "user", map[string]any{"name": "deploy2", "groups": []any{"adm"}})
		if out := r.Run(t, "id -nG deploy2"); out != "gpuops adm" {
			t.Errorf("after replace: %q", out)
		}
		tl(t, "user", map[string]any{"name": "deploy2", "groups": ""})
		if out := r.Run(t, "id -nG deploy2"); out != "gpuops" {
			t.Errorf("after empty: %q", out)
		}
	})
	t.Run("fields, lock, password", func(t *testing.T) {
		tl(t, "user", map[string]any{"name": "deploy2", "shell": "/bin/sh", "comment": "D2", "uid": 2002})
		tl(t, "user", map[string]any{"name": "deploy2", "password_lock": true})
		if out := r.Run(t, "getent shadow deploy2 | cut -d: -f2"); out != "!"+testHash {
			t.Errorf("locked %q", out)
		}
		tl(t, "user", map[string]any{"name": "deploy2", "password_lock": false})
		tl(t, "user", map[string]any{"name": "deploy2", "password": "!"})
		r.NoChange(t, "user", map[string]any{"name": "deploy2", "password": "*", "update_password": "on_create"})
		if out := r.Run(t, "getent passwd deploy2; getent shadow deploy2 | cut -d: -f2"); out != "deploy2:x:2002:2346:D2:/home/deploy2:/bin/sh\n!" {
			t.Errorf("host:\n%s", out)
		}
	})
	t.Run("missing home is made again", func(t *testing.T) {
		r.Run(t, "rm -rf /home/deploy2")
		tl(t, "user", map[string]any{"name": "deploy2"})
		if out := r.Run(t, "stat -c '%a %U %G' /home/deploy2; ls -A /home/deploy2 | wc -l"); out != "755 deploy2 gpuops\n3" {
			t.Errorf("home %q", out)
		}
	})
	t.Run("home moves", func(t *testing.T) {
		r.Run(t, "mkdir -p /srv/homes") // usermod -m makes no parents, under Ansible either
		tl(t, "user", map[string]any{"name": "deploy2", "home": "/srv/homes/deploy2", "move_home": true})
		if out := r.Run(t, "test -e /home/deploy2 || echo gone; stat -c %U /srv/homes/deploy2/.bashrc"); out != "gone\ndeploy2" {
			t.Errorf("host %q", out)
		}
	})
	t.Run("system account without home", func(t *testing.T) {
		tl(t, "user", map[string]any{"name": "svc", "system": true, "create_home": false, "shell": "/usr/sbin/nologin", "group": "svcgrp"})
		out := r.Run(t, "id -u svc; test -e /home/svc || echo nohome")
		if uid, _ := strconv.Atoi(strings.Split(out, "\n")[0]); uid >= 1000 || !strings.HasSuffix(out, "nohome") {
			t.Errorf("host %q", out)
		}
	})
	t.Run("user named like a group", func(t *testing.T) {
		tl(t, "user", map[string]any{"name": "gpuops", "create_home": false})
		if out := r.Run(t, "id -gn gpuops"); out != "users" {
			t.Errorf("primary group %q (useradd -N gives the default group)", out)
		}
	})
	t.Run("missing group is known after apply", func(t *testing.T) {
		m := moduletest.New(t, "user", map[string]any{"name": "late", "groups": "nosuchgroup"})
		_, err := m.Check(t.Context(), r.Host)
		var ny *modules.NotYetError
		if !errors.As(err, &ny) || !strings.Contains(err.Error(), "nosuchgroup") {
			t.Errorf("check: %v", err)
		}
	})
	t.Run("removed", func(t *testing.T) {
		tl(t, "user", map[string]any{"name": "deploy2", "state": "absent", "remove": true})
		if out := r.Run(t, "getent passwd deploy2 || echo none; test -e /srv/homes/deploy2 || echo gone"); out != "none\ngone" {
			t.Errorf("host %q", out)
		}
		tl(t, "user", map[string]any{"name": "gpuops", "state": "absent"})
		tl(t, "group", map[string]any{"name": "gpuops", "state": "absent"})
		if out := r.Run(t, "getent group gpuops || echo none"); out != "none" {
			t.Errorf("host %q", out)
		}
	})
}

func TestUserGroupBadArgs(t *testing.T) {
	for _, tc := range []struct {
		module string
		args   map[string]any
		want   string
	}{
		{"user", map[string]any{}, `missing required argument "name"`},
		{"user", map[string]any{"name": "Bad Name"}, "expected lower-case letters"},
		{"user", map[string]any{"name": "a", "password": "secret"}, "not a crypt hash"},
		{"user", map[string]any{"name": "a", "home": "home/a"}, "must be an absolute path"},
		{"user", map[string]any{"name": "a", "uid": "x"}, "uid"},
		{"user", map[string]any{"name": "a", "comment": "a:b"}, "cannot hold ':'"},
		{"user", map[string]any{"name": "a", "state": "gone"}, "expected one of present, absent"},
		{"user", map[string]any{"name": "a", "user": "b"}, `"name" is given twice`},
		{"user", map[string]any{"name": "a", "update_password": "never"}, "expected one of always, on_create"},
		{"user", map[string]any{"name": "a", "state": "absent", "groups": "x"}, "state=absent takes no"},
		{"user", map[string]any{"name": "a", "password": "!", "password_lock": false}, "contradicts"},
		{"group", map[string]any{"name": "g", "non_unique": true}, "non_unique needs gid"},
		{"group", map[string]any{"name": "g", "gid": -1}, "expected a number from 0"},
		{"group", map[string]any{"name": "g:x"}, "expected lower-case letters"},
	} {
		moduletest.BadArgs(t, tc.module, tc.args, tc.want)
	}
}
