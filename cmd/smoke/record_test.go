package main

import (
	"bufio"
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/internal/behavior"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// TestRecord: -record writes every answer as a testdata/atlas file that
// http.ReadResponse reads, with a situation of the table, the headers in
// the order sent, only the spec's example ids, one nonce for all, and no
// secret in any form even when the server echoes them; a symlink in the directory is replaced,
// not followed.
func TestRecord(t *testing.T) {
	anID := regexp.MustCompile(`\b[0-9a-f]{24}\b`)
	examples := map[string]bool{}
	for _, name := range []string{"orgId", "apiUserId"} {
		p := contract.MustLoad().Op.Parameters.GetByInAndName("path", name)
		examples[p.Schema.Value.Example.(string)] = true
	}
	for _, digest := range []bool{true, false} {
		srv := atlastest.NewTestServer(t)
		sp := &spy{srv: srv, hostile: true}
		url := sp.start(t)
		dir, outside := t.TempDir(), filepath.Join(t.TempDir(), "outside")
		if err := os.Symlink(outside, filepath.Join(dir, "removed.http")); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := runSmoke(t, env(atlasEnv(url, srv, srv.Owner(), digest)), "-atlas",
			"-record", dir, "-delete-key", srv.Keys()[0], "-confirm")
		if code != exitPass {
			t.Fatalf("digest=%v: exit %d\n%s%s", digest, code, out, errOut)
		}
		if _, err := os.Lstat(outside); err == nil {
			t.Error("-record wrote through a symlink")
		}
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		var names []string
		for _, f := range files {
			names = append(names, filepath.Base(f))
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range anID.FindAllString(string(raw), -1) {
				if !examples[id] {
					t.Errorf("%s holds the id %s, not one of the spec's examples", f, id)
				}
			}
			if found := leaks(string(raw), sp.known()); len(found) > 0 {
				t.Errorf("%s holds %v:\n%s", f, found, raw)
			}
			resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			s := behavior.Situation(resp.Header.Get("Evidence-Situation"))
			if a, ok := behavior.Lookup(s); !ok || a.Status != resp.StatusCode ||
				resp.Header.Get("Evidence-Source") == "" || resp.Header.Get("Evidence-Date") == "" {
				t.Errorf("%s: status %d, evidence headers %v", f, resp.StatusCode, resp.Header)
			}
			for _, c := range resp.Header.Values("Www-Authenticate") {
				if !strings.Contains(c, `nonce="`+recordedNonce+`"`) {
					t.Errorf("%s: challenge %s keeps its nonce", f, c)
				}
			}
			if s == behavior.Unauthenticated {
				continue // the spy's own answer, headers in Go's order
			}
			var order []string // the spy's: reverse order, a chunked body
			head, _, _ := strings.Cut(string(raw), "\r\n\r\n")
			for _, l := range strings.Split(head, "\r\n")[4:] { // status line and Evidence-*
				order = append(order, strings.Split(l, ":")[0])
			}
			desc := func(a, b string) int { return strings.Compare(b, a) }
			if !slices.IsSortedFunc(order, desc) || !slices.Contains(order, "Set-Cookie") ||
				slices.Contains(order, "Transfer-Encoding") {
				t.Errorf("%s: headers %v, want the spy's in order, no Transfer-Encoding", f, order)
			}
		}
		for _, want := range []string{"unauthenticated", "key-not-found", "removed"} {
			if !slices.Contains(names, want+".http") {
				t.Errorf("digest=%v: recorded %v, want %s among them", digest, names, want)
			}
		}
	}
}
