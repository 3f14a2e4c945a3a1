package generic

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
)

// homePath is a path Ansible expands on the host: ~, ~/x, ~user or
// ~user/x. The user name is restricted to what useradd accepts, so the
// name can go into a command line.
var homePath = regexp.MustCompile(`^~([a-z_][a-z0-9_.-]*\$?)?(/.*)?$`)

// isHomePath reports a path that starts at a home directory.
func isHomePath(p string) bool { return strings.HasPrefix(p, "~") && homePath.MatchString(p) }

// expandHome replaces a leading ~ or ~user in each path with that home
// directory on the host, as Ansible does for its path arguments: ~ is the
// home of the user the task runs as (the become user when become is on),
// looked up in the user database rather than $HOME, which sudo may keep.
// Paths that do not start with ~ are left alone.
func expandHome(ctx context.Context, h modules.Host, paths ...*string) error {
	for _, p := range paths {
		if p == nil || !isHomePath(*p) {
			continue
		}
		m := homePath.FindStringSubmatch(*p)
		user := conn.Quote(m[1])
		if m[1] == "" {
			user = `"$(id -un)"`
		}
		home, err := conn.Output(ctx, h.Conn(), "getent passwd "+user+" | cut -d: -f6")
		if err != nil {
			return fmt.Errorf("expand %s: %w", *p, err)
		}
		if home == "" {
			return fmt.Errorf("expand %s: no such user on the host", *p)
		}
		*p = strings.TrimSuffix(home, "/") + m[2]
		if m[2] == "" {
			*p = home
		}
	}
	return nil
}

// remoteSrc is src when it names a file on the host, nil when it is on the
// controller (where ~ is not the host's).
func remoteSrc(remote bool, src *string) *string {
	if remote {
		return src
	}
	return nil
}

// ptrs points at each element of l, for expandHome.
func ptrs(l []string) []*string {
	out := make([]*string, len(l))
	for i := range l {
		out[i] = &l[i]
	}
	return out
}
