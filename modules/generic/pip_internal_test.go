package generic

import (
	"slices"
	"testing"
)

func TestPySatisfied(t *testing.T) {
	for _, tc := range []struct {
		spec, ver string
		want      bool
	}{
		{"", "1.0", true},
		{"==1.0", "1.0", true},
		{"==1.0", "1.0.0", true},
		{"==1.0", "1.0.1", false},
		{">=2.28,<3", "2.31.0", true},
		{">=2.28,<3", "3.0", false},
		{">=2.28, <3", "2.27.1", false},
		{"==0.17.*", "0.17.1", true},
		{"==0.17.*", "0.18.0", false},
		{"!=1.5.*", "1.5.2", false},
		{"~=2.2", "2.9", true},
		{"~=2.2", "3.0", false},
		{"~=1.4.5", "1.4.9", true},
		{"~=1.4.5", "1.5.0", false},
		{">1.0", "1.0.post1", true},
		{"<1.0", "1.0rc1", true},
		{">=1.0a1", "1.0.dev1", false},
		{">=1.0", "1.0.dev1", false},
		{"<2", "2.0b1", true},
		{"==1.0+local", "1.0+local", true},
		{"===1.0-foo", "1.0-FOO", true},
		{">1!0.1", "5.0", false},
	} {
		specs, err := parsePySpecs(tc.spec)
		if err != nil {
			t.Fatalf("%s: %v", tc.spec, err)
		}
		if got := pySatisfied(specs, tc.ver); got != tc.want {
			t.Errorf("%s satisfied by %s: %v, want %v", tc.spec, tc.ver, got, tc.want)
		}
	}
	if _, err := parsePySpecs(">=banana"); err == nil {
		t.Error(">=banana parsed")
	}
}

func TestRecoverPipNames(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{[]string{"django>1.11.1", "<1.11.3", "ipaddress", "simpleproject>1.1.0", "<2.0.0"}, []string{"django>1.11.1,<1.11.3", "ipaddress", "simpleproject>1.1.0,<2.0.0"}},
		{[]string{"django>1.11.1,<1.11.3,ipaddress", "simpleproject>1.1.0,<2.0.0"}, []string{"django>1.11.1,<1.11.3", "ipaddress", "simpleproject>1.1.0,<2.0.0"}},
		{[]string{"requests[socks,security]>=2"}, []string{"requests[socks,security]>=2"}},
	} {
		if got := recoverPipNames(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("%q: %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParsePipPackage(t *testing.T) {
	for in, name := range map[string]string{
		"Requests":                           "requests",
		"Foo_Bar.baz >= 1.0":                 "foo-bar-baz",
		"requests[socks]>=2,<3":              "requests",
		"git+https://example.org/x.git":      "",
		"/srv/wheels/x-1.0-py3-none-any.whl": "",
		"pkg; python_version<'3.8'":          "",
	} {
		if got := parsePipPackage(in).name; got != name {
			t.Errorf("%q: name %q, want %q", in, got, name)
		}
	}
}

func TestPipInstalled(t *testing.T) {
	got := pipInstalled("pip==23.0.1\nsetuptools==66.1.1\nGpuctl_Demo==1.0\n-e git+https://x#egg=y\n")
	if got["gpuctl-demo"] != "1.0" || got["pip"] != "23.0.1" || len(got) != 3 {
		t.Errorf("%v", got)
	}
}
