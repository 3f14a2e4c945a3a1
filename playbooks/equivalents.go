package playbooks

import "fmt"

// equivalents says what to write in gpuctl for an Ansible module it does
// not have under that name. Consulted only when the module is not
// registered, so a module added later simply takes over its name.
var equivalents = map[string]string{
	"sysctl":           "`kernel` sets sysctls persistently: kernel: {name: NAME, modules: [], sysctls: {KEY: VALUE}}",
	"modprobe":         "`kernel` loads modules now and at boot: kernel: {name: NAME, modules: [MOD], sysctls: {}}",
	"systemd":          "`service` (name, state, enabled, daemon_reload)",
	"systemd_service":  "`service` (name, state, enabled, daemon_reload)",
	"package":          "`apt` (gpuctl manages Debian and Ubuntu hosts)",
	"mount":            "`lineinfile` on /etc/fstab plus `command: mount -a`",
	"docker_container": "`containerd`/`image_import` for images; run containers as Kubernetes pods",
	"raw":              "`command` or `shell`",
}

func equivalentHint(module string) string {
	if h, ok := equivalents[module]; ok {
		return fmt.Sprintf("; in gpuctl use %s", h)
	}
	return ""
}
