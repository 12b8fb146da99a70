package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/atlascontract/deleteorgapikey/atlastest"
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func runSmoke(t *testing.T, lookup func(string) (string, bool), args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(t.Context(), args, &out, &errOut, lookup)
	return code, out.String(), errOut.String()
}

func TestLocalMatrixPasses(t *testing.T) {
	code, out, errOut := runSmoke(t, env(nil))
	if code != exitPass {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-1]
	if !regexp.MustCompile(`^\d+ passed, 0 failed$`).MatchString(last) {
		t.Fatalf("last line %q", last)
	}
	for _, want := range []string{"204, 429, 204", "already removed", "ParamError apiUserId, 0 round trips", "200 {status: 204}", "401 (token endpoint)"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestLocalJSON(t *testing.T) {
	code, out, _ := runSmoke(t, env(nil), "-json")
	var report struct {
		Results []result
		Passed  int
		Failed  int
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("-json output is not JSON: %v\n%s", err, out)
	}
	if code != exitPass || report.Failed != 0 || report.Passed != len(report.Results) || report.Passed < 19 {
		t.Fatalf("exit %d, passed %d failed %d of %d", code, report.Passed, report.Failed, len(report.Results))
	}
	auths := map[string]bool{}
	for _, r := range report.Results {
		auths[r.Auth] = true
	}
	if !auths["digest"] || !auths["service-account"] {
		t.Errorf("auth methods covered: %v", auths)
	}
}

func TestVerboseLogsRoundTrips(t *testing.T) {
	code, _, errOut := runSmoke(t, env(nil), "-v")
	if code != exitPass || !strings.Contains(errOut, "msg=\"round trip\"") || !strings.Contains(errOut, "status=204") {
		t.Fatalf("exit %d, -v logs:\n%.2000s", code, errOut)
	}
}

func TestUsage(t *testing.T) {
	code, _, errOut := runSmoke(t, env(nil), "-h")
	if code != exitPass {
		t.Errorf("-h exit %d", code)
	}
	for _, want := range []string{"-atlas", "-base-url", "-org", "-delete-key", "-confirm", "-json", "-v", "-timeout", "serve",
		"MONGODB_ATLAS_CLIENT_ID", "MONGODB_ATLAS_CLIENT_SECRET", "MONGODB_ATLAS_PUBLIC_API_KEY", "MONGODB_ATLAS_PRIVATE_API_KEY",
		"MONGODB_ATLAS_ORG_ID", "MONGODB_ATLAS_OPS_MANAGER_URL"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("-h does not mention %s", want)
		}
	}
	if code, _, _ := runSmoke(t, env(nil), "-delete-key", "32b6e34b3d91647abb20e7b8"); code != exitUsage {
		t.Errorf("-delete-key without -atlas/-confirm: exit %d, want %d", code, exitUsage)
	}
}

// atlasEnv points -atlas mode at a reference server, as a local imitation of Atlas.
func atlasEnv(srv *atlastest.Server, digest bool) map[string]string {
	vars := map[string]string{"MONGODB_ATLAS_OPS_MANAGER_URL": srv.URL, "MONGODB_ATLAS_ORG_ID": srv.OrgID()}
	if digest {
		vars["MONGODB_ATLAS_PUBLIC_API_KEY"] = srv.Owner().PublicKey
		vars["MONGODB_ATLAS_PRIVATE_API_KEY"] = srv.Owner().PrivateKey
	} else {
		vars["MONGODB_ATLAS_CLIENT_ID"] = srv.Owner().ClientID
		vars["MONGODB_ATLAS_CLIENT_SECRET"] = srv.Owner().ClientSecret
	}
	return vars
}

func TestAtlasModeDeletesNothingWithoutConfirm(t *testing.T) {
	for _, digest := range []bool{true, false} {
		srv := atlastest.NewServer()
		before := srv.OrgKeys(srv.OrgID())
		code, out, errOut := runSmoke(t, env(atlasEnv(srv, digest)), "-atlas")
		if code != exitPass {
			t.Fatalf("digest=%v: exit %d\n%s%s", digest, code, out, errOut)
		}
		if after := srv.OrgKeys(srv.OrgID()); !slices.Equal(before, after) {
			t.Errorf("digest=%v: keys changed without -confirm: %d -> %d", digest, len(before), len(after))
		}

		key := srv.Keys()[0]
		if code, _, _ := runSmoke(t, env(atlasEnv(srv, digest)), "-atlas", "-delete-key", key); code != exitUsage {
			t.Errorf("-delete-key without -confirm: exit %d", code)
		}
		if len(srv.KeyProjects(key)) == 0 {
			t.Fatalf("key deleted without -confirm")
		}
		code, out, _ = runSmoke(t, env(atlasEnv(srv, digest)), "-atlas", "-delete-key", key, "-confirm")
		if code != exitPass || slices.Contains(srv.OrgKeys(srv.OrgID()), key) || len(srv.OrgKeys(srv.OrgID())) != len(before)-1 {
			t.Errorf("-delete-key -confirm: exit %d, key still there or others gone\n%s", code, out)
		}
		srv.Close()
	}
}

func TestAtlasModeNeedsOrgAndCredentials(t *testing.T) {
	srv := atlastest.NewServer()
	defer srv.Close()
	vars := atlasEnv(srv, true)
	delete(vars, "MONGODB_ATLAS_ORG_ID")
	if code, _, errOut := runSmoke(t, env(vars), "-atlas"); code != exitUsage || !strings.Contains(errOut, "MONGODB_ATLAS_ORG_ID") {
		t.Errorf("no org: exit %d, %q", code, errOut)
	}
	vars = atlasEnv(srv, true)
	delete(vars, "MONGODB_ATLAS_PRIVATE_API_KEY")
	if code, _, errOut := runSmoke(t, env(vars), "-atlas"); code != exitUsage || !strings.Contains(errOut, "MONGODB_ATLAS_PRIVATE_API_KEY") {
		t.Errorf("half a key pair: exit %d, %q", code, errOut)
	}
	if len(srv.Requests()) != 0 {
		t.Errorf("setup errors sent %d requests", len(srv.Requests()))
	}
}

// TestAtlasModeCatchesContractBreaks: an imitation of Atlas that answers
// wrongly makes smoke fail, non-zero, with a line that says what broke.
func TestAtlasModeCatchesContractBreaks(t *testing.T) {
	ref := atlastest.NewServer()
	defer ref.Close()
	breaks := map[string]http.HandlerFunc{
		"404 without errorCode": func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") == "" {
				ref.Handler().ServeHTTP(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(404)
			fmt.Fprint(w, `{"error":404}`)
		},
		"401 without a challenge": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(401)
			fmt.Fprint(w, `{"error":401,"errorCode":"UNAUTHORIZED"}`)
		},
		"undocumented 418": func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") == "" {
				ref.Handler().ServeHTTP(w, r)
				return
			}
			w.WriteHeader(http.StatusTeapot)
		},
		"an envelope nobody asked for": func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") == "" {
				ref.Handler().ServeHTTP(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(200)
			fmt.Fprint(w, `{"status":"gone"}`)
		},
	}
	for name, h := range breaks {
		t.Run(name, func(t *testing.T) {
			bad := httptest.NewServer(h)
			defer bad.Close()
			vars := atlasEnv(ref, true)
			vars["MONGODB_ATLAS_OPS_MANAGER_URL"] = bad.URL
			code, out, _ := runSmoke(t, env(vars), "-atlas")
			if code != exitFail || !strings.Contains(out, "FAIL ") || !strings.HasSuffix(strings.TrimSpace(out), "failed") || strings.Contains(out, " 0 failed") {
				t.Fatalf("exit %d for a broken server:\n%s", code, out)
			}
		})
	}
}

