package main

import "github.com/spf13/cobra"

// serveCommand is wired to the runtime's `gpuctl serve` once it exists.
var serveCommand func() *cobra.Command
