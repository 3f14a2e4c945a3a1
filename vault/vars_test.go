package vault

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestVarsWholeFile(t *testing.T) {
	vars, found, err := Vars("file-1.1.vault", read(t, "file-1.1.vault"), []Secret{defaultPw})
	if err != nil {
		t.Fatal(err)
	}
	if vars["vaulted_user"] != "alice" || len(vars["vaulted_list"].([]any)) != 2 {
		t.Fatalf("vars = %v", vars)
	}
	slices.Sort(found)
	if !slices.Equal(found, []string{"alice", "one", "two"}) {
		t.Fatalf("secrets = %v, want every string of a vaulted file", found)
	}
	if _, _, err := Vars("f.yml", read(t, "file-1.1.vault"), nil); !errors.Is(err, ErrNoSecret) || !strings.Contains(err.Error(), "f.yml") {
		t.Fatalf("without a password: %v", err)
	}
}

// A plain vars file with one `!vault |` value (ansible-vault encrypt_string
// output, string-1.1.vault): only that value is secret.
func TestVarsInlineValue(t *testing.T) {
	indented := "    " + strings.ReplaceAll(strings.TrimSpace(string(read(t, "string-1.1.vault"))), "\n", "\n    ")
	data := "user: bob\ntoken: !vault |\n" + indented + "\n"
	vars, found, err := Vars("v.yml", []byte(data), []Secret{defaultPw})
	if err != nil {
		t.Fatal(err)
	}
	if vars["user"] != "bob" || vars["token"] != "s3cr3t-value" || !slices.Equal(found, []string{"s3cr3t-value"}) {
		t.Fatalf("vars = %v, secrets = %v", vars, found)
	}
	if _, _, err := Vars("v.yml", []byte(data), []Secret{{ID: DefaultID, Password: []byte("wrong")}}); !errors.Is(err, ErrDecrypt) || !strings.Contains(err.Error(), "v.yml:2") {
		t.Fatalf("wrong password: %v", err)
	}
}
