package generic_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/conn/ssh"
	"github.com/gpuctl/gpuctl/internal/testhosts"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// ~ in the file family's paths is the home of the user the task runs as on
// the host (the become user under become), and ~user that user's home, as
// Ansible expands them; each keeps the timeline.
func TestHomeInPaths(t *testing.T) {
	r := moduletest.Start(t, 1)[0]
	homes := []string{"/root", "/home"}
	r.Timeline(t, "copy", map[string]any{"content": "hi\n", "dest": "~/notes.txt"}, homes...)
	r.Timeline(t, "file", map[string]any{"path": "~deploy/cache", "state": "directory"}, homes...)
	r.Timeline(t, "lineinfile", map[string]any{"path": "~alice/.gpuctl", "line": "x=1", "create": true}, homes...)
	r.Timeline(t, "ini_file", map[string]any{"path": "~/app.ini", "section": "s", "option": "o", "value": "v"}, homes...)
	if out := r.Run(t, "cat /root/notes.txt; stat -c %F /home/deploy/cache; cat /home/alice/.gpuctl /root/app.ini | grep -v ^$"); out != "hi\ndirectory\nx=1\n[s]\no = v" {
		t.Errorf("files:\n%s", out)
	}
	if res := r.NoChange(t, "stat", map[string]any{"path": "~deploy/cache"}); res["stat"].(map[string]any)["path"] != "/home/deploy/cache" {
		t.Errorf("stat: %v", res["stat"])
	}
	if _, _, err := r.Apply(t, "file", map[string]any{"path": "~nobody-here/x", "state": "touch"}); err == nil || !strings.Contains(err.Error(), "no such user") {
		t.Errorf("unknown user: %v", err)
	}

	// Logged in as deploy: ~ is deploy's home, or root's under become.
	th := r.TH
	c, err := ssh.Dial(context.Background(), ssh.Config{
		Host: th.Addr, Port: th.Port, User: testhosts.UserDeploy,
		KeyFiles: []string{th.KeyFile}, NoAgent: true,
		KnownHostsFiles: []string{th.KnownHostsFile}, NoUserKnownHosts: true, ConnectTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r.C = c
	r.Timeline(t, "copy", map[string]any{"content": "plain\n", "dest": "~/plain.txt"}, homes...)
	r.C = conn.Become(c, conn.BecomeOptions{})
	r.Timeline(t, "copy", map[string]any{"content": "become\n", "dest": "~/become.txt"}, homes...)
	if out := r.Run(t, "stat -c %U /home/deploy/plain.txt /root/become.txt"); out != "deploy\nroot" {
		t.Errorf("owners:\n%s", out)
	}

	moduletest.BadArgs(t, "copy", map[string]any{"content": "x", "dest": "notes.txt"}, "must be an absolute path")
	moduletest.BadArgs(t, "file", map[string]any{"path": "~bad user/x", "state": "touch"}, "must be an absolute path")
}
