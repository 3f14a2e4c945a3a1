package inventory

import (
	"reflect"
	"strings"
	"testing"
)

func TestINIHostsAndVars(t *testing.T) {
	src := `
; comment
# comment
solo ansible_host=10.0.0.9 port=22

[gpu]
node[01:03] gpus=8 mig=True ratio=0.5 name="two words" single='it is' raw=yes
rack[a:c]
odd[1:7:3]
web.example.com:2222
[2001:db8::1]:2200
10.1.0.[1:2]

[gpu:vars]
driver = 550
quoted = "it's"
list = [1, 'two']
dict = {'a': 1}
tuple = 1, 2
octal = 0755
hex = 0x1F
none = None
truthy = true
spaced = a b # not a comment in vars

[all:children]
gpu
`
	inv, err := Parse("hosts", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, h := range inv.Hosts() {
		names = append(names, h.Name)
	}
	want := "solo node01 node02 node03 racka rackb rackc odd1 odd4 odd7 web.example.com 2001:db8::1 10.1.0.1 10.1.0.2"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("hosts:\n got  %s\n want %s", got, want)
	}
	n1, _ := inv.Host("node01")
	checks := map[string]any{
		"gpus": 8, "mig": true, "ratio": 0.5, "name": "two words", "single": "it is", "raw": "yes",
		"driver": 550, "quoted": "it's", "list": []any{1, "two"}, "dict": map[string]any{"a": 1},
		"tuple": []any{1, 2}, "octal": "0755", "hex": 31, "none": nil, "truthy": "true",
		"spaced": "a b # not a comment in vars",
	}
	for k, v := range checks {
		if !reflect.DeepEqual(n1.Vars[k], v) {
			t.Errorf("node01 %s = %#v, want %#v", k, n1.Vars[k], v)
		}
	}
	for host, port := range map[string]int{"web.example.com": 2222, "2001:db8::1": 2200} {
		h, _ := inv.Host(host)
		if h.Vars["ansible_port"] != port {
			t.Errorf("%s ansible_port = %v, want %d", host, h.Vars["ansible_port"], port)
		}
	}
	solo, _ := inv.Host("solo")
	if !reflect.DeepEqual(solo.Groups, []string{"all", "ungrouped"}) || solo.Vars["ansible_host"] != "10.0.0.9" {
		t.Errorf("solo = %+v", solo)
	}
}

func TestINIChildrenDeclaredLater(t *testing.T) {
	src := "[k8s:children]\nmasters\nworkers\n\n[k8s:vars]\ntier=k8s\n\n[masters]\nm1\n\n[workers:children]\ngpu\n\n[gpu]\ng1\n"
	inv, err := Parse("hosts", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	got := inv.Groups()["k8s"]
	if strings.Join(got, ",") != "m1,g1" {
		t.Errorf("k8s = %v", got)
	}
	g1, _ := inv.Host("g1")
	if g1.Vars["tier"] != "k8s" || !reflect.DeepEqual(g1.Groups, []string{"all", "k8s", "workers", "gpu"}) {
		t.Errorf("g1 = %+v", g1)
	}
}

func TestINIErrorsNameFileAndLine(t *testing.T) {
	cases := []struct{ src, want string }{
		{"[web\nhost1\n", `hosts.ini:1: host "[web": unbalanced [ ] in range`},
		{"[web:hosts extra]\n", "hosts.ini:1: invalid section entry"},
		{"[web:bogus]\n", "hosts.ini:1: section [web:bogus] has unknown type"},
		{"[web]\nh1 novalue\n", "hosts.ini:2: expected key=value host variable assignment, got: novalue"},
		{"[web]\nh1 a=\"open\n", "hosts.ini:2: error parsing host definition"},
		{"\n\n[web:vars]\njust a line\n", "hosts.ini:4: expected key=value, got: just a line"},
		{"[web:children]\nbad child\n", "hosts.ini:2: expected group name, got: bad child"},
		{"[web]\nh1\n[ghost:vars]\na=1\n", "hosts.ini:3: section [ghost:vars] not valid for undefined group: ghost"},
		{"[web:children]\nghost\n", "hosts.ini:2: section [web:children] includes undefined group: ghost"},
		{"[web]\nnode[1:3:0]\n", "hosts.ini:2: host \"node[1:3:0]\": range step"},
		{"[web]\nnode[01:100]\n", "hosts.ini:2: host \"node[01:100]\": host range must specify equal-length"},
		{"[web]\nnode[c:a]\n", "hosts.ini:2: host \"node[c:a]\": host range must have begin <= end"},
		{"[web]\nnode[1]\n", "hosts.ini:2: host \"node[1]\": host range must be begin:end"},
		{"[web]\nnode:\n", "hosts.ini:2: invalid host pattern \"node:\""},
		{"---\n", "hosts.ini:1: invalid host pattern '---'"},
		{"[a:children]\nb\n[b:children]\na\n", "hosts.ini:4: adding group \"a\" as child to \"b\" creates a recursive dependency loop"},
	}
	for _, c := range cases {
		_, err := Parse("hosts.ini", []byte(c.src))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q):\n got  %v\n want %s", c.src, err, c.want)
		}
	}
}

func TestPyLiteral(t *testing.T) {
	cases := map[string]any{
		"42": 42, "-7": -7, "1_000": 1000, "0o17": 15, "0b101": 5, "0": 0, "00": 0,
		"0755": "0755", "1.5": 1.5, "1e3": 1000.0, "-0.5": -0.5,
		"True": true, "False": false, "None": nil, "true": "true", "yes": "yes",
		"'a'": "a", `"b c"`: "b c", `'x' "y"`: "xy", `'it\'s'`: "it's",
		"[1, 2,]": []any{1, 2}, "(1)": 1, "(1,)": []any{1}, "()": []any{},
		"{'k': [True]}": map[string]any{"k": []any{true}}, "{1, 2}": "{1, 2}",
		"1,": []any{1}, "a b": "a b", "'open": "'open", "": "", "abc": "abc", "10.0.0.1": "10.0.0.1",
	}
	for in, want := range cases {
		if got := pyLiteral(in); !reflect.DeepEqual(got, want) {
			t.Errorf("pyLiteral(%q) = %#v, want %#v", in, got, want)
		}
	}
}

func TestShlexSplit(t *testing.T) {
	cases := map[string][]string{
		`h a=1 b="x y" c='p q'`: {"h", "a=1", "b=x y", "c=p q"},
		`h a="say \"hi\""`:      {"h", `a=say "hi"`},
		`h a=x\ y # comment`:    {"h", "a=x y"},
		`h#tail`:                {"h"},
		`h a="#not"`:            {"h", "a=#not"},
		`h a=""`:                {"h", "a="},
	}
	for in, want := range cases {
		got, err := shlexSplit(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("shlexSplit(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
