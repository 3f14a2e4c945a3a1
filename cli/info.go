package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/gpuctl/gpuctl/conn/local"
	"github.com/gpuctl/gpuctl/engine"
	"github.com/gpuctl/gpuctl/inventory"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/playbooks"
)

func newModulesCmd(streams IO) *cobra.Command {
	return &cobra.Command{
		Use:   "modules",
		Short: "List every module with a one-line summary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			w := tabwriter.NewWriter(streams.Out, 0, 4, 2, ' ', 0)
			for _, m := range modules.All() {
				name := m.Name
				if len(m.Aliases) > 0 {
					name += " (" + strings.Join(m.Aliases, ", ") + ")"
				}
				fmt.Fprintf(w, "%s\t%s\n", name, m.Summary)
			}
			return w.Flush()
		},
	}
}

func newDocCmd(streams IO) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "doc MODULE",
		Short: "Show a module's arguments, defaults, check-mode behaviour and an example",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := modules.Resolve(args[0])
			if err != nil {
				return &ExitError{Code: 1, Err: err}
			}
			fmt.Fprint(streams.Out, ModuleDoc(spec, format == "markdown"))
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "text or markdown")
	return cmd
}

// ModuleDoc renders a module's documentation from its registration and
// struct tags; docs/modules/*.md are generated with it.
func ModuleDoc(info *modules.Spec, markdown bool) string {
	var b strings.Builder
	h := func(s string) {
		if markdown {
			fmt.Fprintf(&b, "\n## %s\n\n", s)
		} else {
			fmt.Fprintf(&b, "\n%s\n", strings.ToUpper(s))
		}
	}
	if markdown {
		fmt.Fprintf(&b, "# %s\n\n%s\n", info.Name, info.Summary)
	} else {
		fmt.Fprintf(&b, "%s — %s\n", info.Name, info.Summary)
	}
	if len(info.Aliases) > 0 {
		fmt.Fprintf(&b, "\nAliases: %s\n", strings.Join(info.Aliases, ", "))
	}
	h("Arguments")
	args := info.Args()
	if len(args) == 0 {
		b.WriteString("none\n")
	}
	if markdown && len(args) > 0 {
		b.WriteString("| name | type | required | default | choices | description |\n|---|---|---|---|---|---|\n")
	}
	for _, a := range args {
		req := ""
		if a.Required {
			req = "yes"
		}
		doc := a.Doc
		if a.Secret {
			doc += " (secret: masked in output)"
		}
		if markdown {
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s |\n", a.Name, a.Type, req, code(a.Default), strings.Join(a.Choices, ", "), strings.ReplaceAll(doc, "|", "\\|"))
			continue
		}
		fmt.Fprintf(&b, "  %s (%s", a.Name, a.Type)
		if a.Required {
			b.WriteString(", required")
		}
		if a.Default != "" {
			fmt.Fprintf(&b, ", default %s", a.Default)
		}
		if len(a.Choices) > 0 {
			fmt.Fprintf(&b, ", one of %s", strings.Join(a.Choices, "|"))
		}
		fmt.Fprintf(&b, ")\n      %s\n", doc)
	}
	if info.CheckMode != "" {
		h("Check mode")
		b.WriteString(info.CheckMode + "\n")
	}
	if info.Example != "" {
		h("Example")
		if markdown {
			fmt.Fprintf(&b, "```yaml\n%s\n```\n", strings.TrimRight(info.Example, "\n"))
		} else {
			for _, l := range strings.Split(strings.TrimRight(info.Example, "\n"), "\n") {
				fmt.Fprintf(&b, "  %s\n", l)
			}
		}
	}
	return b.String()
}

func code(s string) string {
	if s == "" {
		return ""
	}
	return "`" + s + "`"
}

