package inventory

import (
	"errors"
	"strings"
	"testing"
)

const sample = `
all:
  vars:
    ansible_user: ubuntu
    tier: base
  hosts:
    bastion:
      ansible_host: 10.0.0.1
  children:
    k8s:
      vars:
        tier: k8s
      children:
        control_plane:
          hosts:
            cp1:
              ansible_host: 10.0.0.10
        gpu:
          vars:
            tier: gpu
          hosts:
            gpu1:
              ansible_host: 10.0.0.11
              tier: special
            gpu2:
`

func TestParseVarsPrecedence(t *testing.T) {
	inv, err := Parse("hosts.yaml", []byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"bastion": "base", "cp1": "k8s", "gpu1": "special", "gpu2": "gpu"}
	for h, tier := range want {
		host, ok := inv.Host(h)
		if !ok {
			t.Fatalf("host %s missing", h)
		}
		if host.Vars["tier"] != tier {
			t.Errorf("%s tier = %v, want %s", h, host.Vars["tier"], tier)
		}
		if host.Vars["ansible_user"] != "ubuntu" {
			t.Errorf("%s ansible_user = %v", h, host.Vars["ansible_user"])
		}
	}
}

func TestMatch(t *testing.T) {
	inv, err := Parse("hosts.yaml", []byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"all":                "bastion,cp1,gpu1,gpu2",
		"k8s":                "cp1,gpu1,gpu2",
		"k8s:!gpu":           "cp1",
		"gpu:cp1":            "gpu1,gpu2,cp1",
		"k8s:&gpu":           "gpu1,gpu2",
		"gpu*":               "gpu1,gpu2",
		"bastion,gpu1":       "bastion,gpu1",
		"all:!bastion:!gpu2": "cp1,gpu1",
	}
	for p, want := range cases {
		hs, err := inv.Match(p)
		if err != nil {
			t.Errorf("Match(%q): %v", p, err)
			continue
		}
		var names []string
		for _, h := range hs {
			names = append(names, h.Name)
		}
		if got := strings.Join(names, ","); got != want {
			t.Errorf("Match(%q) = %s, want %s", p, got, want)
		}
	}
	if _, err := inv.Match("nosuch"); !errors.Is(err, ErrNoMatch) {
		t.Errorf("Match(nosuch) err = %v", err)
	}
}

func TestParseErrorsNameLine(t *testing.T) {
	bad := map[string]string{
		"all:\n  hosts: [a, b]\n":      "hosts.yaml:2:10",
		"all:\n  hostz:\n    a:\n":     "hosts.yaml:2:3",
		"all:\n  hosts:\n    a: [1]\n": "hosts.yaml:3:8",
		"all:\n  hosts:\n  a: : :\n":   "hosts.yaml",
	}
	for src, want := range bad {
		_, err := Parse("hosts.yaml", []byte(src))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) err = %v, want mention of %s", src, err, want)
		}
	}
}
