package node

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// TestAptFilesMatchCommands compares, on a real host, what the apt module
// now reads over SFTP with what the commands it replaced print: dpkg's
// status of every package dpkg knows (installed, held, removed with its
// configuration left, known but not installed, unknown), and the newest
// update stamp and source file times in each state cacheAge meets.
func TestAptFilesMatchCommands(t *testing.T) {
	h := moduletest.Start(t, 1)[0]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := h.Conn()

	t.Run("dpkg status", func(t *testing.T) {
		h.TH.Run(t, "apt-mark hold sudo >/dev/null && dpkg -r iproute2 >/dev/null 2>&1")
		names := strings.Fields(h.TH.Run(t, `dpkg-query -W -f='${Package}\n'`))
		if len(names) < 100 {
			t.Fatalf("only %d packages", len(names))
		}
		names = append(names, "gpuctl-no-such-package")
		out, err := dpkgQueryFromFile(ctx, c, names)
		if err != nil {
			t.Fatal(err)
		}
		fromFile := parseDpkgQuery(out)
		fromCmd, err := dpkgQuery(ctx, c, names)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fromFile, fromCmd) {
			for n, st := range fromCmd {
				if fromFile[n] != st {
					t.Errorf("%s: file %+v, dpkg-query %+v", n, fromFile[n], st)
				}
			}
			t.Fatalf("file gives %d packages, dpkg-query %d", len(fromFile), len(fromCmd))
		}
		for n, want := range map[string]pkgStatus{"sudo": {Installed: true, Held: true}, "iproute2": {Config: true}} {
			got := fromFile[n]
			if got.Installed != want.Installed || got.Held != want.Held || got.Config != want.Config {
				t.Errorf("%s: %+v, want %+v", n, got, want)
			}
		}
	})

	t.Run("cache times", func(t *testing.T) {
		script := `s=0; for f in ` + updateStamp + ` /var/lib/apt/periodic/update-success-stamp; do
  [ -e "$f" ] && t=$(stat -c %Y "$f") && [ "$t" -gt "$s" ] && s=$t; done
n=0; for f in /etc/apt/sources.list /etc/apt/sources.list.d/* /etc/apt/keyrings/*; do
  [ -e "$f" ] && t=$(stat -c %Y "$f") && [ "$t" -gt "$n" ] && n=$t; done
echo "$s $n"`
		for _, step := range []struct{ name, cmd string }{
			{"as built", "true"},
			{"stamp", "touch -d @1700000000 " + updateStamp},
			{"periodic stamp newer", "mkdir -p /var/lib/apt/periodic && touch -d @1700000100 /var/lib/apt/periodic/update-success-stamp"},
			{"source newer", "echo '# x' > /etc/apt/sources.list.d/a.list && touch -d @1800000000 /etc/apt/sources.list.d/a.list"},
			{"dot file and keyring", "touch -d @1900000000 /etc/apt/sources.list.d/.hidden && mkdir -p /etc/apt/keyrings && touch -d @1850000000 /etc/apt/keyrings/k.gpg"},
			{"subdirectory", "mkdir -p /etc/apt/sources.list.d/sub && touch -d @1860000000 /etc/apt/sources.list.d/sub"},
			{"no keyrings", "rm -rf /etc/apt/keyrings"},
		} {
			h.TH.Run(t, step.cmd)
			want := h.TH.Run(t, script)
			s, n, err := cacheTimesFromFiles(ctx, c)
			if err != nil {
				t.Fatalf("%s: %v", step.name, err)
			}
			if got := itoa(s) + " " + itoa(n); got != want {
				t.Errorf("%s: files give %q, the script %q", step.name, got, want)
			}
		}
		// A symlink, which [ -e ] follows: left to the script.
		h.TH.Run(t, "ln -sf /nonexistent /etc/apt/sources.list.d/dangling.list")
		if _, _, err := cacheTimesFromFiles(ctx, c); !errors.Is(err, errUseCommand) {
			t.Errorf("symlink: err %v, want errUseCommand", err)
		}
		age, newer, ok, err := cacheAge(ctx, c)
		if err != nil || !ok || !newer {
			t.Errorf("cacheAge through the script: %v %v %v %v", age, newer, ok, err)
		}
		h.TH.Run(t, "rm -f /etc/apt/sources.list.d/dangling.list")
	})

	// The bound: an idempotent check of installed packages starts no
	// command, and one (date, for the cache's age) with cache_valid_time.
	t.Run("commands per check", func(t *testing.T) {
		h.TH.Run(t, "rm -rf /etc/apt/sources.list.d/* && touch "+updateStamp)
		cc := &countingConn{Conn: c, FileOps: c.(conn.FileOps)}
		ch := moduletest.On(cc)
		for _, tc := range []struct {
			args map[string]any
			max  int32
		}{
			{map[string]any{"name": []any{"apt", "bash", "sudo"}}, 0},
			{map[string]any{"name": []any{"apt", "bash"}, "update_cache": true, "cache_valid_time": 3600}, 1},
		} {
			cc.runs.Store(0)
			moduletest.NoChange(t, ch, "apt", tc.args)
			if n := cc.runs.Load(); n > tc.max {
				t.Errorf("apt %v: check ran %d commands, want at most %d", tc.args, n, tc.max)
			}
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// countingConn counts the commands run through it: each is an SSH session
// and at least one process on the host.
type countingConn struct {
	conn.Conn
	conn.FileOps
	runs atomic.Int32
}

func (c *countingConn) Run(ctx context.Context, cmd string, opts ...conn.ExecOption) (conn.Result, error) {
	c.runs.Add(1)
	return c.Conn.Run(ctx, cmd, opts...)
}