// tokenLike matches a bearer token as atlastest issues them (32 random
// bytes, base64url): no other output of smoke has such a run.
var tokenLike = regexp.MustCompile(`[A-Za-z0-9_-]{43}`)

func leaks(output string, secrets []string) []string {
	var found []string
	for _, s := range secrets {
		if s != "" && strings.Contains(output, s) {
			found = append(found, "a secret")
		}
	}
	if tokenLike.MatchString(output) {
		found = append(found, "a token-like string "+tokenLike.FindString(output)[:6]+"…")
	}
	return found
}

// TestNoSecretsInOutput runs every mode that handles secrets, on success and
// on failure paths, with known secret values, and looks for them and for
// anything shaped like a token in stdout and stderr.
func TestNoSecretsInOutput(t *testing.T) {
	srv := atlastest.NewServer()
	defer srv.Close()
	owner, member := srv.Owner(), srv.Member()
	secrets := []string{owner.PrivateKey, owner.ClientSecret, member.PrivateKey, member.ClientSecret}
	outputs := [][]string{{"-atlas"}, {"-atlas", "-v"}, {"-atlas", "-json"}, {"-atlas", "-v", "-json"}}
	for _, digest := range []bool{true, false} {
		for _, wrong := range []bool{false, true} {
			for _, args := range outputs {
				vars := atlasEnv(srv, digest)
				if wrong { // the failure paths: 401s and token errors
					for _, name := range []string{"MONGODB_ATLAS_PRIVATE_API_KEY", "MONGODB_ATLAS_CLIENT_SECRET"} {
						if v, ok := vars[name]; ok {
							vars[name] = v + "x"
							secrets = append(secrets, v+"x")
						}
					}
				}
				code, out, errOut := runSmoke(t, env(vars), args...)
				if wrong == (code == exitPass) {
					t.Errorf("digest=%v wrong=%v %v: exit %d", digest, wrong, args, code)
				}
				if found := leaks(out+errOut, secrets); len(found) > 0 {
					t.Errorf("digest=%v wrong=%v %v: output holds %v", digest, wrong, args, found)
				}
			}
		}
	}

	// The local mode makes its servers' secrets up: learn them from the servers.
	for _, args := range [][]string{nil, {"-v"}, {"-json"}, {"-v", "-json"}} {
		var made []*atlastest.Server
		newServer := func(opts ...atlastest.Option) *atlastest.Server {
			s := atlastest.NewServer(opts...)
			made = append(made, s)
			return s
		}
		var out, errOut bytes.Buffer
		code := runWith(t.Context(), args, &out, &errOut, env(nil), newServer)
		var local []string
		for _, s := range made {
			local = append(local, s.Owner().PrivateKey, s.Owner().ClientSecret, s.Member().PrivateKey, s.Member().ClientSecret)
		}
		if code != exitPass || len(made) != 2 {
			t.Fatalf("local %v: exit %d with %d servers", args, code, len(made))
		}
		if found := leaks(out.String()+errOut.String(), local); len(found) > 0 {
			t.Errorf("local %v: output holds %v", args, found)
		}
	}
}

