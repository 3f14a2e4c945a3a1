package generic_test

import (
	"testing"

	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// Bad arguments of getent, package_facts, systemd's status, user's
// password ageing and file's follow are refused before any host is touched.
func TestFacts12BadArgs(t *testing.T) {
	moduletest.BadArgs(t, "getent", map[string]any{}, `missing required argument "database"`)
	moduletest.BadArgs(t, "getent", map[string]any{"database": "passwd; rm -rf /"}, "not a database name")
	moduletest.BadArgs(t, "getent", map[string]any{"database": "passwd", "split": ""}, "split is empty")
	moduletest.BadArgs(t, "getent", map[string]any{"database": "passwd", "service": "files sss"}, "not an NSS service")
	moduletest.BadArgs(t, "getent", map[string]any{"database": "passwd", "fail_key": "maybe"}, "fail_key")
	moduletest.BadArgs(t, "ansible.builtin.package_facts", map[string]any{"manager": "dpkg"}, "Unsupported package managers requested: dpkg")
	moduletest.BadArgs(t, "package_facts", map[string]any{"strategy": "some"}, "strategy")
	moduletest.BadArgs(t, "systemd_service", map[string]any{}, "or a name to read the unit's status")
	moduletest.BadArgs(t, "systemd", map[string]any{"name": "docker*"}, "glob patterns are not supported")
	moduletest.BadArgs(t, "user", map[string]any{"name": "bob", "password_expire_max": -2}, "password_expire_max -2")
	moduletest.BadArgs(t, "user", map[string]any{"name": "bob", "password_expire_warn": "soon"}, "password_expire_warn")
	moduletest.BadArgs(t, "user", map[string]any{"name": "bob", "state": "absent", "password_expire_min": 1}, "state=absent takes no password_expire")
	moduletest.BadArgs(t, "file", map[string]any{"path": "/tmp/x", "follow": "sometimes"}, "follow")
}

// The new arguments and modules load with the values real roles pass
// (templated numbers arrive as strings).
func TestFacts12Args(t *testing.T) {
	moduletest.New(t, "ansible.builtin.getent", map[string]any{"database": "group", "key": "docker", "split": ":"})
	moduletest.New(t, "getent", map[string]any{"database": "passwd", "key": 0, "fail_key": false, "service": "files"})
	moduletest.New(t, "package_facts", map[string]any{"manager": []any{"auto"}, "strategy": "all"})
	moduletest.New(t, "package_facts", map[string]any{"manager": "apt,rpm"})
	moduletest.New(t, "ansible.builtin.systemd_service", map[string]any{"name": "docker"})
	moduletest.New(t, "user", map[string]any{"name": "bob", "password_expire_min": "7", "password_expire_max": "60",
		"password_expire_warn": 7, "password_expire_account_disable": -1})
	moduletest.New(t, "file", map[string]any{"path": "/etc/my.cnf", "mode": "0640", "follow": true, "state": "file"})
}
