package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
)

// aptKeyTools fails when the host lacks apt-key or gnupg: apt-key runs gpg
// for every command, and gpg-agent to import (the gpg package alone fails
// with "can't connect to the agent"). A missing gnupg is "known after
// apply" in check mode: an earlier task of the same play usually installs it.
func aptKeyTools(ctx context.Context, c conn.Conn) error {
	out, err := output(ctx, c, "command -v apt-key >/dev/null || echo apt-key; command -v gpg >/dev/null && command -v gpg-agent >/dev/null || echo gnupg")
	if err != nil {
		return fmt.Errorf("look for apt-key and gpg: %w", err)
	}
	missing := strings.Fields(out)
	switch {
	case len(missing) > 0 && missing[0] == "apt-key":
		return errors.New("apt-key is not on the host (apt 2.9 and later, as in Debian 13, dropped it): use apt_repository with the key (key_url, signed-by) instead of apt_key")
	case len(missing) > 0:
		return modules.NotYet("apt_key needs gpg and gpg-agent on the host, which it lacks: install the Debian package gnupg in an earlier task")
	}
	return nil
}

// gpgShow lists the keys a file holds, in gpg's colon format, without
// importing them: a throw-away home keeps check mode from leaving a ~/.gnupg.
const gpgShow = `d=$(mktemp -d) && trap 'rm -rf "$d"' EXIT && show() { LC_ALL=C gpg --homedir "$d" --batch --with-colons --import-options show-only --import "$@"; }; `

// listAptKeys is Ansible's all_keys: the long ids of the keys apt trusts
// (or keyring holds), the last 8 digits of each when short. Ansible asks
// `apt-key adv`, which writes every keyring back; gpuctl reads the files
// apt-key would merge (Dir::Etc::Trusted and TrustedParts) itself, so a
// check changes nothing.
func listAptKeys(ctx context.Context, c conn.Conn, keyring string, short bool) ([]string, error) {
	files := `eval "$(apt-config shell T Dir::Etc::Trusted/f P Dir::Etc::TrustedParts/d)"; set -- "$T" "$P"*.gpg "$P"*.asc`
	if keyring != "" {
		files = "set -- " + conn.Quote(keyring)
	}
	out, err := output(ctx, c, gpgShow+files+`; for f; do if [ -s "$f" ]; then show "$f" 2>/dev/null || true; fi; done`)
	if err != nil {
		return nil, fmt.Errorf("list apt keys: %w", err)
	}
	keys := parseKeyListing(out)
	if short {
		for i, k := range keys {
			keys[i] = k[max(0, len(k)-8):]
		}
	}
	return keys, nil
}

// parseKeyListing is Ansible's parse_output_for_keys on gpg's colon
// format: the id on every pub and sub line of a key that has not expired.
func parseKeyListing(out string) []string {
	found := []string{}
	for l := range strings.SplitSeq(out, "\n") {
		f := strings.Split(l, ":")
		if (f[0] == "pub" || f[0] == "sub") && len(f) > 4 && f[1] != "e" && f[4] != "" {
			found = append(found, f[4])
		}
	}
	return found
}

// idFromKey reads the id of the key given by file, data or url with gpg in
// a throw-away home, so that check mode leaves no ~/.gnupg behind (Ansible's
// gpg call does).
func (r *AptKey) idFromKey(ctx context.Context, h modules.Host) (string, error) {
	c := h.Conn()
	gpg := gpgShow + "show"
	var opts []conn.ExecOption
	what := "file " + r.File
	if r.File != "" {
		gpg += " " + conn.Quote(r.File)
	} else {
		key, err := r.keyBytes(ctx, c)
		if err != nil && r.URL != "" {
			// A dry run must not stop at an unreachable URL (an earlier task
			// may open the way): known after apply. A real run fails.
			return "", modules.NotYet("the host cannot download %s now (%s); applying fails until it can, or give data or file: %w", r.URL, lastLine(err.Error()), err)
		}
		if err != nil {
			return "", err
		}
		r.key, what = key, "the key given"
		opts = append(opts, conn.Stdin(bytes.NewReader(key)))
	}
	out, err := output(ctx, c, gpg, opts...)
	if err != nil {
		return "", fmt.Errorf("unable to extract the key's id from %s: %w", what, err)
	}
	for l := range strings.SplitSeq(out, "\n") {
		if f := strings.Split(l, ":"); f[0] == "pub" && len(f) > 4 {
			return f[4], nil
		}
	}
	return "", fmt.Errorf("no public key in %s", what)
}

// keyBytes is the key given inline or downloaded on the host.
func (r *AptKey) keyBytes(ctx context.Context, c conn.Conn) ([]byte, error) {
	if r.Data != "" {
		return []byte(strings.TrimSpace(r.Data) + "\n"), nil
	}
	return downloadKey(ctx, c, r.URL)
}

var (
	_ modules.Module   = (*AptKey)(nil)
	_ modules.Resulter = (*AptKey)(nil)
)
