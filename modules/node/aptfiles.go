package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
)

// The apt module's check on an idempotent run used to start two commands
// per task on the host: the cache-age script (a stat per stamp and source
// file, and date) and dpkg-query. Over SSH every command is a session (a
// fork of sshd, the login shell and /bin/sh) before its own processes,
// about 20-40 ms of the host's CPU each on the fleet benchmark's hosts,
// while a stat or a read over the connection's SFTP session is a round
// trip served by the one sftp-server. So both answers are read from the
// files the commands read, and the commands stay for what the files
// cannot tell exactly; the results are the same either way
// (TestAptFilesMatchCommands).

// errUseCommand says the file operations cannot give the command's answer
// exactly here: the caller runs the command.
var errUseCommand = errors.New("answer needs the command")

// aptStatePaths are the stamps and sources cacheAge's script looks at.
var (
	aptStamps      = []string{updateStamp, "/var/lib/apt/periodic/update-success-stamp"}
	aptSourceFiles = []string{"/etc/apt/sources.list"}
	aptSourceDirs  = []string{"/etc/apt/sources.list.d", "/etc/apt/keyrings"}
)

// cacheTimesFromFiles returns what the script's two loops compute: the
// newest mtime of the update stamps and of the source files (seconds, 0
// when none), from lstat over the connection's file operations. It gives
// errUseCommand (or ErrNotSupported) where the script's `[ -e ]`, which
// follows symlinks, could answer differently: a symlink among the files,
// or a directory that cannot be listed for a reason other than absence.
func cacheTimesFromFiles(ctx context.Context, c conn.Conn) (stamp, src int64, err error) {
	// Listing first: it fails with ErrNotSupported on a connection without
	// file operations (or a become without a file server), before any
	// Stat that would fall back to a command of its own.
	var entries []conn.FileInfo
	for _, d := range aptSourceDirs {
		list, err := conn.ReadDir(ctx, c, d)
		switch {
		case errors.Is(err, conn.ErrNotSupported):
			return 0, 0, err
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrPermission):
			// The glob matches nothing: the script skips its literal.
			continue
		case err != nil:
			return 0, 0, fmt.Errorf("%w: list %s: %w", errUseCommand, d, err)
		}
		for _, e := range list {
			// The shell's * leaves out dot files.
			if !strings.HasPrefix(lastElem(e.Path), ".") {
				entries = append(entries, e)
			}
		}
	}
	newest := func(infos []conn.FileInfo) (int64, error) {
		var n int64
		for _, fi := range infos {
			if fi.IsLink() {
				return 0, fmt.Errorf("%w: %s is a symlink", errUseCommand, fi.Path)
			}
			// The script keeps a time only when it is greater (-gt) than
			// the running one, which starts at 0.
			if t := fi.ModTime.Unix(); t > n {
				n = t
			}
		}
		return n, nil
	}
	stamps, err := statExisting(ctx, c, aptStamps)
	if err != nil {
		return 0, 0, err
	}
	sources, err := statExisting(ctx, c, aptSourceFiles)
	if err != nil {
		return 0, 0, err
	}
	if stamp, err = newest(stamps); err != nil {
		return 0, 0, err
	}
	if src, err = newest(append(sources, entries...)); err != nil {
		return 0, 0, err
	}
	return stamp, src, nil
}

// statExisting lstats each path, leaving out the missing ones.
func statExisting(ctx context.Context, c conn.Conn, paths []string) ([]conn.FileInfo, error) {
	var out []conn.FileInfo
	for _, p := range paths {
		fi, err := c.Stat(ctx, p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			return nil, fmt.Errorf("%w: stat %s: %w", errUseCommand, p, err)
		}
		out = append(out, fi)
	}
	return out, nil
}

func lastElem(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// dpkgStatusFile is dpkg's database, which dpkg-query reads.
const (
	dpkgStatusFile = "/var/lib/dpkg/status"
	dpkgUpdatesDir = "/var/lib/dpkg/updates"
)

// plainPkgName is a package name dpkg-query -W matches only by itself: no
// glob characters (dpkg-query takes patterns) and no architecture.
var plainPkgName = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)

