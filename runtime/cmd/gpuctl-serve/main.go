// Command gpuctl-serve is `gpuctl serve` on its own, for development and
// for the container image, which needs none of the provisioning engine.
package main

import (
	"context"
	"os"

	"github.com/gpuctl/gpuctl/runtime/servecmd"
)

func main() {
	cmd := servecmd.NewCommand()
	cmd.Use = "gpuctl-serve"
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		os.Exit(1)
	}
}
