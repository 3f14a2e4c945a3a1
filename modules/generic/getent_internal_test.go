package generic

import (
	"encoding/json"
	"testing"
)

// parseGetent keeps Ansible's shapes: fields after the key, ':' or
// whitespace, and a key seen twice turning into a list of field lists.
func TestParseGetent(t *testing.T) {
	tests := []struct {
		name, out, sep, want string
	}{
		{"passwd", "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n", ":",
			`{"nobody":["x","65534","65534","nobody","/nonexistent","/usr/sbin/nologin"],"root":["x","0","0","root","/root","/bin/bash"]}`},
		{"group with empty members", "docker:x:999:\n", ":", `{"docker":["x","999",""]}`},
		{"hosts, whitespace", "127.0.0.1       localhost\n::1             localhost ip6-localhost ip6-loopback\n", "",
			`{"127.0.0.1":["localhost"],"::1":["localhost","ip6-localhost","ip6-loopback"]}`},
		{"a key twice, then thrice", "127.0.0.1 a\n127.0.0.1 b\n127.0.0.1 c\n10.0.0.1 d\n10.0.0.1 e\n", "",
			`{"10.0.0.1":[["d"],["e"]],"127.0.0.1":[["a"],["b"],["c"]]}`},
		{"split given", "a,b,c\n", ",", `{"a":["b","c"]}`},
		{"nothing", "", ":", `{}`},
	}
	for _, tt := range tests {
		b, _ := json.Marshal(parseGetent(tt.out, tt.sep))
		if string(b) != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, b, tt.want)
		}
	}
}

func TestGetentSeparator(t *testing.T) {
	comma := ","
	for _, tt := range []struct {
		m    Getent
		want string
	}{
		{Getent{Database: "passwd"}, ":"},
		{Getent{Database: "gshadow"}, ":"},
		{Getent{Database: "hosts"}, ""},
		{Getent{Database: "passwd", Split: &comma}, ","},
	} {
		if got := tt.m.separator(); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.m.Database, got, tt.want)
		}
	}
}
