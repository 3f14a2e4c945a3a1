package vault

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var (
	defaultPw = Secret{ID: DefaultID, Password: []byte("hunter2pass")}
	prodPw    = Secret{ID: "prod", Password: []byte("prod-pass")}
)

// The vectors were written by ansible-vault (see testdata/README.md).
func TestDecryptAnsibleVectors(t *testing.T) {
	plain := string(read(t, "plain.yml"))
	cases := []struct {
		file    string
		secrets []Secret
		want    string
	}{
		{"file-1.1.vault", []Secret{defaultPw}, plain},
		{"file-1.2-prod.vault", []Secret{prodPw}, plain},
		// The id-matched secret is tried first, then the rest, as ansible-core.
		{"file-1.2-prod.vault", []Secret{defaultPw, prodPw}, plain},
		// A 1.2 envelope opens with an unlabelled password too (vault_id_match off).
		{"file-1.2-prod.vault", []Secret{{ID: DefaultID, Password: []byte("prod-pass")}}, plain},
		{"string-1.1.vault", []Secret{defaultPw}, "s3cr3t-value"},
		{"empty-1.1.vault", []Secret{defaultPw}, ""},
		{"block-1.1.vault", []Secret{defaultPw}, "exactly16bytes!!"},
	}
	for _, c := range cases {
		got, err := Decrypt(read(t, c.file), c.secrets)
		if err != nil {
			t.Errorf("%s: %v", c.file, err)
			continue
		}
		if string(got) != c.want {
			t.Errorf("%s = %q, want %q", c.file, got, c.want)
		}
	}
}

func TestEnvelope(t *testing.T) {
	env, err := ParseEnvelope(read(t, "file-1.2-prod.vault"))
	if err != nil {
		t.Fatal(err)
	}
	if env.Version != "1.2" || env.Cipher != "AES256" || env.ID != "prod" {
		t.Errorf("envelope = %+v", env)
	}
	if bytes.ContainsAny(env.Payload, "\n ") {
		t.Error("payload keeps line breaks")
	}
}

func TestDecryptErrors(t *testing.T) {
	good := read(t, "string-1.1.vault")
	cases := []struct {
		name    string
		data    []byte
		secrets []Secret
		want    error
	}{
		{"wrong password", good, []Secret{{ID: DefaultID, Password: []byte("nope")}}, ErrDecrypt},
		{"no password", good, nil, ErrNoSecret},
		{"not hex", []byte("$ANSIBLE_VAULT;1.1;AES256\nzz\n"), []Secret{defaultPw}, ErrFormat},
		{"version", []byte("$ANSIBLE_VAULT;2.0;AES256\n00\n"), []Secret{defaultPw}, ErrFormat},
		{"cipher", []byte("$ANSIBLE_VAULT;1.1;AES128\n00\n"), []Secret{defaultPw}, ErrFormat},
		{"short header", []byte("$ANSIBLE_VAULT;1.1\n00\n"), []Secret{defaultPw}, ErrFormat},
		{"two parts", []byte("$ANSIBLE_VAULT;1.1;AES256\n" + hexOf("00\n00") + "\n"), []Secret{defaultPw}, ErrFormat},
		{"not vault", []byte("hello"), []Secret{defaultPw}, ErrFormat},
	}
	for _, c := range cases {
		_, err := Decrypt(c.data, c.secrets)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
	_, err := Decrypt(read(t, "file-1.2-prod.vault"), []Secret{defaultPw})
	if err == nil || !strings.Contains(err.Error(), `"prod"`) {
		t.Errorf("wrong password for a 1.2 vault should name its id: %v", err)
	}
}

func hexOf(s string) string {
	const digits = "0123456789abcdef"
	var b strings.Builder
	for _, c := range []byte(s) {
		b.WriteByte(digits[c>>4])
		b.WriteByte(digits[c&15])
	}
	return b.String()
}

func TestEncryptRoundTripMatchesAnsibleLayout(t *testing.T) {
	salt := bytes.Repeat([]byte{7}, 32)
	for _, sec := range []Secret{defaultPw, prodPw} {
		out, err := Encrypt([]byte("round trip"), sec, salt)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decrypt(out, []Secret{sec})
		if err != nil || string(got) != "round trip" {
			t.Errorf("%s: %q, %v", sec.ID, got, err)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n")[1:] {
			if len(l) > 80 {
				t.Errorf("line longer than 80: %q", l)
			}
		}
	}
}

func TestLoadSources(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	file := filepath.Join(dir, "pw")
	os.WriteFile(file, []byte("  filepass \n"), 0o600)
	script := filepath.Join(dir, "pw.sh")
	os.WriteFile(script, []byte("#!/bin/sh\necho scriptpass\n"), 0o700)
	client := filepath.Join(dir, "vault-client.sh")
	os.WriteFile(client, []byte("#!/bin/sh\n[ \"$1\" = --vault-id ] && [ \"$2\" = prod ] && echo clientpass-$2 && exit 0\necho unknown id >&2; exit 2\n"), 0o700)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)

	cases := []struct {
		spec, want string
	}{
		{file, "filepass"},
		{"dev@" + script, "scriptpass"},
		{"prod@" + client, "clientpass-prod"},
	}
	for _, c := range cases {
		id, src := ParseID(c.spec)
		s, err := Load(ctx, id, src, nil)
		if err != nil || string(s.Password) != c.want {
			t.Errorf("%s: %q, %v", c.spec, s.Password, err)
		}
	}
	if _, err := Load(ctx, "other", client, nil); err == nil || !strings.Contains(err.Error(), "no secret for vault id") {
		t.Errorf("client script without the id: %v", err)
	}
	if _, err := Load(ctx, DefaultID, empty, nil); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty password file: %v", err)
	}
	s, err := Load(ctx, "prod", "prompt", func(p string) (string, error) {
		if p != "Vault password (prod): " {
			t.Errorf("prompt %q", p)
		}
		return "typed\n", nil
	})
	if err != nil || string(s.Password) != "typed" || s.ID != "prod" {
		t.Errorf("prompt: %+v, %v", s, err)
	}
}