func TestServePrintsCredentialsAndServes(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	r, w := io.Pipe()
	done := make(chan int, 1)
	var errOut bytes.Buffer
	go func() { done <- serve(ctx, []string{"-addr", "127.0.0.1:0", "-seed-keys", "3"}, w, &errOut) }()
	var a announcement
	if err := json.NewDecoder(r).Decode(&a); err != nil {
		t.Fatalf("serve's first line: %v (%s)", err, errOut.String())
	}
	if a.OrgID == "" || a.Owner.PrivateKey == "" || a.Owner.ClientSecret == "" || a.Member.PrivateKey == "" || len(a.Keys) < 5 {
		t.Fatalf("announcement incomplete: %+v", a)
	}
	vars := map[string]string{"MONGODB_ATLAS_OPS_MANAGER_URL": a.BaseURL, "MONGODB_ATLAS_ORG_ID": a.OrgID,
		"MONGODB_ATLAS_PUBLIC_API_KEY": a.Owner.PublicKey, "MONGODB_ATLAS_PRIVATE_API_KEY": a.Owner.PrivateKey}
	code, out, _ := runSmoke(t, env(vars), "-atlas", "-delete-key", a.Keys[0], "-confirm")
	if code != exitPass {
		t.Fatalf("smoke -atlas against smoke serve: exit %d\n%s", code, out)
	}
	cancel()
	if code := <-done; code != exitPass {
		t.Fatalf("serve exit %d: %s", code, errOut.String())
	}
}

func TestServeAnnouncesADialableAddress(t *testing.T) {
	for in, want := range map[string]string{"0.0.0.0:8080": "127.0.0.1:8080", "[::]:9": "127.0.0.1:9", "127.0.0.2:7": "127.0.0.2:7"} {
		a, err := net.ResolveTCPAddr("tcp", in)
		if err != nil {
			t.Fatal(err)
		}
		if got := dialable(a); got != want {
			t.Errorf("dialable(%s) = %s, want %s", in, got, want)
		}
	}
}
