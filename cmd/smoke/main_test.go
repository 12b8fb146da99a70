package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/icholy/digest"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/internal/behavior"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func runSmoke(t *testing.T, lookup func(string) (string, bool), args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(t.Context(), args, &out, &errOut, lookup, atlastest.NewServer)
	return code, out.String(), errOut.String()
}

// TestLocalMode runs the local matrix in each output form: every scenario
// passes, and no output holds a secret of the server it made up. The table
// names its target and cuts no cell; -json parses; -v logs round trips.
func TestLocalMode(t *testing.T) {
	for _, args := range [][]string{nil, {"-json"}, {"-v"}} {
		var srv *atlastest.Server
		newServer := func(o ...atlastest.Option) *atlastest.Server {
			srv = atlastest.NewServer(o...)
			return srv
		}
		var stdout, stderr bytes.Buffer
		if code := run(t.Context(), args, &stdout, &stderr, env(nil), newServer); code != exitPass {
			t.Fatalf("%v: exit %d\n%s\n%s", args, code, &stdout, &stderr)
		}
		out, errOut := stdout.String(), stderr.String()
		secrets := []string{srv.Owner().PrivateKey, srv.Owner().ClientSecret,
			srv.Member().PrivateKey, srv.Member().ClientSecret}
		if found := leaks(out+errOut, secrets); len(found) > 0 {
			t.Errorf("%v: output holds %v", args, found)
		}
		var rep struct {
			Target  string
			Results []scenario
			Passed  int
		}
		switch lines := strings.Split(strings.TrimSpace(out), "\n"); {
		case args == nil:
			target := "target: embedded reference server http://127.0.0.1:"
			if !strings.HasPrefix(lines[0], target) || strings.Contains(out, "…") ||
				!strings.HasSuffix(lines[len(lines)-1], " passed, 0 failed") {
				t.Errorf("no target first, no count last, or a cell cut:\n%s", out)
			}
			for _, want := range []string{"429, 204 → removed", "500, 400 → already removed",
				"400 API_KEY_NOT_FOUND → not found", "406 INVALID_VERSION_DATE",
				"ParamError apiUserId", "200 → {status: 204}", "token endpoint 401 → refused"} {
				if !strings.Contains(out, want) {
					t.Errorf("the table lacks %q:\n%s", want, out)
				}
			}
		case args[0] == "-json":
			err := json.Unmarshal(stdout.Bytes(), &rep)
			if err != nil || rep.Passed != len(rep.Results) || rep.Passed < 20 || rep.Target == "" {
				t.Errorf("-json: %v, %q, %d of %d", err, rep.Target, rep.Passed, len(rep.Results))
			}
		case !strings.Contains(errOut, `msg="round trip"`), !strings.Contains(errOut, "status=204"):
			t.Errorf("-v logs:\n%.2000s", errOut)
		}
	}
}

// TestMatrixCoversDocumentedStatuses: a status newly documented in the spec
// fails here until the local matrix has a scenario that expects it (and
// TestLocalMatrixPasses holds that scenario to it).
func TestMatrixCoversDocumentedStatuses(t *testing.T) {
	srv := atlastest.NewTestServer(t, atlastest.WithSeedKeys(5))
	covered := map[int]bool{}
	for _, s := range matrix(config{newServer: atlastest.NewServer}, srv, &observer{}) {
		for _, w := range s.want {
			a, ok := behavior.Lookup(w)
			if !ok {
				t.Errorf("scenario %q expects situation %q, which internal/behavior lacks", s.Name, w)
			}
			covered[a.Status] = true
		}
	}
	for code := range contract.MustLoad().Op.Responses.Map() {
		if status, err := strconv.Atoi(code); err != nil || !covered[status] {
			t.Errorf("the spec documents response %q, and no scenario of smoke's local matrix expects it", code)
		}
	}
}

