package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// DefaultID labels a password given without a vault id, as in ansible-core.
const DefaultID = "default"

// Prompter asks the user for a password (without echo when on a terminal).
type Prompter func(prompt string) (string, error)

// ParseID splits a --vault-id value: "label@source" or just "source"
// (labelled "default"). source is "prompt" or a password file or script.
func ParseID(spec string) (id, source string) {
	if label, src, ok := strings.Cut(spec, "@"); ok {
		return label, src
	}
	return DefaultID, spec
}

// Load reads one secret from its source, as ansible-core does: "prompt"
// asks; an executable file is run and its stdout is the password (a script
// named *-client[.ext] is given "--vault-id ID"); any other file holds the
// password. Surrounding newlines are stripped; an empty password is an error.
func Load(ctx context.Context, id, source string, ask Prompter) (Secret, error) {
	var (
		pw  []byte
		err error
	)
	switch {
	case source == "prompt":
		if ask == nil {
			return Secret{}, fmt.Errorf("vault id %q: cannot prompt for a password here", id)
		}
		prompt := "Vault password: "
		if id != DefaultID {
			prompt = fmt.Sprintf("Vault password (%s): ", id)
		}
		var s string
		if s, err = ask(prompt); err == nil {
			pw = []byte(strings.TrimSpace(s))
		}
	case isExecutable(source):
		pw, err = runScript(ctx, id, source)
	default:
		pw, err = readFile(source)
	}
	if err != nil {
		return Secret{}, err
	}
	if len(pw) == 0 {
		return Secret{}, fmt.Errorf("vault password from %s is empty", source)
	}
	return Secret{ID: id, Password: pw}, nil
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

func readFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("vault password file: %w", err)
	}
	if IsEncrypted(data) {
		return nil, fmt.Errorf("vault password file %s is itself vault-encrypted; gpuctl does not read nested vaults", path)
	}
	return bytes.TrimSpace(data), nil
}

// isClientScript follows ansible-core's script_is_client: the name without
// its extension ends in "-client".
func isClientScript(path string) bool {
	base := filepath.Base(path)
	return strings.HasSuffix(strings.TrimSuffix(base, filepath.Ext(base)), "-client")
}

func runScript(ctx context.Context, id, path string) ([]byte, error) {
	args := []string{}
	if isClientScript(path) {
		args = append(args, "--vault-id", id)
	}
	abs, err := filepath.Abs(path) // a bare name would be looked up in $PATH
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, abs, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if !isClientScript(path) {
		// Plain scripts may prompt the user on stderr, as with ansible.
		cmd.Stderr = os.Stderr
	}
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && isClientScript(path) && ee.ExitCode() == 2 {
			return nil, fmt.Errorf("vault password client script %s found no secret for vault id %q: %s", path, id, strings.TrimSpace(stderr.String()))
		}
		return nil, fmt.Errorf("vault password script %s: %w %s", path, err, strings.TrimSpace(stderr.String()))
	}
	return bytes.Trim(out, "\r\n"), nil
}
