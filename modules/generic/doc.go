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
// reboot needs the Host's modules.Reconnector capability; set_fact takes
// arbitrary keys (modules.Info.AnyKeys) into a ",remain" map.
package generic