// dpkgQueryFromFile builds, from /var/lib/dpkg/status read over the
// connection's file operations, the lines
// `dpkg-query -W -f='${Package}\t${Version}\t${db:Status-Abbrev}\n' names`
// prints, so parseDpkgQuery reads either alike. It gives errUseCommand
// (or ErrNotSupported) where dpkg-query could answer otherwise: a name
// that is a pattern or carries an architecture, a package with several
// architectures in the database (their order is dpkg-query's), a journal
// in /var/lib/dpkg/updates that dpkg has not folded into the status file
// yet, or a status word this code does not know.
func dpkgQueryFromFile(ctx context.Context, c conn.Conn, names []string) (string, error) {
	want := make(map[string]bool, len(names))
	for _, n := range names {
		if !plainPkgName.MatchString(n) {
			return "", fmt.Errorf("%w: %q is not a plain package name", errUseCommand, n)
		}
		want[n] = true
	}
	pending, err := conn.ReadDir(ctx, c, dpkgUpdatesDir)
	switch {
	case errors.Is(err, conn.ErrNotSupported):
		return "", err
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return "", fmt.Errorf("%w: list %s: %w", errUseCommand, dpkgUpdatesDir, err)
	case len(pending) > 0:
		return "", fmt.Errorf("%w: %s holds %d journal entries", errUseCommand, dpkgUpdatesDir, len(pending))
	}
	data, err := c.ReadFile(ctx, dpkgStatusFile)
	if err != nil {
		return "", fmt.Errorf("%w: read %s: %w", errUseCommand, dpkgStatusFile, err)
	}
	return dpkgQueryLines(data, want)
}

// dpkgQueryLines picks the wanted packages' stanzas out of a dpkg status
// file and prints them as dpkg-query does (see dpkgQueryFromFile).
func dpkgQueryLines(data []byte, want map[string]bool) (string, error) {
	var out strings.Builder
	seen := map[string]bool{}
	for stanza := range bytes.SplitSeq(data, []byte("\n\n")) {
		var pkg, ver, status string
		for line := range bytes.SplitSeq(stanza, []byte("\n")) {
			k, v, ok := bytes.Cut(line, []byte(":"))
			if !ok || len(k) == 0 || k[0] == ' ' || k[0] == '\t' {
				continue // a continuation line of a long field
			}
			val := string(bytes.TrimSpace(v))
			switch string(k) {
			case "Package":
				pkg = val
			case "Version":
				ver = val
			case "Status":
				status = val
			}
		}
		if !want[pkg] {
			continue
		}
		if seen[pkg] {
			return "", fmt.Errorf("%w: %s has several entries (architectures)", errUseCommand, pkg)
		}
		seen[pkg] = true
		abbrev, err := statusAbbrev(status)
		if err != nil {
			return "", fmt.Errorf("%w: %s: %w", errUseCommand, pkg, err)
		}
		out.WriteString(pkg + "\t" + ver + "\t" + abbrev + "\n")
	}
	return out.String(), nil
}

// statusAbbrev is dpkg's ${db:Status-Abbrev} of a Status field ("install ok
// installed" is "ii "): the want, the state and the error flag, one letter
// each, as dpkg-query (lib/dpkg/pkg-format.c) prints them.
func statusAbbrev(status string) (string, error) {
	f := strings.Fields(status)
	if len(f) != 3 {
		return "", fmt.Errorf("status %q: want three words", status)
	}
	w, ok := map[string]byte{"unknown": 'u', "install": 'i', "hold": 'h', "deinstall": 'r', "purge": 'p'}[f[0]]
	e, ok2 := map[string]byte{"ok": ' ', "reinstreq": 'R'}[f[1]]
	s, ok3 := map[string]byte{"not-installed": 'n', "config-files": 'c', "half-installed": 'H', "unpacked": 'U',
		"half-configured": 'F', "triggers-awaited": 'W', "triggers-pending": 't', "installed": 'i'}[f[2]]
	if !ok || !ok2 || !ok3 {
		return "", fmt.Errorf("status %q: unknown word", status)
	}
	return string([]byte{w, s, e}), nil
}
