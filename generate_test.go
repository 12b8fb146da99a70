package deleteorgapikey_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// TestGeneratedCodeIsCurrent is the one staleness check of gen/ (`make
// check` relies on it): it regenerates into a temporary directory with the
// pinned oapi-codegen and the config on disk, and compares byte for byte
// with gen/ on disk. A spec or config edit without `go generate ./...`
// fails here; a fresh, uncommitted generation passes, since git is not
// consulted.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	config, err := os.ReadFile("openapi/oapi-codegen.yaml")
	if err != nil {
		t.Fatal(err)
	}
	outLine := regexp.MustCompile(`(?m)^output: (.+)$`)
	m := outLine.FindSubmatch(config)
	if m == nil {
		t.Fatal("openapi/oapi-codegen.yaml has no output: line")
	}
	committed := string(m[1])

	tmp := t.TempDir()
	fresh := filepath.Join(tmp, "fresh.gen.go")
	tmpConfig := filepath.Join(tmp, "config.yaml")
	tmpConfigText := outLine.ReplaceAll(config, []byte("output: "+fresh))
	if err := os.WriteFile(tmpConfig, tmpConfigText, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), "go", "tool", "oapi-codegen",
		"-config", tmpConfig, "openapi/deleteorgapikey.yaml")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("oapi-codegen: %v\n%s", err, out)
	}
	want, err := os.ReadFile(fresh)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(committed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale (%d bytes committed, %d regenerated): run `go generate ./...`",
			committed, len(got), len(want))
	}
}