func newVersionCmd(streams IO) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print gpuctl's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v := Version
			if bi, ok := debug.ReadBuildInfo(); ok {
				fmt.Fprintf(streams.Out, "gpuctl %s (%s)\n", v, bi.GoVersion)
				return nil
			}
			fmt.Fprintf(streams.Out, "gpuctl %s\n", v)
			return nil
		},
	}
}

func newPlaybooksCmd(streams IO) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "playbooks [export DIR]",
		Short: "List the bundled playbooks, or export them for editing",
		Args:  cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 0 || args[0] == "list":
				for _, n := range playbooks.BundledNames() {
					fmt.Fprintln(streams.Out, n)
				}
				return nil
			case args[0] == "export" && len(args) == 2:
				files, err := playbooks.ExportBundled(args[1], force)
				if err != nil {
					return &ExitError{Code: 1, Err: fmt.Errorf("%w (use --force to overwrite)", err)}
				}
				for _, f := range files {
					fmt.Fprintln(streams.Out, f)
				}
				return nil
			}
			return &ExitError{Code: 1, Err: fmt.Errorf("usage: gpuctl playbooks [list | export DIR]")}
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "overwrite existing files when exporting")
	return cmd
}

func newFactsCmd(streams IO) *cobra.Command {
	o := &runOptions{io: streams}
	var format string
	cmd := &cobra.Command{
		Use:   "facts",
		Short: "Gather and print the facts of each host",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.playbook = ""
			pb, inv, err := factsPlaybook(o)
			if err != nil {
				return &ExitError{Code: 1, Err: err}
			}
			facts := map[string]any{}
			var order []string
			rep := engine.ReporterFunc(func(ev engine.Event) {
				if ev.Type == engine.EventTaskResult && ev.Module == "" && ev.Status != engine.StatusOK {
					facts[ev.Host] = map[string]any{"error": ev.Msg}
					order = append(order, ev.Host)
				}
			})
			eng := engine.New(inv, engine.Options{Forks: o.forks, Limit: o.limit, Connector: sshConnector{timeout: o.connectTimeout, gate: newDialGate(defaultMaxHandshakes)}, Local: localConn(), Reporter: rep})
			_, runErr := eng.Run(cmd.Context(), pb)
			for h, f := range eng.Facts() {
				facts[h] = f
			}
			if format == "json" {
				enc := json.NewEncoder(streams.Out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(facts); err != nil {
					return err
				}
			} else {
				keys := make([]string, 0, len(facts))
				for k := range facts {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				for _, k := range keys {
					out, err := yaml.Marshal(map[string]any{k: facts[k]})
					if err != nil {
						return err
					}
					streams.Out.Write(out)
				}
			}
			if runErr != nil {
				return &ExitError{Code: 1, Err: runErr}
			}
			return nil
		},
	}
	o.invFlags.add(cmd.Flags())
	cmd.Flags().StringVarP(&o.limit, "limit", "l", "", "limit hosts to a pattern")
	cmd.Flags().IntVarP(&o.forks, "forks", "f", 10, "hosts to work on at once")
	cmd.Flags().StringVarP(&format, "output", "o", "yaml", "yaml or json")
	cmd.Flags().DurationVar(&o.connectTimeout, "timeout", 15e9, "SSH connect timeout")
	return cmd
}

// factsPlaybook is an empty play over all hosts: gathering facts is all it does.
func factsPlaybook(o *runOptions) (*playbooks.Playbook, *inventory.Inventory, error) {
	if err := o.invFlags.loadVault(context.Background(), o.io); err != nil {
		return nil, nil, err
	}
	inv, err := o.invFlags.load("")
	if err != nil {
		return nil, nil, err
	}
	if o.limit, err = inventory.ExpandLimitFiles(o.limit); err != nil {
		return nil, nil, fmt.Errorf("--limit: %w", err)
	}
	yes := true
	return &playbooks.Playbook{Plays: []*playbooks.Play{{Name: "facts", Hosts: "all", GatherFacts: &yes}}}, inv, nil
}

func localConn() *local.Conn { return local.New() }
