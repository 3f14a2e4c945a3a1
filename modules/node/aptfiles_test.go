package node

import (
	"errors"
	"reflect"
	"testing"
)

func TestDpkgQueryLines(t *testing.T) {
	status := `Package: apt
Status: install ok installed
Priority: important
Version: 2.6.1
Description: commandline package manager
 This package provides commandline tools: Package: not-a-field
 .
 Status: deinstall ok config-files

Package: kubelet
Status: hold ok installed
Version: 1.34.4-1.1

Package: old
Status: deinstall ok config-files
Version: 1.0

Package: cron
Status: unknown ok not-installed

Package: broken
Status: install reinstreq half-installed
Version: 3
`
	want := map[string]bool{"apt": true, "kubelet": true, "old": true, "cron": true, "broken": true, "missing": true}
	out, err := dpkgQueryLines([]byte(status), want)
	if err != nil {
		t.Fatal(err)
	}
	wantOut := "apt\t2.6.1\tii \nkubelet\t1.34.4-1.1\thi \nold\t1.0\trc \ncron\t\tun \nbroken\t3\tiHR\n"
	if out != wantOut {
		t.Fatalf("got\n%q\nwant\n%q", out, wantOut)
	}
	got := parseDpkgQuery(out)
	if !reflect.DeepEqual(got["kubelet"], pkgStatus{Version: "1.34.4-1.1", Installed: true, Held: true}) || !got["old"].Config {
		t.Fatalf("parsed %+v", got)
	}
}

// TestDpkgQueryLinesLeavesToCommand: what the file cannot answer exactly
// goes to dpkg-query.
func TestDpkgQueryLinesLeavesToCommand(t *testing.T) {
	for name, status := range map[string]string{
		"two architectures": "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\n\nPackage: libc6\nStatus: install ok installed\nArchitecture: i386\n",
		"unknown word":      "Package: libc6\nStatus: install ok frobnicated\n",
		"short status":      "Package: libc6\nStatus: installed\n",
	} {
		if _, err := dpkgQueryLines([]byte(status), map[string]bool{"libc6": true}); !errors.Is(err, errUseCommand) {
			t.Errorf("%s: err %v, want errUseCommand", name, err)
		}
	}
	for _, n := range []string{"libc6:amd64", "nvidia-*", "Foo", "a"} {
		if plainPkgName.MatchString(n) {
			t.Errorf("%q taken as a plain name", n)
		}
	}
}

func FuzzDpkgQueryLines(f *testing.F) {
	f.Add([]byte("Package: apt\nStatus: install ok installed\nVersion: 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := dpkgQueryLines(data, map[string]bool{"apt": true})
		if err == nil {
			parseDpkgQuery(out)
		}
	})
}
