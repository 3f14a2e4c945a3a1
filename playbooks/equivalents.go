package playbooks

import "fmt"

// equivalents says what to write in gpuctl for an Ansible module it does
// not have under that name. Consulted only when the module is not
// registered, so a module added later simply takes over its name.
var equivalents = map[string]string{
	"docker_container": "`containerd`/`image_import` for images; run containers as Kubernetes pods",
}

func equivalentHint(module string) string {
	if h, ok := equivalents[module]; ok {
		return fmt.Sprintf("; in gpuctl use %s", h)
	}
	return ""
}
