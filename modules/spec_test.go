package modules

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/plan"
)

// specFree is a module with a free-form argument, a secret and a default
// that Provision fills in from another argument.
type specFree struct {
	Cmd   string `yaml:"cmd" required:"true"`
	Chdir string `yaml:"chdir"`
	Token string `yaml:"token" secret:"true"`
	Dir   string `yaml:"dir"`
}

func (m *specFree) Provision() {
	if m.Dir == "" {
		m.Dir = m.Chdir
	}
}
func (m *specFree) Validate() error {
	if m.Cmd == "fail" {
		return errors.New("told to fail with " + m.Token)
	}
	return nil
}
func (m *specFree) Check(context.Context, Host) (plan.Diff, error) { return plan.Diff{}, nil }
func (m *specFree) Apply(context.Context, Host, plan.Diff) error   { return nil }

type specAny struct {
	Rest map[string]any `yaml:",remain"`
}

func (m *specAny) Validate() error                                { return nil }
func (m *specAny) Check(context.Context, Host) (plan.Diff, error) { return plan.Diff{}, nil }
func (m *specAny) Apply(context.Context, Host, plan.Diff) error   { return nil }

func init() {
	Register(Info{Name: "spectest_free", FreeForm: "cmd", New: func() Module { return &specFree{} }})
	Register(Info{Name: "spectest_any", AnyKeys: true, New: func() Module { return &specAny{} }})
}

func TestResolve(t *testing.T) {
	for _, name := range []string{"spectest_free", "ansible.builtin.spectest_free", "community.general.spectest_free", "gpuctl.spectest_free"} {
		s, err := Resolve(name)
		if err != nil || s.Name != "spectest_free" {
			t.Errorf("Resolve(%q) = %v, %v", name, s, err)
		}
	}
	_, err := Resolve("ansible.builtin.spectest_fre")
	if !errors.Is(err, ErrUnknownModule) || !strings.Contains(err.Error(), `did you mean "spectest_free"`) {
		t.Errorf("typo: %v", err)
	}
}

func TestSpecParseKV(t *testing.T) {
	free, _ := Resolve("spectest_free")
	got := free.ParseKV(`echo 'a b' x=1 chdir=/tmp "{{ v }}"`)
	want := map[string]any{"cmd": `echo 'a b' x=1 "{{ v }}"`, "chdir": "/tmp"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("free form: %v, want %v", got, want)
	}
	anyk, _ := Resolve("spectest_any")
	if got := anyk.ParseKV(`a=1 b='x y'`); !reflect.DeepEqual(got, map[string]any{"a": "1", "b": "x y"}) {
		t.Errorf("key=value: %v", got)
	}
}

func TestSpecCheckKeysAndBuild(t *testing.T) {
	free, _ := Resolve("spectest_free")
	if err := free.CheckKeys(map[string]any{"cmd": "x", "bogus": 1}); err == nil || !strings.Contains(err.Error(), `unknown argument "bogus"`) {
		t.Errorf("unknown key: %v", err)
	}
	anyk, _ := Resolve("spectest_any")
	if err := anyk.CheckKeys(map[string]any{"whatever": []any{1}}); err != nil {
		t.Errorf("any keys: %v", err)
	}
	m, secrets, err := free.Build(map[string]any{"cmd": "ls", "chdir": "/srv", "token": "s3cret"})
	if err != nil || !reflect.DeepEqual(secrets, []string{"s3cret"}) || m.(*specFree).Dir != "/srv" {
		t.Errorf("build: %v %v %+v", err, secrets, m)
	}
	// The secret comes back with the error, which may quote it.
	if _, secrets, err := free.Build(map[string]any{"cmd": "fail", "token": "s3cret"}); err == nil || len(secrets) != 1 {
		t.Errorf("failing build: %v %v", err, secrets)
	}
	m, _, err = anyk.Build(map[string]any{"n": 3, "l": []any{"a", map[string]any{"k": true}}})
	want := map[string]any{"n": 3, "l": []any{"a", map[string]any{"k": true}}}
	if err != nil || !reflect.DeepEqual(m.(*specAny).Rest, want) {
		t.Errorf("any keys keep their values as given: %v %#v", err, m)
	}
}
