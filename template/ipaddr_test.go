package template

import (
	"reflect"
	"testing"
)

// Values from the ansible.utils ipaddr filter documentation (the
// collection is not part of Debian's ansible-core, so these are not
// recorded from a run).
func TestIPAddrFilters(t *testing.T) {
	e := New()
	cases := map[string]any{
		"'192.168.1.10/24' | ipaddr('address')":              "192.168.1.10",
		"'192.168.1.10/24' | ipaddr('network')":              "192.168.1.0",
		"'192.168.1.10/24' | ipaddr('prefix')":               24,
		"'192.168.1.10/24' | ipaddr('netmask')":              "255.255.255.0",
		"'192.168.1.10/24' | ipaddr('subnet')":               "192.168.1.0/24",
		"'192.168.1.10' | ipaddr":                            "192.168.1.10",
		"'not an ip' | ipaddr":                               false,
		"['192.168.1.1', 'x', '::1'] | ipaddr":               []any{"192.168.1.1", "::1"},
		"['192.168.1.1', '2001:db8::1'] | ipv4":              []any{"192.168.1.1"},
		"['192.168.1.1', '2001:db8::1'] | ipv6":              []any{"2001:db8::1"},
		"'2001:db8::1' | ipwrap":                             "[2001:db8::1]",
		"'192.168.1.1' | ipwrap":                             "192.168.1.1",
		"['2001:db8::1', '10.0.0.1', 'host'] | ipwrap":       []any{"[2001:db8::1]", "10.0.0.1", "host"},
		"'10.0.0.1/8' | ansible.utils.ipaddr('address')":     "10.0.0.1",
		"'10.0.0.1/8' | ansible.netcommon.ipaddr('network')": "10.0.0.0",
		"'10.0.0.1' | ansible.utils.ipv4":                    "10.0.0.1",
		"'fe80::1' | ansible.utils.ipv4":                     false,
	}
	for in, want := range cases {
		got, err := e.Eval(in, map[string]any{})
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", in, got, want)
		}
	}
	if _, err := e.Eval("'10.0.0.1/8' | ipaddr('bogus')", map[string]any{}); err == nil {
		t.Error("an unsupported query must fail")
	}
}
