package conn

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// BecomeOptions says whom to become and how.
type BecomeOptions struct {
	User     string // default root
	Password string // sudo password; empty means sudo must not ask for one
	Method   string // only "sudo" (the default) for now
}

// Validate checks the options without touching a host.
func (o BecomeOptions) Validate() error {
	if o.Method != "" && o.Method != "sudo" {
		return fmt.Errorf("become method %q is not supported (only sudo)", o.Method)
	}
	if strings.ContainsAny(o.Password, "\n\r\x00") {
		return errors.New("become password must be a single line")
	}
	if strings.ContainsAny(o.User, " \t\n'\"\\$`;&|<>") {
		return fmt.Errorf("become user %q is not a valid user name", o.User)
	}
	return nil
}

// Become runs everything on c as another user through sudo. Commands get
// sudo's own environment reset, so env and dir are applied inside it. The
// password goes to sudo on stdin, never on a command line, and is kept out
// of the command's stdin and of every error. When c logs in as root and the
// target is root, c is returned unchanged.
func Become(c Conn, opts BecomeOptions) Conn {
	if opts.User == "" {
		opts.User = "root"
	}
	if opts.Method == "" {
		opts.Method = "sudo"
	}
	b := &becomeConn{c: c, opts: opts, token: randomToken()}
	// The engine wraps a connection per task: a transport that knows its
	// login user saves a round trip to ask the host.
	if u, ok := c.(interface{ User() string }); ok && u.User() != "" {
		if u.User() == "root" && opts.User == "root" {
			return c
		}
		b.known, b.isRoot, b.loginUser = true, u.User() == "root", u.User()
	}
	return b
}

type becomeConn struct {
	c     Conn
	opts  BecomeOptions
	token string // makes prompt, marker and sentinel unguessable by commands

	mu        sync.Mutex
	known     bool   // the login identity below has been read
	loginUser string // for messages
	isRoot    bool   // login user is root: sudo is not needed for root
}

var _ Conn = (*becomeConn)(nil)

func randomToken() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (b *becomeConn) prompt() string   { return "[gpuctl-sudo-" + b.token + "]" }
func (b *becomeConn) marker() string   { return "gpuctl-become-ok-" + b.token }
func (b *becomeConn) sentinel() string { return "gpuctl-stdin-" + b.token }

func (b *becomeConn) where() string {
	if s, ok := b.c.(fmt.Stringer); ok {
		return s.String()
	}
	return "host"
}

// direct reports whether commands can skip sudo: the login user is root
// and so is the target. It asks the host once; a failure is not cached.
func (b *becomeConn) direct(ctx context.Context) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.known {
		return b.isRoot && b.opts.User == "root", nil
	}
	out, err := Output(ctx, b.c, "id -u; id -un")
	if err != nil {
		return false, err
	}
	uid, name, _ := strings.Cut(out, "\n")
	b.known, b.isRoot, b.loginUser = true, strings.TrimSpace(uid) == "0", strings.TrimSpace(name)
	return b.isRoot && b.opts.User == "root", nil
}

