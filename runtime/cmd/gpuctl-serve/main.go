// Command gpuctl-serve is `gpuctl serve` on its own, for development and
// for the container image, which needs none of the provisioning engine.
//
// GPUCTL_CPUPROFILE=file writes a Go CPU profile of the whole run (until
// the drain ends), for profiling the served path on a machine that has no
// perf, such as the GPU machine.
package main

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/gpuctl/gpuctl/runtime/servecmd"
)

func main() {
	if path := os.Getenv("GPUCTL_CPUPROFILE"); path != "" {
		stop, err := startProfile(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gpuctl-serve:", err)
			os.Exit(1)
		}
		defer stop()
	}
	cmd := servecmd.NewCommand()
	cmd.Use = "gpuctl-serve"
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		os.Exit(1)
	}
}

func startProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("GPUCTL_CPUPROFILE: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("GPUCTL_CPUPROFILE %s: %w", path, err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
