// Package all links every standard module into the binary; each module
// registers itself in its package's init.
package all

import (
	_ "github.com/gpuctl/gpuctl/modules/generic"
	_ "github.com/gpuctl/gpuctl/modules/kube"
	_ "github.com/gpuctl/gpuctl/modules/modelserver"
	_ "github.com/gpuctl/gpuctl/modules/node"
	_ "github.com/gpuctl/gpuctl/modules/nvidia"
)
