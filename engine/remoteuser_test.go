package engine

import (
	"testing"

	"github.com/gpuctl/gpuctl/inventory"
	"github.com/gpuctl/gpuctl/playbooks"
)

// A play's remote_user is the SSH user of hosts whose inventory names
// none; ansible_user in the inventory wins, as in Ansible.
func TestRemoteUserBelowInventory(t *testing.T) {
	inv, err := inventory.Parse("inv.ini", []byte("a\nb ansible_user=deploy\n"))
	if err != nil {
		t.Fatal(err)
	}
	e := New(inv, Options{})
	play := &playbooks.Play{Name: "p", RemoteUser: "root"}
	for host, want := range map[string]string{"a": "root", "b": "deploy"} {
		h, _ := inv.Host(host)
		if got := sshUser(e.connVars(play, h)); got != want {
			t.Errorf("%s: user %q, want %q", host, got, want)
		}
	}
	h, _ := inv.Host("a")
	if got := sshUser(e.connVars(&playbooks.Play{}, h)); got != "" {
		t.Errorf("no remote_user: %q", got)
	}
}