// script is cmd with env and dir applied, for a shell started by sudo.
func script(cmd string, cfg ExecConfig) (string, error) {
	var s strings.Builder
	keys := make([]string, 0, len(cfg.Env))
	for k := range cfg.Env {
		if !validEnvName(k) {
			return "", fmt.Errorf("invalid environment variable name %q", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s.WriteString("export " + k + "=" + Quote(cfg.Env[k]) + "; ")
	}
	if cfg.Dir != "" {
		s.WriteString("cd " + Quote(cfg.Dir) + " || exit 1; ")
	}
	s.WriteString(cmd)
	return s.String(), nil
}

func validEnvName(k string) bool {
	if k == "" || k[0] >= '0' && k[0] <= '9' {
		return false
	}
	for _, r := range k {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// sudoLine builds the command sent to the login shell. Inside sudo a small
// shell prints the marker on stderr (proof that sudo let us in, and where
// sudo's own chatter ends) and then execs the command, $1.
//
// With a password, stdin starts with "password\nsentinel\n". sudo reads the
// first line only when it asks for a password; with NOPASSWD or a cached
// timestamp it does not, and the inner shell then reads the password line
// itself, so the command never sees it. sudo and dash's read both take
// stdin one byte at a time, so nothing past the sentinel is consumed.
func (b *becomeConn) sudoLine(inner string) string {
	pre := ""
	args := []string{"sudo", "-H", "-u", b.opts.User}
	if b.opts.Password != "" {
		args = append(args, "-S", "-p", b.prompt())
		pre = `IFS= read -r l; [ "$l" = ` + b.sentinel() + ` ] || IFS= read -r l; l=; `
	} else {
		args = append(args, "-n")
	}
	wrapper := pre + "echo " + b.marker() + ` >&2; exec /bin/sh -c "$1"`
	return Join(append(args, "--", "/bin/sh", "-c", wrapper, "sh", inner)...)
}

func (b *becomeConn) Run(ctx context.Context, cmd string, opts ...ExecOption) (Result, error) {
	if err := b.opts.Validate(); err != nil {
		return Result{}, err
	}
	direct, err := b.direct(ctx)
	if err != nil {
		return Result{}, err
	}
	if direct {
		return b.c.Run(ctx, cmd, opts...)
	}
	cfg := NewExecConfig(opts)
	inner, err := script(cmd, cfg)
	if err != nil {
		return Result{}, fmt.Errorf("become: %w", err)
	}
	var innerOpts []ExecOption
	if cfg.Stream != nil {
		innerOpts = append(innerOpts, Stream(cfg.Stream))
	}
	innerOpts = append(innerOpts, Redact(append([]string{b.opts.Password}, cfg.Redact...)...))
	stdin := cfg.Stdin
	if b.opts.Password != "" {
		head := strings.NewReader(b.opts.Password + "\n" + b.sentinel() + "\n")
		if stdin != nil {
			stdin = io.MultiReader(head, stdin)
		} else {
			stdin = head
		}
	}
	if stdin != nil {
		innerOpts = append(innerOpts, Stdin(stdin))
	}
	res, err := b.c.Run(ctx, b.sudoLine(inner), innerOpts...)
	if err != nil {
		return res, err
	}
	chatter, rest, ok := strings.Cut(res.Stderr, b.marker()+"\n")
	if !ok {
		return Result{ExitCode: res.ExitCode}, b.failure(res, chatter)
	}
	res.Stderr = rest
	return res, nil
}

// failure explains why sudo did not run the command. sudo's text is shown
// without the prompt and with the password masked, in case it ever echoes.
func (b *becomeConn) failure(res Result, chatter string) error {
	text := strings.ReplaceAll(chatter, b.prompt(), "")
	text = strings.TrimSpace(redactAll(text, []string{b.opts.Password}))
	who := b.loginUser
	if who == "" {
		who = "the login user"
	}
	var why string
	switch {
	case res.ExitCode == 127 && strings.Contains(text, "sudo"):
		why = "sudo is not installed"
	case strings.Contains(text, "incorrect password") || strings.Contains(text, "Sorry, try again"):
		why = fmt.Sprintf("wrong sudo password for %s", who)
	case strings.Contains(text, "password is required") || strings.Contains(text, "no tty present") ||
		strings.Contains(text, "terminal is required") || strings.Contains(text, "no password was provided"):
		why = fmt.Sprintf("sudo asks %s for a password and none was given (set the become password)", who)
	case strings.Contains(text, "not in the sudoers") || strings.Contains(text, "not allowed to") ||
		strings.Contains(text, "may not run sudo"):
		why = fmt.Sprintf("%s may not run commands as %s with sudo", who, b.opts.User)
	default:
		why = fmt.Sprintf("sudo exited %d", res.ExitCode)
	}
	if text != "" {
		why += ": " + lastLine(text)
	}
	return fmt.Errorf("%s: become %s: %w: %s", b.where(), b.opts.User, ErrBecome, why)
}

func lastLine(s string) string {
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// notFound is printed by the file helpers when the path does not exist;
// the token keeps a command's own output from looking like it.
func (b *becomeConn) notFound() string { return "gpuctl-enoent-" + b.token }

func (b *becomeConn) existsGuard(p string) string {
	q := Quote(p)
	return "if [ ! -e " + q + " ] && [ ! -L " + q + " ]; then echo " + b.notFound() + " >&2; exit 3; fi; "
}

func (b *becomeConn) fileErr(op, p string, res Result) error {
	if res.ExitCode == 3 && strings.Contains(res.Stderr, b.notFound()) {
		return fmt.Errorf("%s: %s %s: %w", b.where(), op, p, fs.ErrNotExist)
	}
	return fmt.Errorf("%s: %s %s as %s: %w", b.where(), op, p, b.opts.User,
		&ExitError{Cmd: op + " " + p, Result: res, redact: []string{b.opts.Password}})
}

// ReadFile reads path over the target user's file server (becomefiles.go),
// or with cat as the target user where the host has none.
func (b *becomeConn) ReadFile(ctx context.Context, p string) ([]byte, error) {
	if direct, err := b.direct(ctx); err != nil || direct {
		if err != nil {
			return nil, err
		}
		return b.c.ReadFile(ctx, p)
	}
	if f, err := b.files(ctx); err != nil || f != nil {
		if err != nil {
			return nil, err
		}
		return f.ReadFile(ctx, p)
	}
	res, err := b.Run(ctx, b.existsGuard(p)+"exec cat -- "+Quote(p))
	if err != nil {
		return nil, err
	}
	if res.ExitCode != 0 {
		return nil, b.fileErr("read", p, res)
	}
	return []byte(res.Stdout), nil
}

// Stat describes path over the file server, or with stat(1) as the target
// user where the host has none.
func (b *becomeConn) Stat(ctx context.Context, p string) (FileInfo, error) {
	if direct, err := b.direct(ctx); err != nil || direct {
		if err != nil {
			return FileInfo{}, err
		}
		return b.c.Stat(ctx, p)
	}
	if f, err := b.files(ctx); err != nil || f != nil {
		if err != nil {
			return FileInfo{}, err
		}
		return f.Stat(ctx, p)
	}
	q := Quote(p)
	cmd := b.existsGuard(p) + "LC_ALL=C stat -c '%f %s %Y %u %g %U %G' -- " + q +
		" || exit 1; if [ -L " + q + " ]; then readlink -- " + q + "; fi"
	res, err := b.Run(ctx, cmd)
	if err != nil {
		return FileInfo{}, err
	}
	if res.ExitCode != 0 {
		return FileInfo{}, b.fileErr("stat", p, res)
	}
	fi, err := parseStat(p, res.Stdout)
	if err != nil {
		return FileInfo{}, fmt.Errorf("%s: stat %s: %w", b.where(), p, err)
	}
	return fi, nil
}

// parseStat reads `stat -c '%f %s %Y %u %g %U %G'` output, followed by the
// link target on the next line for a symlink.
func parseStat(p, out string) (FileInfo, error) {
	line, link, _ := strings.Cut(out, "\n")
	f := strings.Fields(line)
	if len(f) != 7 {
		return FileInfo{}, fmt.Errorf("unexpected stat output %q", line)
	}
	raw, err1 := strconv.ParseUint(f[0], 16, 32)
	size, err2 := strconv.ParseInt(f[1], 10, 64)
	mtime, err3 := strconv.ParseInt(f[2], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return FileInfo{}, fmt.Errorf("unexpected stat output %q: %w", line, err)
	}
	fi := FileInfo{Path: p, Mode: unixMode(uint32(raw)), Size: size, ModTime: time.Unix(mtime, 0),
		Owner: f[5], Group: f[6], UID: f[3], GID: f[4]}
	// stat prints UNKNOWN for an id without a name; show the number like ls.
	if fi.Owner == "UNKNOWN" {
		fi.Owner = f[3]
	}
	if fi.Group == "UNKNOWN" {
		fi.Group = f[4]
	}
	if fi.IsLink() {
		fi.Link = strings.TrimSuffix(link, "\n")
	}
	return fi, nil
}

// unixMode converts st_mode bits to an fs.FileMode.
func unixMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & 0o170000 {
	case 0o040000:
		mode |= fs.ModeDir
	case 0o120000:
		mode |= fs.ModeSymlink
	case 0o010000:
		mode |= fs.ModeNamedPipe
	case 0o140000:
		mode |= fs.ModeSocket
	case 0o060000:
		mode |= fs.ModeDevice
	case 0o020000:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	}
	if m&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// WriteFile goes over the file server when the host has one; else it
// streams data on stdin to a shell running as the target user,
// which writes a private temporary file beside path, checks its SHA-256,
// sets owner and mode and renames it into place. Nothing is staged in a
// directory the login user owns, so it works for any target user, and a
// cut-off stream fails the checksum instead of reaching path. The trap
// removes the temporary file on every failure.
func (b *becomeConn) WriteFile(ctx context.Context, p string, data []byte, attrs FileAttrs) error {
	if direct, err := b.direct(ctx); err != nil || direct {
		if err != nil {
			return err
		}
		return b.c.WriteFile(ctx, p, data, attrs)
	}
	if f, err := b.files(ctx); err != nil || f != nil {
		if err != nil {
			return err
		}
		return f.WriteFile(ctx, p, data, attrs)
	}
	sum := sha256.Sum256(data)
	tmp := TempName(p)
	var s strings.Builder
	s.WriteString("if [ ! -d " + Quote(path.Dir(p)) + " ]; then echo " + b.notFound() + " >&2; exit 3; fi; ")
	s.WriteString("set -e; umask 077; t=" + Quote(tmp) + "; trap 'rm -f -- \"$t\"' EXIT; trap 'exit 129' HUP INT TERM PIPE; cat > \"$t\"; ")
	s.WriteString(`if command -v sha256sum >/dev/null 2>&1; then s=$(sha256sum < "$t"); s=${s%% *}; else s=` + hex.EncodeToString(sum[:]) +
		`; [ "$(wc -c < "$t")" -eq ` + strconv.Itoa(len(data)) + ` ] || s=size-mismatch; fi; `)
	s.WriteString(`[ "$s" = ` + hex.EncodeToString(sum[:]) + ` ] || { echo "uploaded data does not match (sha256 $s)" >&2; exit 1; }; `)
	switch {
	case attrs.Owner != "" && attrs.Group != "":
		s.WriteString("chown -- " + Quote(attrs.Owner+":"+attrs.Group) + ` "$t"; `)
	case attrs.Owner != "":
		s.WriteString("chown -- " + Quote(attrs.Owner) + ` "$t"; `)
	case attrs.Group != "":
		s.WriteString("chgrp -- " + Quote(attrs.Group) + ` "$t"; `)
	}
	s.WriteString(fmt.Sprintf(`chmod %04o "$t"; `, chmodBits(attrs.Mode)))
	s.WriteString(plannedGuard(p, attrs.Planned))
	s.WriteString(`mv -fT -- "$t" ` + Quote(p) + `; trap - EXIT HUP INT TERM PIPE; `)
	// What cut-off writes of p left (conn.TempMarker).
	s.WriteString("rm -f -- " + Quote(path.Join(path.Dir(p), TempPrefix(p))) + "*")

	res, err := b.Run(ctx, s.String(), Stdin(bytes.NewReader(data)))
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if res.ExitCode == changedExit {
		now := Planned{}
		f := strings.Fields(res.Stderr)
		switch {
		case len(f) > 1 && f[1] == "missing":
			now.Missing = true
		case len(f) > 1:
			hex.Decode(now.SHA256[:], []byte(f[1]))
		}
		return fmt.Errorf("%s: write %s: %w", b.where(), p, &ChangedError{Path: p, Planned: *attrs.Planned, Now: now})
	}
	if res.ExitCode != 0 {
		return b.fileErr("write", p, res)
	}
	return nil
}

// changedExit is the shell's exit status for a target that changed since
// the caller planned (plannedGuard).
const changedExit = 75

// plannedGuard is shell that exits changedExit, printing what p now is,
// when p is no longer what the caller planned against.
func plannedGuard(p string, planned *Planned) string {
	if planned == nil {
		return ""
	}
	want := "missing"
	if !planned.Missing {
		want = hex.EncodeToString(planned.SHA256[:])
	}
	q := Quote(p)
	// A host without sha256sum cannot tell; it writes as before.
	return `if [ ! -e ` + q + ` ]; then c=missing; elif command -v sha256sum >/dev/null 2>&1; then c=$(sha256sum < ` + q + `); c=${c%% *}; else c=` + want + `; fi; ` +
		`if [ "$c" != ` + want + ` ]; then echo "gpuctl-changed $c" >&2; exit ` + strconv.Itoa(changedExit) + `; fi; `
}

// chmodBits is FileAttrs.Mode as chmod's octal number, 0 meaning 0644.
func chmodBits(m fs.FileMode) uint32 {
	if m == 0 {
		return 0o644
	}
	return UnixMode(m)
}

// UnixMode is m as the octal number chmod takes and people write; Go keeps
// setuid, setgid and sticky outside the low bits.
func UnixMode(m fs.FileMode) uint32 {
	bits := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		bits |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		bits |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		bits |= 0o1000
	}
	return bits
}

// Dial needs no privileges.
func (b *becomeConn) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	return b.c.Dial(ctx, network, addr)
}

func (b *becomeConn) Close() error { return b.c.Close() }

// Unwrap returns the connection Become decorates.
func (b *becomeConn) Unwrap() Conn { return b.c }
