package node

import (
	"errors"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

func TestDpkgSelectionsHost(t *testing.T) {
	h := moduletest.Start(t, 1)[0]
	sel := func() string { return h.TH.Run(t, "dpkg --get-selections openssh-server") }
	before := sel()
	if _, err := h.CheckOnly(t, "dpkg_selections", map[string]any{"name": "openssh-server", "selection": "hold"}); err != nil || sel() != before {
		t.Fatalf("check: %v, selections %q then %q", err, before, sel())
	}
	d := h.Timeline(t, "ansible.builtin.dpkg_selections", map[string]any{"name": "openssh-server", "selection": "hold"})
	if !moduletest.HasChange(d, "package:openssh-server", "selection") || strings.Join(strings.Fields(sel()), " ") != "openssh-server hold" {
		t.Errorf("diff:\n%s\nselections %q", moduletest.Describe(d), sel())
	}
	h.Timeline(t, "dpkg_selections", map[string]any{"name": "openssh-server", "selection": "install"})
	if strings.Join(strings.Fields(sel()), " ") != "openssh-server install" {
		t.Errorf("selections %q", sel())
	}
	_, _, err := h.Apply(t, "dpkg_selections", map[string]any{"name": "no-such-pkg", "selection": "hold"})
	if ny := (*modules.NotYetError)(nil); !errors.As(err, &ny) {
		t.Errorf("unknown package: %v, want known after apply", err)
	}
}

func TestDpkgSelectionsBadArgs(t *testing.T) {
	for want, args := range map[string]map[string]any{
		`missing required argument "selection"`: {"name": "kubelet"},
		"expected one of install, hold":         {"name": "kubelet", "selection": "freeze"},
		"not a Debian package name":             {"name": "Kubelet;rm", "selection": "hold"},
	} {
		if _, err := modules.New("dpkg_selections", args); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: %v, want %q", args, err, want)
		}
	}
}