func TestUsage(t *testing.T) {
	code, _, errOut := runSmoke(t, env(nil), "-h")
	if code != exitPass {
		t.Errorf("-h exit %d", code)
	}
	for _, want := range []string{"-atlas", "-base-url", "-org", "-delete-key", "-confirm", "-record", "-insecure-http", "-token-cache", "-json", "-v", "-timeout", "serve",
		"MONGODB_ATLAS_CLIENT_ID", "MONGODB_ATLAS_CLIENT_SECRET", "MONGODB_ATLAS_PUBLIC_API_KEY", "MONGODB_ATLAS_PRIVATE_API_KEY",
		"MONGODB_ATLAS_ORG_ID", "MONGODB_ATLAS_OPS_MANAGER_URL", "0 every scenario passed, 1 a scenario failed, 2 bad usage"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("-h does not mention %s", want)
		}
	}
	// Every usage mistake at once, one line each.
	code, _, errOut = runSmoke(t, env(nil), "-delete-key", "32b6e34b3d91647abb20e7b8", "-timeout", "0s", "extra")
	if code != exitUsage || strings.Count(errOut, "smoke: ") != 4 {
		t.Errorf("usage mistakes: exit %d, want %d and four lines:\n%s", code, exitUsage, errOut)
	}
}

// spy serves a reference server and learns every secret that crosses it:
// Authorization values (a digest one's parts too) and the tokens the token
// endpoint issues. A hostile spy also echoes the Authorization value into
// a header (raw, URL-escaped, and a digest one's parts), a cookie and the error's detail
// (JSON-escaped), as a broken proxy might, and sends the operation's
// headers in reverse order with a chunked body.
type spy struct {
	srv     *atlastest.Server
	hostile bool
	mu      sync.Mutex
	secrets []string
}

func newSpy(t *testing.T, srv *atlastest.Server, hostile bool) (*spy, string) {
	s := &spy{srv: srv, hostile: hostile}
	for _, p := range []atlastest.Principal{srv.Owner(), srv.Member()} {
		s.learn(p.PrivateKey, p.ClientSecret)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return s, hs.URL
}

func (s *spy) learn(secrets ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range secrets {
		if v != "" {
			s.secrets = append(s.secrets, v)
		}
	}
}

func (s *spy) known() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.secrets)
}

func (s *spy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	_, cred, _ := strings.Cut(auth, " ")
	s.learn(auth, cred)
	var parts []string
	if c, err := digest.ParseCredentials(auth); err == nil {
		parts = []string{c.Username, c.Nonce, c.Cnonce, c.Response}
		s.learn(parts...)
	}
	rec := httptest.NewRecorder()
	s.srv.Handler().ServeHTTP(rec, r)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &tok)
	s.learn(tok.AccessToken)
	body, h := rec.Body.Bytes(), rec.Header()
	if !s.hostile || auth == "" || r.URL.Path == contract.TokenPath() {
		maps.Copy(w.Header(), h)
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
		return
	}
	esc, _ := json.Marshal(auth)
	echo := append([]byte(`"detail":"`), esc[1:len(esc)-1]...)
	body = bytes.ReplaceAll(body, []byte(`"detail" : "`), []byte(`"detail":"`))
	body = bytes.Replace(body, []byte(`"detail":"`), append(echo, ' '), 1)
	h.Set("X-Echo", auth)
	h.Set("X-Echo-Url", url.QueryEscape(auth))
	h.Set("X-Echo-Parts", strings.Join(parts, " "))
	h.Set("Set-Cookie", "session="+cred)
	h.Set("Connection", "close") // hijacked: the connection ends with the answer
	conn, buf, _ := w.(http.Hijacker).Hijack()
	defer conn.Close()
	fmt.Fprintf(buf, "HTTP/1.1 %d %s\r\n", rec.Code, http.StatusText(rec.Code))
	for _, k := range slices.Backward(slices.Sorted(maps.Keys(h))) {
		fmt.Fprintf(buf, "%s: %s\r\n", k, h.Get(k))
	}
	if len(body) > 0 {
		fmt.Fprintf(buf, "Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n", len(body), body)
	}
	_, _ = buf.WriteString("\r\n")
	_ = buf.Flush()
}

