// Package cli is gpuctl's command line. Each command is an options struct
// with Complete (fill defaults), Validate (pure) and Run.
package cli

import (
	"context"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
)

// Version is set at build time with -ldflags "-X .../cli.Version=v1.2.3".
var Version = "dev"

// IO bundles the streams commands write to, so tests can capture them.
type IO struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// ServeCommand is provided by the runtime package; it is injected by main
// so the provisioning CLI does not depend on the model server's code.
type ServeCommand func() *cobra.Command

// NewRoot builds the command tree.
func NewRoot(ctx context.Context, streams IO, serve ServeCommand) *cobra.Command {
	var logLevel string
	root := &cobra.Command{
		Use:   "gpuctl",
		Short: "Provision bare GPU servers into a Kubernetes GPU cluster, declaratively",
		Long: `gpuctl runs YAML playbooks of idempotent modules over SSH against hosts from an
Ansible-style inventory, in parallel. --check --diff changes nothing and shows,
per host, exactly what would change.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
				return err
			}
			slog.SetDefault(slog.New(slog.NewTextHandler(streams.Err, &slog.HandlerOptions{Level: lvl})))
			return nil
		},
	}
	root.SetContext(ctx)
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.Err)
	root.PersistentFlags().StringVar(&logLevel, "log-level", envOr("GPUCTL_LOG_LEVEL", "warn"), "log level: debug, info, warn, error")
	root.AddCommand(newRunCmd(streams), newModulesCmd(streams), newDocCmd(streams), newFactsCmd(streams), newVersionCmd(streams), newPlaybooksCmd(streams))
	if serve != nil {
		root.AddCommand(serve())
	}
	return root
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
