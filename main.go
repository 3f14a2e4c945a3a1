// gpuctl provisions bare GPU servers into a Kubernetes GPU cluster and
// serves models on it. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"

	"github.com/gpuctl/gpuctl/cli"
	_ "github.com/gpuctl/gpuctl/modules/all"
)

func main() {
	os.Exit(run())
}

func run() int {
	// client-go logs through klog to stderr ("Unhandled Error" on an
	// unreachable API server); gpuctl reports those errors itself.
	klog.SetLogger(logr.Discard())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first Ctrl-C cancels the run, restore the default handler
	// so a second one exits at once.
	go func() {
		<-ctx.Done()
		stop()
	}()
	root := cli.NewRoot(ctx, cli.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, serveCommand)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ee *cli.ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintln(os.Stderr, "gpuctl:", ee.Err)
		}
		return ee.Code
	}
	fmt.Fprintln(os.Stderr, "gpuctl:", err)
	return 1
}