// atlasEnv points -atlas mode at a reference server (through url), as a local imitation of Atlas.
func atlasEnv(url string, srv *atlastest.Server, p atlastest.Principal, digest bool) map[string]string {
	vars := map[string]string{"MONGODB_ATLAS_OPS_MANAGER_URL": url, "MONGODB_ATLAS_ORG_ID": srv.OrgID()}
	if digest {
		vars["MONGODB_ATLAS_PUBLIC_API_KEY"], vars["MONGODB_ATLAS_PRIVATE_API_KEY"] = p.PublicKey, p.PrivateKey
	} else {
		vars["MONGODB_ATLAS_CLIENT_ID"], vars["MONGODB_ATLAS_CLIENT_SECRET"] = p.ClientID, p.ClientSecret
	}
	return vars
}

func TestAtlasMode(t *testing.T) {
	for _, digest := range []bool{true, false} {
		srv := atlastest.NewTestServer(t)
		vars := atlasEnv(srv.URL, srv, srv.Owner(), digest)
		before := srv.OrgKeys(srv.OrgID())
		code, out, errOut := runSmoke(t, env(vars), "-atlas")
		if code != exitPass || !strings.Contains(out, "400 API_KEY_NOT_FOUND → not found") {
			t.Fatalf("digest=%v: exit %d\n%s%s", digest, code, out, errOut)
		}
		if first := strings.SplitN(out, "\n", 2)[0]; !strings.HasPrefix(first, "target: "+srv.URL+", organization "+srv.OrgID()+", auth ") {
			t.Errorf("first line %q does not name the target", first)
		}
		if after := srv.OrgKeys(srv.OrgID()); !slices.Equal(before, after) {
			t.Errorf("digest=%v: keys changed without -confirm: %d -> %d", digest, len(before), len(after))
		}
		// A non-owner passes too: its delete is forbidden.
		notOwner, _ := behavior.Lookup(behavior.NotOwner)
		forbidden := fmt.Sprintf("%d %s → forbidden", notOwner.Status, notOwner.ErrorCode)
		code, out, _ = runSmoke(t, env(atlasEnv(srv.URL, srv, srv.Member(), digest)), "-atlas")
		if code != exitPass || !strings.Contains(out, forbidden) {
			t.Errorf("digest=%v, non-owner: exit %d\n%s", digest, code, out)
		}

		key := srv.Keys()[0]
		if code, _, _ := runSmoke(t, env(vars), "-atlas", "-delete-key", key); code != exitUsage || !srv.HasKey(key) {
			t.Fatalf("-delete-key without -confirm: exit %d, key there: %v", code, srv.HasKey(key))
		}
		code, out, _ = runSmoke(t, env(vars), "-atlas", "-delete-key", key, "-confirm")
		if code != exitPass || srv.HasKey(key) || len(srv.OrgKeys(srv.OrgID())) != len(before)-1 || !strings.Contains(out, "204 → removed") {
			t.Errorf("-delete-key -confirm: exit %d, key still there or others gone\n%s", code, out)
		}
		// The repeat finds the key gone: not found, no failure.
		code, out, _ = runSmoke(t, env(vars), "-atlas", "-delete-key", key, "-confirm")
		if code != exitPass || !regexp.MustCompile(`delete `+key+` .* 400 API_KEY_NOT_FOUND → not found .* PASS`).MatchString(out) {
			t.Errorf("repeated -delete-key: exit %d\n%s", code, out)
		}
	}
}

// TestAtlasModeReportsEverySettingAtOnce: one run names every usage and
// settings problem (issue 13 item 12), and sends nothing.
func TestAtlasModeReportsEverySettingAtOnce(t *testing.T) {
	srv := atlastest.NewTestServer(t)
	code, _, errOut := runSmoke(t, env(map[string]string{"MONGODB_ATLAS_OPS_MANAGER_URL": "http://atlas.example.com"}), "-atlas", "-delete-key", "xyz")
	for _, want := range []string{"without -confirm", "-delete-key: ", "MONGODB_ATLAS_ORG_ID", "MONGODB_ATLAS_CLIENT_ID", "MONGODB_ATLAS_PUBLIC_API_KEY", "pass -insecure-http"} {
		if code != exitUsage || !strings.Contains(errOut, want) {
			t.Errorf("exit %d; setup errors lack %s:\n%s", code, want, errOut)
		}
	}
	vars := atlasEnv(srv.URL, srv, srv.Owner(), true)
	delete(vars, "MONGODB_ATLAS_PRIVATE_API_KEY")
	if code, _, errOut := runSmoke(t, env(vars), "-atlas"); code != exitUsage || !strings.Contains(errOut, "MONGODB_ATLAS_PRIVATE_API_KEY") {
		t.Errorf("half a key pair: exit %d, %q", code, errOut)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("setup errors sent %d requests", n)
	}
}

func TestAtlasModeStopsWhenUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	_ = ln.Close() // nothing listens there now
	srv := atlastest.NewTestServer(t)
	code, out, _ := runSmoke(t, env(atlasEnv(url, srv, srv.Owner(), true)), "-atlas", "-delete-key", srv.Keys()[0], "-confirm")
	if code != exitFail || !strings.Contains(out, "cannot reach "+url+": ") ||
		strings.Contains(out, "learnt") || !strings.Contains(out, "(scenarios not run: 2)") ||
		!strings.HasSuffix(out, "0 passed, 1 failed\n") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

// TestAtlasModeCatchesContractBreaks: an imitation of Atlas that answers
// wrongly makes smoke fail, non-zero, with a line that says what broke and
// what the server said; one that answers as Atlas may passes.
func TestAtlasModeCatchesContractBreaks(t *testing.T) {
	ref := atlastest.NewTestServer(t)
	answer := func(status int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") == "" {
				ref.Handler().ServeHTTP(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Error-Code", "API_KEY_NOT_FOUND")
			w.Header().Set("Ratelimit-Limit", "500")
			w.Header().Set("Ratelimit-Remaining", "499")
			w.WriteHeader(status)
			fmt.Fprint(w, body)
		}
	}
	cases := map[string]struct {
		h    http.HandlerFunc
		pass bool
		want string
	}{
		"404 API_KEY_NOT_FOUND, as Atlas may": {h: answer(404, `{"detail":"No API key with ID x exists.","error":404,"errorCode":"API_KEY_NOT_FOUND","parameters":null,"reason":"Not Found"}`), pass: true},
		"403 with another code":               {h: answer(403, `{"detail":"no","error":403,"errorCode":"ORG_OWNER_REQUIRED","parameters":[],"reason":"Forbidden"}`), pass: true},
		"404 with another code": {h: answer(404, `{"detail":"Nothing here.","error":404,"errorCode":"RESOURCE_NOT_FOUND","parameters":[],"reason":"Not Found"}`),
			want: `RESOURCE_NOT_FOUND (Nothing here.)`},
		"404 without errorCode": {h: answer(404, `{"error":404}`)},
		"401 without a challenge": {h: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(401)
			fmt.Fprint(w, `{"error":401,"errorCode":"UNAUTHORIZED"}`)
		}},
		"400 API_KEY_NOT_FOUND without Atlas's headers": {h: func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") == "" {
				ref.Handler().ServeHTTP(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			fmt.Fprint(w, `{"detail":"No API key with ID x exists.","error":400,"errorCode":"API_KEY_NOT_FOUND","parameters":["x"],"reason":"Bad Request"}`)
		}, want: "no X-Error-Code header"},
		"undocumented 418":             {h: answer(http.StatusTeapot, "")},
		"an envelope nobody asked for": {h: answer(200, `{"status":"gone"}`)},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			bad := httptest.NewServer(c.h)
			defer bad.Close()
			code, out, _ := runSmoke(t, env(atlasEnv(bad.URL, ref, ref.Owner(), true)), "-atlas")
			if c.pass {
				if code != exitPass {
					t.Fatalf("exit %d for an Atlas-like answer:\n%s", code, out)
				}
				return
			}
			if code != exitFail || !strings.Contains(out, "FAIL ") || strings.Contains(out, " 0 failed") || !strings.Contains(out, c.want) {
				t.Fatalf("exit %d for a broken server, want a FAIL line with %q:\n%s", code, c.want, out)
			}
		})
	}
}

// tokenLike matches a bearer token as atlastest issues them (32 random
// bytes, base64url): no other output of smoke has such a run.
var tokenLike = regexp.MustCompile(`[A-Za-z0-9_-]{43}`)

