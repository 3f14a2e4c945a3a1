// Package generic holds the modules every playbook uses, with Ansible's
// argument names and meanings: command, shell, copy, file, lineinfile,
// replace, template, service (systemd), wait_for, reboot, assert, debug and
// set_fact. Each registers itself (also under its ansible.builtin name) in
// init(); import modules/all to get them.
//
// Every module measures the host in Check and returns a plan.Diff; Apply
// carries out exactly that diff, so a second Check after Apply is empty.
// Modules whose effect cannot be observed (command without creates/removes,
// reboot, service restarts) say so through modules.Unverified.
//
// Two capabilities are asked of the engine's Host here rather than in
// package modules, because only these modules need them:
//
//   - Reconnector: reboot drops the connection on purpose and needs the
//     engine to dial the host again.
//   - RawArgs: set_fact takes arbitrary keys. It decodes through
//     modules.New thanks to a ",remain" field, but an engine that wants the
//     arguments untouched (no weak typing) can hand them over directly.
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
