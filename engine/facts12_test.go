package engine_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/engine"
)

// getent reads only: under --check it runs as in a real run, reports no
// change, and its facts reach later tasks under ansible_facts and as
// variables of their own, as in Ansible (a later getent of the same
// database replaces the earlier one's fact).
func TestGetentInCheckMode(t *testing.T) {
	pb := `
- hosts: a
  gather_facts: false
  tasks:
    - ansible.builtin.getent: {database: passwd}
    - name: group root
      ansible.builtin.getent: {database: group, key: root, split: ":"}
      register: gr
    - name: missing key, fail_key false
      getent: {database: group, key: no-such-group-gpuctl, fail_key: false}
      register: missing
    - assert:
        that:
          - ansible_facts.getent_passwd.root[1] == '0'
          - getent_passwd.root[4] == '/root'
          - gr.ansible_facts.getent_group.root[1] == '0'
          - gr is not changed
          - ansible_facts.getent_group | length == 1
          - ansible_facts.getent_group['no-such-group-gpuctl'] is none
          - missing.msg == 'One or more supplied key could not be found in the database.'
    - name: a key that is not there fails, as in Ansible
      getent: {database: passwd, key: no-such-user-gpuctl}
      ignore_errors: true
      register: nokey
    - assert:
        that: nokey is failed and 'could not be found' in nokey.msg
`
	recap, rec, err := run(t, pb, engine.Options{Check: true})
	if err != nil {
		t.Fatal(err)
	}
	if c := recap.Hosts["a"]; c.Failed != 0 || c.Changed != 0 || c.Unknown != 0 || c.Ignored != 1 {
		t.Fatalf("recap %+v\n%s", *c, strings.Join(rec.results(), "\n"))
	}
}

// package_facts likewise, on this machine's dpkg database (apt-cache reads
// the whole cache: seconds, so not in -short).
func TestPackageFactsInCheckMode(t *testing.T) {
	if testing.Short() {
		t.Skip("apt-cache over every installed package")
	}
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		t.Skip("package_facts needs dpkg-query on this machine")
	}
	pb := `
- hosts: a
  gather_facts: false
  tasks:
    - ansible.builtin.package_facts: {manager: auto}
      register: pf
    - assert:
        that:
          - ansible_facts.packages['dpkg'][0].source == 'apt'
          - ansible_facts.packages['dpkg'][0].name == 'dpkg'
          - packages['dpkg'][0].version == pf.ansible_facts.packages['dpkg'][0].version
          - pf is not changed
`
	recap, rec, err := run(t, pb, engine.Options{Check: true})
	if err != nil {
		t.Fatal(err)
	}
	if c := recap.Hosts["a"]; c.Failed != 0 || c.Changed != 0 || c.Unknown != 0 {
		t.Fatalf("recap %+v\n%s", *c, strings.Join(rec.results(), "\n"))
	}
}