// leaks lists what output holds of secrets, raw, JSON-escaped or
// URL-escaped, and of anything shaped like a token.
func leaks(output string, secrets []string) []string {
	var found []string
	for _, s := range secrets {
		j, _ := json.Marshal(s)
		escaped := string(j[1 : len(j)-1])
		if s != "" && (strings.Contains(output, s) || strings.Contains(output, escaped) ||
			strings.Contains(output, url.QueryEscape(s))) {
			found = append(found, "a secret")
		}
	}
	if tokenLike.MatchString(output) {
		found = append(found, "a token-like string "+tokenLike.FindString(output)[:6]+"…")
	}
	return found
}

// TestNoSecretsInOutput runs every mode that handles secrets, on success and
// on failure paths, learns every secret that crosses the server, and looks
// for them and for anything shaped like a token in stdout and stderr.
func TestNoSecretsInOutput(t *testing.T) {
	srv := atlastest.NewTestServer(t)
	sp, url := newSpy(t, srv, false)
	outputs := [][]string{{"-atlas"}, {"-atlas", "-v"}, {"-atlas", "-json"}, {"-atlas", "-v", "-json"}}
	for _, digest := range []bool{true, false} {
		for _, wrong := range []bool{false, true} {
			for _, args := range outputs {
				vars := atlasEnv(url, srv, srv.Owner(), digest)
				if wrong { // the failure paths: 401s and token errors
					for _, name := range []string{"MONGODB_ATLAS_PRIVATE_API_KEY", "MONGODB_ATLAS_CLIENT_SECRET"} {
						if v, ok := vars[name]; ok {
							vars[name] = v + "x"
							sp.learn(v + "x")
						}
					}
				}
				code, out, errOut := runSmoke(t, env(vars), args...)
				if wrong == (code == exitPass) {
					t.Errorf("digest=%v wrong=%v %v: exit %d", digest, wrong, args, code)
				}
				if found := leaks(out+errOut, sp.known()); len(found) > 0 {
					t.Errorf("digest=%v wrong=%v %v: output holds %v", digest, wrong, args, found)
				}
			}
		}
	}

}

// TestAtlasModeTokenCache: two runs share one token through -token-cache,
// in a directory given or the default one (without it each run mints its
// own), and the store holds no secret.
func TestAtlasModeTokenCache(t *testing.T) {
	t.Setenv("HOME", t.TempDir()) // where os.UserCacheDir looks
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	srv := atlastest.NewTestServer(t)
	vars := atlasEnv(srv.URL, srv, srv.Owner(), false)
	tokens := func() int {
		return srv.CountRequests(func(r atlastest.Request) bool { return r.Path == contract.TokenPath() })
	}
	dir := filepath.Join(t.TempDir(), "tokens")
	for _, c := range []struct {
		args  []string
		store string
		want  int
	}{
		{[]string{"-atlas"}, "", 2},
		{[]string{"-atlas", "-token-cache", dir}, dir, 1},
		{[]string{"-atlas", "-token-cache", "default"}, filepath.Join(cache, "atlascontract-deleteorgapikey", "tokens"), 1},
	} {
		before := tokens()
		for range 2 {
			if code, out, errOut := runSmoke(t, env(vars), c.args...); code != exitPass {
				t.Fatalf("%v: exit %d\n%s%s", c.args, code, out, errOut)
			}
		}
		if got := tokens() - before; got != c.want {
			t.Errorf("%v: two runs made %d token requests, want %d", c.args, got, c.want)
		}
		if c.store == "" {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(c.store, "*"))
		if fi, err := os.Stat(c.store); err != nil || fi.Mode().Perm() != 0o700 || len(files) == 0 {
			t.Fatalf("store %s: %v, %d files", c.store, err, len(files))
		}
		for _, f := range files {
			if raw, _ := os.ReadFile(f); strings.Contains(string(raw), srv.Owner().ClientSecret) {
				t.Errorf("%s holds the client secret", f)
			}
		}
	}
	// Digest keys have no token to cache: refused, with nothing sent.
	sent := len(srv.Requests())
	if code, _, errOut := runSmoke(t, env(atlasEnv(srv.URL, srv, srv.Owner(), true)), "-atlas", "-token-cache", dir); code != exitUsage ||
		!strings.Contains(errOut, "-token-cache needs a service account") || len(srv.Requests()) != sent {
		t.Errorf("-token-cache with digest keys: exit %d, %s", code, errOut)
	}
}
