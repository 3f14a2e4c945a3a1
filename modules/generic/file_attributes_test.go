package generic_test

import (
	"testing"

	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// attributes on a real host (lsattr/chattr): +i sets the immutable flag
// on a new file, -i with a mode and state=touch clears it first (kubespray's
// reset role), exact flags; each keeps the timeline (a second run changes
// nothing), and bad flags are refused before any host.
func TestFileAttributes(t *testing.T) {
	moduletest.BadArgs(t, "file", map[string]any{"path": "/x", "state": "touch", "attributes": "+q"}, "'q' is not one of lsattr's flags")
	moduletest.BadArgs(t, "file", map[string]any{"path": "/x", "state": "absent", "attributes": "+i"}, "attributes make no sense with state=absent")
	h := moduletest.Start(t, 1)[0]
	flags := func() string { return h.TH.Run(t, "lsattr -d /srv/locked | cut -d' ' -f1") }
	h.TH.Run(t, "mkdir -p /srv")
	d := h.Timeline(t, "file", map[string]any{"path": "/srv/locked", "state": "touch", "attributes": "+i", "modification_time": "preserve", "access_time": "preserve"}, "/srv")
	if !moduletest.HasChange(d, "file:/srv/locked", "attributes") || flags() != "----i---------e-------" {
		t.Errorf("+i: %s %s", moduletest.Describe(d), flags())
	}
	d = h.Timeline(t, "ansible.builtin.file", map[string]any{"path": "/srv/locked", "state": "file", "attributes": "-i", "mode": "0600"}, "/srv")
	if flags() != "--------------e-------" || h.TH.Run(t, "stat -c %a /srv/locked") != "600" {
		t.Errorf("-i with a mode: %s %s", moduletest.Describe(d), flags())
	}
	h.Timeline(t, "file", map[string]any{"path": "/srv/locked", "attributes": "eA"}, "/srv")
	if flags() != "-------A------e-------" {
		t.Errorf("=eA: %s", flags())
	}
}
