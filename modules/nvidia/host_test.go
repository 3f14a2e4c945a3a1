package nvidia

import "github.com/gpuctl/gpuctl/modules"

func newModuleErr(args map[string]any) (modules.Module, error) {
	return modules.New("nvidia_container_toolkit", args)
}
