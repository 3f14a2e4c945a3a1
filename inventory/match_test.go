package inventory

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

const patternINI = `
[g]
a
b
c
d
[h:children]
g
[h]
z
[web]
web[1:3].example.com
`

// The expectations are what ansible 2.14's `ansible -i X PATTERN
// --list-hosts` prints for the same inventory, except g[:2], which
// Ansible's documentation promises and its 2.14 code warns about.
func TestSelect(t *testing.T) {
	inv, err := Parse("p.ini", []byte(patternINI))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		pattern, hosts, warning string
	}{
		{"g[0]", "a", ""},
		{"g[-1]", "d", ""},
		{"g[1:2]", "b c", ""},
		{"g[1:]", "b c d", ""},
		{"g[:2]", "a b c", ""},
		{"h", "z a b c d", ""},
		{"h[0]", "z", ""},
		{"all", "z web1.example.com web2.example.com web3.example.com a b c d", ""},
		{"a:&g", "a", ""},
		{"g:!b", "a c d", ""},
		{"!g", "z web1.example.com web2.example.com web3.example.com", ""},
		{"web*.example.com", "web1.example.com web2.example.com web3.example.com", ""},
		{"~web[12]", "web1.example.com web2.example.com", ""},
		{"nope,a", "a", "Could not match supplied host pattern, ignoring: nope"},
		{"nope", "", "Could not match supplied host pattern, ignoring: nope"},
		{"g[9]", "", "No hosts matched the subscripted pattern 'g[9]'"},
		{"localhost", "localhost", ""},
		{"127.0.0.1", "127.0.0.1", ""},
		{"g:localhost", "a b c d localhost", ""},
		{"local*", "", "Could not match supplied host pattern, ignoring: local*"},
	}
	for _, c := range cases {
		hosts, warnings, err := inv.Select(c.pattern)
		if err != nil {
			t.Errorf("%s: %v", c.pattern, err)
			continue
		}
		var names []string
		for _, h := range hosts {
			names = append(names, h.Name)
		}
		if got := strings.Join(names, " "); got != c.hosts {
			t.Errorf("%s: hosts %q, want %q", c.pattern, got, c.hosts)
		}
		if got := strings.Join(warnings, "; "); got != c.warning {
			t.Errorf("%s: warnings %q, want %q", c.pattern, got, c.warning)
		}
	}
	if _, err := inv.Match("nope"); !errors.Is(err, ErrNoMatch) || !strings.Contains(err.Error(), "Could not match supplied host pattern, ignoring: nope") {
		t.Errorf("Match(nope) = %v", err)
	}
}

func TestImplicitLocalhost(t *testing.T) {
	inv, err := Parse("p.ini", []byte("[all:vars]\nntp=pool\n[g]\na\n"))
	if err != nil {
		t.Fatal(err)
	}
	hosts, _, _ := inv.Select("localhost")
	if len(hosts) != 1 {
		t.Fatalf("localhost: %v", hosts)
	}
	lh := hosts[0]
	if !lh.Implicit || lh.Vars["ansible_connection"] != "local" || lh.Vars["ntp"] != "pool" || len(lh.Groups) != 0 {
		t.Errorf("implicit localhost = %+v", lh)
	}
	for _, p := range []string{"all", "*"} {
		hs, _, _ := inv.Select(p)
		for _, h := range hs {
			if h.Name == "localhost" {
				t.Errorf("%s includes the implicit localhost", p)
			}
		}
	}
	if strings.Contains(strings.Join(inv.Groups()["all"], ","), "localhost") {
		t.Error("groups.all includes the implicit localhost")
	}

	// A localhost the inventory defines is an ordinary host, and serves
	// the other localhost names too, as in ansible-core.
	inv, _ = Parse("p.ini", []byte("127.0.0.1 ansible_connection=local own=yes\n"))
	hosts, _, _ = inv.Select("localhost")
	if len(hosts) != 1 || hosts[0].Name != "127.0.0.1" || hosts[0].Implicit {
		t.Errorf("localhost with 127.0.0.1 in inventory: %+v", hosts)
	}
	if all, _, _ := inv.Select("all"); len(all) != 1 {
		t.Errorf("an inventory localhost is in all: %v", all)
	}
}

func TestGroupPriorityAndDepth(t *testing.T) {
	src := `
[a]
h
[b]
h
[a:vars]
v=a
ansible_group_priority=10
[b:vars]
v=b
[parent:children]
child
[child]
h
[parent:vars]
v=parent
d=parent
[child:vars]
d=child
`
	inv, err := Parse("p.ini", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	h, _ := inv.Host("h")
	// a and b share depth 1: the higher priority a wins over b, though b
	// sorts after a by name; child (depth 2) beats parent (depth 1).
	if h.Vars["v"] != "a" || h.Vars["d"] != "child" {
		t.Errorf("v=%v d=%v", h.Vars["v"], h.Vars["d"])
	}
	if _, ok := h.Vars["ansible_group_priority"]; ok {
		t.Error("ansible_group_priority is not a variable in ansible-core")
	}
	if want := []string{"all", "b", "parent", "a", "child"}; !reflect.DeepEqual(h.Groups, want) {
		t.Errorf("groups = %v, want %v", h.Groups, want)
	}
}
