// Package generic holds the modules every playbook uses, with Ansible's
// argument names and meanings: command, shell, copy, file, lineinfile,
// replace, template, service (systemd), wait_for, reboot, assert, debug and
// set_fact. Each registers itself in init() (the playbook loader strips
// ansible.builtin. and friends); import modules/all to get them.
//
// Every module measures the host in Check and returns a plan.Diff; Apply
// carries out exactly that diff, so a second Check after Apply is empty.
// Modules whose effect cannot be observed (command without creates/removes,
// reboot, service restarts) say so through modules.Unverified.
//
// Two optional interfaces live here rather than in package modules,
// because only these modules need them:
//
//   - Reconnector: reboot drops the connection on purpose and needs the
//     engine to dial the host again.
//   - RawArgs, implemented by set_fact, which takes arbitrary keys: the
//     engine hands them over untouched instead of strict decoding. It also
//     decodes through modules.New thanks to a ",remain" field.
package generic

import "context"

// Reconnector is implemented by an engine Host that can drop and re-dial
// its connection. After Reconnect returns nil, Host.Conn returns the new
// connection. reboot fails with a clear error on a Host without it.
type Reconnector interface {
	Reconnect(ctx context.Context) error
}

// RawArgs is implemented by modules that accept arbitrary argument names
// (set_fact). An engine may call SetRawArgs with the task's rendered
// arguments instead of modules.Decode; Validate must still be called after.
type RawArgs interface {
	SetRawArgs(args map[string]any) error
}
