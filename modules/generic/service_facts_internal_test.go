package generic

import "testing"

func TestParseServiceFacts(t *testing.T) {
	out := ` [ - ]  procps
 [ + ]  ssh
@@gpuctl-service-facts@@
  UNIT                     LOAD      ACTIVE   SUB     DESCRIPTION
  cron.service             loaded    inactive dead    Regular background program processing daemon
● e2scrub_reap.service     masked    inactive dead    e2scrub_reap.service
● foo.service              not-found inactive dead    foo.service
● broken.service           loaded    failed   failed  Broken
  ssh.service              loaded    active   running OpenBSD Secure Shell server

LOAD   = Reflects whether the unit definition was properly loaded.
5 loaded units listed.
@@gpuctl-service-facts@@
UNIT FILE                  STATE           VENDOR PRESET
cron.service               enabled         enabled
e2scrub_reap.service       masked          enabled
getty@.service             enabled         enabled
ssh.service                enabled         enabled
sudo.service               masked          enabled

5 unit files listed.
@@gpuctl-service-facts@@
cron.service	0	ActiveState=inactive
e2scrub_reap.service	0	ActiveState=inactive
getty@.service	1	
ssh.service	0	ActiveState=active
sudo.service	0	ActiveState=inactive
`
	got, err := parseServiceFacts(out)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"procps":               "procps stopped  sysv",
		"ssh":                  "ssh running  sysv",
		"cron.service":         "cron.service stopped enabled systemd",
		"e2scrub_reap.service": "e2scrub_reap.service stopped masked systemd",
		"foo.service":          "foo.service stopped not-found systemd",
		"broken.service":       "broken.service stopped failed systemd",
		"ssh.service":          "ssh.service running enabled systemd",
		"getty@.service":       "getty@.service unknown enabled systemd",
		"sudo.service":         "sudo.service inactive masked systemd",
	}
	if len(got) != len(want) {
		t.Errorf("%d services: %v", len(got), got)
	}
	for k, w := range want {
		s, _ := got[k].(map[string]any)
		status, _ := s["status"].(string)
		if g := s["name"].(string) + " " + s["state"].(string) + " " + status + " " + s["source"].(string); g != w {
			t.Errorf("%s: %q, want %q", k, g, w)
		}
	}
}
