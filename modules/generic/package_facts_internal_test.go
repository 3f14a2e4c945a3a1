package generic

import (
	"encoding/json"
	"testing"
)

// What packageFactsScript prints on a Debian host with one package from the
// archive, one installed from a local .deb (only in dpkg's status) and a
// foreign-architecture library; the facts are what python3-apt gives
// Ansible for the same cache.
const pkgFactsOut = `adduser	3.134	all
libc6	2.36-9+deb12u4	amd64
libc6:i386	2.36-9+deb12u4	i386
mytool	1.0-1	amd64
` + pkgFactsSep + `
adduser	all	3.134	admin
libc6	amd64	2.36-9+deb12u4	libs
libc6	i386	2.36-9+deb12u4	libs
mytool	amd64	1.0-1	utils
` + pkgFactsSep + `
adduser:
  Installed: 3.134
  Candidate: 3.134
  Version table:
 *** 3.134 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
        100 /var/lib/dpkg/status
libc6:
  Installed: 2.36-9+deb12u4
  Candidate: 2.36-9+deb12u7
  Version table:
     2.36-9+deb12u7 500
        500 http://deb.debian.org/debian bookworm-updates/main amd64 Packages
 *** 2.36-9+deb12u4 1000
       1000 http://security.debian.org/debian-security bookworm-security/main amd64 Packages
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
        100 /var/lib/dpkg/status
libc6:i386:
  Installed: 2.36-9+deb12u4
  Candidate: 2.36-9+deb12u4
  Version table:
 *** 2.36-9+deb12u4 500
        500 http://deb.debian.org/debian bookworm/main i386 Packages
        100 /var/lib/dpkg/status
mytool:
  Installed: 1.0-1
  Candidate: 1.0-1
  Version table:
 *** 1.0-1 100
        100 /var/lib/dpkg/status
` + pkgFactsSep + `
Package files:
 100 /var/lib/dpkg/status
     release a=now
1000 http://security.debian.org/debian-security bookworm-security/main amd64 Packages
     release v=12,o=Debian,a=oldstable-security,n=bookworm-security,l=Debian-Security,c=main,b=amd64
     origin security.debian.org
 500 http://deb.debian.org/debian bookworm-updates/main amd64 Packages
     release v=12-updates,o=Debian,a=oldstable-updates,n=bookworm-updates,l=Debian,c=main,b=amd64
     origin deb.debian.org
 500 http://deb.debian.org/debian bookworm/main amd64 Packages
     release v=12.14,o=Debian,a=oldstable,n=bookworm,l=Debian,c=main,b=amd64
     origin deb.debian.org
 500 http://deb.debian.org/debian bookworm/main i386 Packages
     release v=12.14,o=Debian Ports,a=oldstable,n=bookworm,l=Debian,c=main,b=i386
     origin deb.debian.org
Pinned packages:
     libc6 -> 2.36-9+deb12u4 with priority 1000
`

func TestParsePackageFacts(t *testing.T) {
	got, err := parsePackageFacts(pkgFactsOut)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"adduser":    `[{"arch":"all","category":"admin","name":"adduser","origin":"Debian","source":"apt","version":"3.134"}]`,
		"libc6":      `[{"arch":"amd64","category":"libs","name":"libc6","origin":"Debian","source":"apt","version":"2.36-9+deb12u4"}]`,
		"libc6:i386": `[{"arch":"i386","category":"libs","name":"libc6:i386","origin":"Debian Ports","source":"apt","version":"2.36-9+deb12u4"}]`,
		"mytool":     `[{"arch":"amd64","category":"utils","name":"mytool","origin":"","source":"apt","version":"1.0-1"}]`,
	}
	if len(got) != len(want) {
		t.Errorf("%d packages: %v", len(got), got)
	}
	for k, w := range want {
		if b, _ := json.Marshal(got[k]); string(b) != w {
			t.Errorf("%s: %s\nwant %s", k, b, w)
		}
	}
	if _, err := parsePackageFacts("garbage"); err == nil {
		t.Error("garbage accepted")
	}
}

func TestParseSystemctlShow(t *testing.T) {
	out := "Type=notify\n" +
		"ExecStart={ path=/usr/bin/dockerd ; argv[]=/usr/bin/dockerd -H fd:// ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }\n" +
		"ExecReload={ path=/bin/kill ; argv[]=/bin/kill -s HUP $MAINPID ; ignore_errors=no\n" +
		"  ; start_time=[n/a] ; pid=0 }\n" +
		"Description={ not an exec value\n" +
		"FragmentPath=/lib/systemd/system/docker.service\n" +
		"Environment=A=1 B=2\n"
	st := parseSystemctlShow(out)
	want := map[string]string{
		"Type":         "notify",
		"ExecStart":    "{ path=/usr/bin/dockerd ; argv[]=/usr/bin/dockerd -H fd:// ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }",
		"ExecReload":   "{ path=/bin/kill ; argv[]=/bin/kill -s HUP $MAINPID ; ignore_errors=no\n  ; start_time=[n/a] ; pid=0 }",
		"Description":  "{ not an exec value",
		"FragmentPath": "/lib/systemd/system/docker.service",
		"Environment":  "A=1 B=2",
	}
	if len(st) != len(want) {
		t.Errorf("%d keys: %v", len(st), st)
	}
	for k, w := range want {
		if st[k] != w {
			t.Errorf("%s = %q, want %q", k, st[k], w)
		}
	}
}
