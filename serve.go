package main

import (
	"github.com/spf13/cobra"

	"github.com/gpuctl/gpuctl/runtime/servecmd"
)

// serveCommand is the model server's `gpuctl serve`, kept in runtime/.
func serveCommand() *cobra.Command { return servecmd.NewCommand() }
