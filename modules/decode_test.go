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

type boolChoiceArgs struct {
	Redirects string            `yaml:"follow_redirects" default:"safe" choices:"all,no,none,safe,urllib2,yes"`
	Both      string            `yaml:"both" choices:"yes,y,no"`
	Line      string            `yaml:"line"`
	Headers   map[string]string `yaml:"headers"`
}

// A YAML boolean given to a string argument becomes Python's True or False,
// and ansible-core's choices check maps it to the one boolean word among the
// choices (uri follow_redirects: false is "no"); with two such words it stays
// ambiguous and fails, as in Ansible; an int is its digits, not a boolean.
func TestDecodeBoolToStringLikeAnsible(t *testing.T) {
	var a boolChoiceArgs
	if err := Decode(map[string]any{"follow_redirects": false, "line": true, "headers": map[string]any{"X-On": false}}, &a); err != nil {
		t.Fatal(err)
	}
	if a.Redirects != "no" || a.Line != "True" || a.Headers["X-On"] != "False" {
		t.Errorf("decoded %+v", a)
	}
	var b boolChoiceArgs
	if err := Decode(map[string]any{"follow_redirects": true}, &b); err != nil || b.Redirects != "yes" {
		t.Errorf("true: %v %+v", err, b)
	}
	for want, args := range map[string]map[string]any{
		`"follow_redirects" is "0"; expected one of all, no, none, safe, urllib2, yes`: {"follow_redirects": 0},
		`"both" is "True"; expected one of yes, y, no`:                                 {"both": true},
	} {
		var c boolChoiceArgs
		if err := Decode(args, &c); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Decode(%v) err = %v, want %q", args, err, want)
		}
	}
}

// A free-form line (`apt: update_cache=yes cache_valid_time=600`) hands every
// value over as a string; Ansible reads a bare number as seconds there too.
func TestDecodeDurationStrings(t *testing.T) {
	for in, want := range map[any]time.Duration{
		"600":  600 * time.Second,
		" 1.5": 1500 * time.Millisecond,
		600:    600 * time.Second,
		"10m":  10 * time.Minute,
		"1h5s": time.Hour + 5*time.Second,
	} {
		var a decodeArgs
		if err := Decode(map[string]any{"name": "x", "timeout": in}, &a); err != nil || a.Timeout != want {
			t.Errorf("timeout %#v: got %v, %v; want %v", in, a.Timeout, err, want)
		}
	}
	for _, in := range []string{"600x", "soon", "10 minutes"} {
		var a decodeArgs
		if err := Decode(map[string]any{"name": "x", "timeout": in}, &a); err == nil {
			t.Errorf("timeout %q: decoded as %v, want an error", in, a.Timeout)
		}
	}
}
