package ssh

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// defaultIdentities are the keys OpenSSH tries when none are configured.
var defaultIdentities = []string{"id_ed25519", "id_ecdsa", "id_rsa"}

// authMethods builds the client's authentication methods: public keys from
// files and ssh-agent first (one callback, so each key is one attempt),
// then the password if one was given. The returned closer releases the
// agent socket.
func authMethods(cfg *resolved) ([]ssh.AuthMethod, func(), error) {
	var signers []ssh.Signer
	closer := func() {}

	var agentClient agent.ExtendedAgent
	if sock := os.Getenv("SSH_AUTH_SOCK"); sock != "" && !cfg.NoAgent {
		c, err := net.Dial("unix", sock)
		if err != nil {
			cfg.Logger.Debug("ssh-agent unavailable", "socket", sock, "err", err)
		} else {
			agentClient = agent.NewClient(c)
			closer = func() { c.Close() }
		}
	}

	files, explicit := cfg.KeyFiles, true
	if len(files) == 0 {
		explicit = false
		if home, err := os.UserHomeDir(); err == nil {
			for _, id := range defaultIdentities {
				files = append(files, filepath.Join(home, ".ssh", id))
			}
		}
	}
	for _, f := range files {
		s, err := loadKey(f)
		switch {
		case err == nil:
			signers = append(signers, s)
		case !explicit && errors.Is(err, fs.ErrNotExist):
		case errors.As(err, new(*ssh.PassphraseMissingError)):
			// An encrypted key is usable when the agent holds it; without an
			// agent the user must be told rather than silently skipped.
			if agentClient == nil {
				closer()
				return nil, nil, fmt.Errorf("ssh: key %s is passphrase-protected: add it to ssh-agent (ssh-add %s)", f, f)
			}
			cfg.Logger.Debug("skipping passphrase-protected key, relying on ssh-agent", "key", f)
		case explicit:
			closer()
			return nil, nil, fmt.Errorf("ssh: key %s: %w", f, err)
		default:
			cfg.Logger.Debug("skipping unreadable default key", "key", f, "err", err)
		}
	}

	var methods []ssh.AuthMethod
	if len(signers) > 0 || agentClient != nil {
		methods = append(methods, ssh.PublicKeysCallback(func() ([]ssh.Signer, error) {
			all := signers
			if agentClient != nil {
				if as, err := agentClient.Signers(); err == nil {
					all = append(all[:len(all):len(all)], as...)
				}
			}
			return all, nil
		}))
	}
	if cfg.Password != "" {
		pw := cfg.Password
		methods = append(methods,
			ssh.Password(pw),
			ssh.KeyboardInteractive(func(_, _ string, questions []string, echos []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range questions {
					if !echos[i] {
						answers[i] = pw
					}
				}
				return answers, nil
			}))
	}
	if len(methods) == 0 {
		closer()
		return nil, nil, fmt.Errorf("ssh: no way to authenticate to %s: no key files, no ssh-agent (SSH_AUTH_SOCK) and no password", cfg.name())
	}
	return methods, closer, nil
}

func loadKey(path string) (ssh.Signer, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ssh.ParsePrivateKey(pem)
}
