package modules

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

type decodeArgs struct {
	Name    string        `yaml:"name" required:"true"`
	State   string        `yaml:"state" default:"present" choices:"present,absent"`
	Timeout time.Duration `yaml:"timeout" default:"10m"`
	Retries int           `yaml:"retries" default:"3"`
	Force   bool          `yaml:"force"`
	Items   []string      `yaml:"items"`
}

func TestDecode(t *testing.T) {
	var a decodeArgs
	if err := Decode(map[string]any{"name": "x", "force": "yes", "timeout": 30, "items": []any{"a"}}, &a); err != nil {
		t.Fatal(err)
	}
	if a.State != "present" || a.Timeout != 30*time.Second || a.Retries != 3 || !a.Force || a.Items[0] != "a" {
		t.Fatalf("decoded %+v", a)
	}
	var b decodeArgs
	if err := Decode(map[string]any{"name": "x"}, &b); err != nil || b.Timeout != 10*time.Minute {
		t.Fatalf("default duration: %v %+v", err, b)
	}
	for args, want := range map[string]map[string]any{
		`missing required argument "name"`: {},
		`unknown argument`:                 {"name": "x", "bogus": 1},
		`expected one of present, absent`:  {"name": "x", "state": "gone"},
		`not a boolean`:                    {"name": "x", "force": "perhaps"},
		`retries`:                          {"name": "x", "retries": "many"},
	} {
		var c decodeArgs
		err := Decode(want, &c)
		if err == nil || !strings.Contains(err.Error(), args) {
			t.Errorf("Decode(%v) err = %v, want %q", want, err, args)
		}
	}
}

type aliasArgs struct {
	Path  string `yaml:"path" required:"true" aliases:"dest,name"`
	Value string `yaml:"value" aliases:"val"`
}

// Ansible's aliases land in the canonical field; both names at once is an
// error, and the caller's map is left as it was.
func TestDecodeAliases(t *testing.T) {
	in := map[string]any{"dest": "/etc/x", "val": "1"}
	var a aliasArgs
	if err := Decode(in, &a); err != nil {
		t.Fatal(err)
	}
	if a.Path != "/etc/x" || a.Value != "1" {
		t.Fatalf("decoded %+v", a)
	}
	if _, ok := in["path"]; ok || len(in) != 2 {
		t.Errorf("caller's args changed: %v", in)
	}
	var b aliasArgs
	err := Decode(map[string]any{"path": "/a", "name": "/b"}, &b)
	if err == nil || !strings.Contains(err.Error(), `"path" is given twice (as "path" and its alias "name")`) {
		t.Errorf("both names: %v", err)
	}
	if got := argsOf(reflect.TypeOf(aliasArgs{})); len(got[0].Aliases) != 2 || !strings.Contains(got[0].Doc, "aliases: dest, name") {
		t.Errorf("args %+v", got)
	}
}
