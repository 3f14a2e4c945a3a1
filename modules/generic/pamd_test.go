package generic

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/gpuctl/gpuctl/internal/ansibletest"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// The stamp line differs by the second the file was written.
var pamdStamp = regexp.MustCompile(`(?m)^# Updated by Ansible - .*$`)

// Same file, same changed and change_count as community.general.pamd, on
// Debian 12's own sshd and common-auth (testdata/pamd): dev-sec's
// ssh_hardening task, and each state.
func TestPamdLikeAnsible(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		args       map[string]any
	}{
		{"absent, two rules (ssh_hardening)", "sshd", map[string]any{"type": "session", "control": "optional", "module_path": "pam_motd.so", "state": "absent"}},
		{"absent, none", "sshd", map[string]any{"type": "session", "control": "optional", "module_path": "pam_nothere.so", "state": "absent"}},
		{"updated control", "sshd", map[string]any{"type": "session", "control": "required", "module_path": "pam_limits.so", "new_control": "requisite"}},
		{"updated args", "sshd", map[string]any{"type": "session", "control": "optional", "module_path": "pam_keyinit.so", "module_arguments": []any{"force"}}},
		{"updated args, same", "sshd", map[string]any{"type": "session", "control": "optional", "module_path": "pam_keyinit.so", "module_arguments": []any{"force", "revoke"}}},
		{"bracketed control", "common-auth", map[string]any{"type": "auth", "control": "[success=1 default=ignore]", "module_path": "pam_unix.so", "new_module_path": "pam_unix2.so"}},
		{"args_present", "sshd", map[string]any{"type": "session", "control": "required", "module_path": "pam_env.so", "module_arguments": []any{"user_readenv=0", "debug"}, "state": "args_present"}},
		{"args_present, there", "sshd", map[string]any{"type": "session", "control": "optional", "module_path": "pam_keyinit.so", "module_arguments": []any{"force"}, "state": "args_present"}},
		{"args_absent", "sshd", map[string]any{"type": "session", "control": "optional", "module_path": "pam_mail.so", "module_arguments": []any{"noenv"}, "state": "args_absent"}},
		{"before, over comments", "sshd", map[string]any{"type": "session", "control": "required", "module_path": "pam_loginuid.so", "new_type": "session", "new_control": "optional", "new_module_path": "pam_umask.so", "state": "before"}},
		{"after", "common-auth", map[string]any{"type": "auth", "control": "requisite", "module_path": "pam_deny.so", "new_type": "auth", "new_control": "optional", "new_module_path": "pam_faildelay.so", "module_arguments": []any{"delay=4000000"}, "state": "after"}},
		{"after, last rule", "common-auth", map[string]any{"type": "auth", "control": "required", "module_path": "pam_permit.so", "new_type": "auth", "new_control": "optional", "new_module_path": "pam_cap.so", "state": "after"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join("testdata", "pamd", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			var dirs [2]string
			var res [2]map[string]any
			for i := range dirs {
				dirs[i] = t.TempDir()
				if err := os.WriteFile(filepath.Join(dirs[i], tc.file), src, 0o644); err != nil {
					t.Fatal(err)
				}
				args := map[string]any{"name": tc.file, "path": dirs[i]}
				for k, v := range tc.args {
					args[k] = v
				}
				if i == 0 {
					res[i] = ansibletest.Run(t, "community.general.pamd", args, false)
					continue
				}
				h := moduletest.Local()
				d, r, err := moduletest.Apply(t, h, "pamd", args)
				if err != nil {
					t.Fatal(err)
				}
				r["changed"] = !d.Empty()
				res[i] = r
				moduletest.NoChange(t, h, "pamd", args)
			}
			theirs, _ := os.ReadFile(filepath.Join(dirs[0], tc.file))
			ours, _ := os.ReadFile(filepath.Join(dirs[1], tc.file))
			if a, b := pamdStamp.ReplaceAll(ours, nil), pamdStamp.ReplaceAll(theirs, nil); string(a) != string(b) {
				t.Errorf("gpuctl:\n%s\nansible:\n%s", ours, theirs)
			}
			for _, k := range []string{"changed", "change_count"} {
				if !ansibletest.Same(res[1][k], res[0][k]) {
					t.Errorf("%s: gpuctl %v, ansible %v", k, res[1][k], res[0][k])
				}
			}
		})
	}
}

func TestPamdBadArgs(t *testing.T) {
	base := func(extra map[string]any) map[string]any {
		a := map[string]any{"name": "sshd", "type": "session", "control": "optional", "module_path": "pam_motd.so"}
		for k, v := range extra {
			a[k] = v
		}
		return a
	}
	for _, tc := range []struct {
		args map[string]any
		want string
	}{
		{base(map[string]any{"state": "before", "new_type": "session"}), "missing: new_control, new_module_path"},
		{base(map[string]any{"state": "args_present"}), "missing: module_arguments"},
		{base(map[string]any{"state": "args_present", "module_arguments": []any{"[a=b]"}}), "bracketed"},
		{base(map[string]any{"type": "sesion"}), "type"},
		{base(map[string]any{"name": "../sshd"}), "service file name"},
		{base(map[string]any{"path": "pam.d"}), "absolute"},
	} {
		moduletest.BadArgs(t, "pamd", tc.args, tc.want)
	}
}

// On a real host: dev-sec's task on Debian's own /etc/pam.d/sshd, under
// the module contract, and sshd still lets root in after it.
func TestPamdHost(t *testing.T) {
	r := moduletest.Start(t, 1)[0]
	args := map[string]any{"name": "sshd", "type": "session", "control": "optional", "module_path": "pam_motd.so", "state": "absent", "backup": true}
	_, res, err := r.Apply(t, "pamd", args)
	if err != nil {
		t.Fatal(err)
	}
	backup, _ := res["backupdest"].(string)
	if res["change_count"] != 2 || backup == "" {
		t.Fatalf("result %v", res)
	}
	// The file back as Debian ships it, for the contract.
	r.Run(t, "mv "+backup+" /etc/pam.d/sshd")
	delete(args, "backup")
	r.Timeline(t, "pamd", args)
	if out := r.Run(t, "grep -c pam_motd /etc/pam.d/sshd; sed -n 2p /etc/pam.d/sshd | cut -c1-20"); out != "0\n# Updated by Ansible" {
		t.Errorf("sshd after: %q", out)
	}
	// A new login (Run dials again) still passes the edited PAM stack.
	if out := r.Run(t, "echo in"); out != "in" {
		t.Errorf("login after the edit: %q", out)
	}
}
