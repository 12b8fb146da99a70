package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
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

// env looks names up in vars, as os.LookupEnv does in the environment.
func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

// runSmoke runs smoke with args and returns its exit status and output.
func runSmoke(t *testing.T, lookup func(string) (string, bool),
	args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(t.Context(), args, &out, &errOut, lookup)
	return code, out.String(), errOut.String()
}

// atlasEnv points -atlas at url, a reference server or a spy in front of
// one, as p with an API key (digest) or a service account.
func atlasEnv(url string, srv *atlastest.Server, p atlastest.Principal,
	digest bool) map[string]string {
	vars := map[string]string{"MONGODB_ATLAS_OPS_MANAGER_URL": url,
		"MONGODB_ATLAS_ORG_ID": srv.OrgID()}
	if digest {
		vars["MONGODB_ATLAS_PUBLIC_API_KEY"] = p.PublicKey
		vars["MONGODB_ATLAS_PRIVATE_API_KEY"] = p.PrivateKey
	} else {
		vars["MONGODB_ATLAS_CLIENT_ID"] = p.ClientID
		vars["MONGODB_ATLAS_CLIENT_SECRET"] = p.ClientSecret
	}
	return vars
}

// TestLocalMode runs the local matrix in each output form: every scenario
// passes. The table names its target, shows the situations, and cuts no
// cell; -json parses.
func TestLocalMode(t *testing.T) {
	code, out, errOut := runSmoke(t, env(nil))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != exitPass || !strings.HasPrefix(lines[0], "target: embedded reference server ") ||
		strings.Contains(out, "…") ||
		!strings.HasSuffix(lines[len(lines)-1], " passed, 0 failed") {
		t.Errorf("exit %d; no target first, no count last, or a cell cut:\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"500, 400 → already removed",
		"401 USER_UNAUTHORIZED → not an owner", "403 IP_ADDRESS_NOT_ON_ACCESS_LIST",
		"429 RATE_LIMITED_TOKEN_BUCKET", "400 INVALID_PATH_PARAMETER",
		"200 → {status: 204}", "token endpoint 401 → refused"} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = runSmoke(t, env(nil), "-json")
	var rep struct {
		Target  string
		Results []scenario
		Passed  int
	}
	err := json.Unmarshal([]byte(out), &rep)
	if code != exitPass || err != nil || rep.Passed != len(rep.Results) || rep.Passed < 20 ||
		rep.Target == "" {
		t.Errorf("-json: exit %d, %v, %q, %d of %d", code, err, rep.Target, rep.Passed,
			len(rep.Results))
	}
}

// TestMatrixCoversDocumentedStatuses: a status newly documented in the spec
// fails here until the local matrix has a scenario that expects it.
func TestMatrixCoversDocumentedStatuses(t *testing.T) {
	srv := atlastest.NewTestServer(t)
	covered := map[int]bool{}
	for _, s := range matrix(config{}, srv, &observer{}) {
		for _, w := range s.want {
			a, ok := behavior.Lookup(w)
			if !ok {
				t.Errorf("scenario %q expects situation %q, which internal/behavior lacks",
					s.Name, w)
			}
			covered[a.Status] = true
		}
	}
	for code := range contract.MustLoad().Op.Responses.Map() {
		if status, err := strconv.Atoi(code); err != nil || !covered[status] {
			t.Errorf("the spec documents response %q, and no scenario of smoke's matrix "+
				"expects it: add one to matrix in cmd/smoke/main.go", code)
		}
	}
}

func TestUsage(t *testing.T) {
	code, _, errOut := runSmoke(t, env(nil), "-h")
	if code != exitPass {
		t.Errorf("-h exit %d", code)
	}
	for _, want := range []string{"-atlas", "-base-url", "-org", "-delete-key", "-confirm",
		"-record", "-insecure-http", "-token-cache", "-json", "-timeout", "serve",
		"MONGODB_ATLAS_CLIENT_ID", "MONGODB_ATLAS_CLIENT_SECRET", "MONGODB_ATLAS_PUBLIC_API_KEY",
		"MONGODB_ATLAS_PRIVATE_API_KEY", "MONGODB_ATLAS_ORG_ID", "MONGODB_ATLAS_OPS_MANAGER_URL",
		"0 every scenario passed, 1 a scenario failed, 2 bad usage"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("-h does not mention %s", want)
		}
	}
	// Every usage mistake at once, one line each.
	code, _, errOut = runSmoke(t, env(nil), "-delete-key", "32b6e34b3d91647abb20e7b8",
		"-timeout", "0s", "extra")
	if code != exitUsage || strings.Count(errOut, "smoke: ") != 4 {
		t.Errorf("usage mistakes: exit %d, want %d and four lines:\n%s", code, exitUsage, errOut)
	}
}

// TestAtlasMode: an owner's and a member's probes pass and delete nothing;
// -delete-key -confirm deletes the key, and a repeat finds it gone.
func TestAtlasMode(t *testing.T) {
	for _, digest := range []bool{true, false} {
		srv := atlastest.NewTestServer(t)
		vars := atlasEnv(srv.URL, srv, srv.Owner(), digest)
		before := srv.OrgKeys(srv.OrgID())
		code, out, errOut := runSmoke(t, env(vars), "-atlas")
		if code != exitPass || !strings.Contains(out, "400 API_KEY_NOT_FOUND → not found") {
			t.Fatalf("digest=%v: exit %d\n%s%s", digest, code, out, errOut)
		}
		first, _, _ := strings.Cut(out, "\n")
		target := "target: " + srv.URL + ", organization " + srv.OrgID() + ", auth "
		if !strings.HasPrefix(first, target) {
			t.Errorf("first line %q does not name the target", first)
		}
		code, out, _ = runSmoke(t, env(atlasEnv(srv.URL, srv, srv.Member(), digest)), "-atlas")
		if code != exitPass || !strings.Contains(out, "401 USER_UNAUTHORIZED → not an owner") {
			t.Errorf("digest=%v, a member: exit %d\n%s", digest, code, out)
		}
		if after := srv.OrgKeys(srv.OrgID()); !slices.Equal(before, after) {
			t.Errorf("digest=%v: keys changed without -confirm: %d -> %d",
				digest, len(before), len(after))
		}

		key := srv.Keys()[0]
		code, _, _ = runSmoke(t, env(vars), "-atlas", "-delete-key", key)
		if code != exitUsage || !srv.HasKey(key) {
			t.Fatalf("-delete-key without -confirm: exit %d, key there: %v", code, srv.HasKey(key))
		}
		code, out, _ = runSmoke(t, env(vars), "-atlas", "-delete-key", key, "-confirm")
		if code != exitPass || srv.HasKey(key) || len(srv.OrgKeys(srv.OrgID())) != len(before)-1 ||
			!strings.Contains(out, "204 → removed") {
			t.Errorf("-delete-key -confirm: exit %d, key still there or others gone\n%s", code, out)
		}
		code, out, _ = runSmoke(t, env(vars), "-atlas", "-delete-key", key, "-confirm")
		repeat := regexp.MustCompile(`delete ` + key + ` .* 400 API_KEY_NOT_FOUND → not found`)
		if code != exitPass || !repeat.MatchString(out) {
			t.Errorf("repeated -delete-key: exit %d\n%s", code, out)
		}
	}
}

// TestAtlasModeReportsEverySettingAtOnce: one run names every usage and
// settings problem, and sends nothing.
func TestAtlasModeReportsEverySettingAtOnce(t *testing.T) {
	srv := atlastest.NewTestServer(t)
	insecure := map[string]string{"MONGODB_ATLAS_OPS_MANAGER_URL": "http://atlas.example.com"}
	code, _, errOut := runSmoke(t, env(insecure), "-atlas", "-delete-key", "xyz",
		"-token-cache", "default")
	for _, want := range []string{"without -confirm", "-delete-key: ", "MONGODB_ATLAS_ORG_ID",
		"MONGODB_ATLAS_CLIENT_ID", "MONGODB_ATLAS_PUBLIC_API_KEY", "pass -insecure-http",
		"-token-cache needs a service account"} {
		if code != exitUsage || !strings.Contains(errOut, want) {
			t.Errorf("exit %d; setup errors lack %s:\n%s", code, want, errOut)
		}
	}
	vars := atlasEnv(srv.URL, srv, srv.Owner(), true)
	delete(vars, "MONGODB_ATLAS_PRIVATE_API_KEY")
	code, _, errOut = runSmoke(t, env(vars), "-atlas")
	if code != exitUsage || !strings.Contains(errOut, "MONGODB_ATLAS_PRIVATE_API_KEY") {
		t.Errorf("half a key pair: exit %d, %q", code, errOut)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("setup errors sent %d requests", n)
	}
}

// spy serves srv through httptest and learns every secret that crosses it:
// Authorization values, a digest one's parts too, and the tokens issued.
// When answer is set, it answers the operation instead of srv, as a broken
// Atlas would.
// A hostile spy echoes each Authorization value into the answer, as a
// broken proxy might: in headers (raw, URL-escaped, and a digest one's
// parts), in a cookie and in the detail (JSON-escaped). It also sends the
// headers in reverse order, with a chunked body.
type spy struct {
	srv     *atlastest.Server
	answer  http.HandlerFunc
	hostile bool

	mu      sync.Mutex
	secrets []string
}

// start serves s until the test ends, and returns its URL.
func (s *spy) start(t *testing.T) string {
	for _, p := range []atlastest.Principal{s.srv.Owner(), s.srv.Member()} {
		s.learn(p.PrivateKey, p.ClientSecret)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return hs.URL
}

// learn adds secrets, but the empty one, to what the spy knows.
func (s *spy) learn(secrets ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range secrets {
		if v != "" {
			s.secrets = append(s.secrets, v)
		}
	}
}

// known returns the secrets learnt so far.
func (s *spy) known() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.secrets)
}

// ServeHTTP learns the request's secrets and answers it, as the spy is set.
func (s *spy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	_, cred, _ := strings.Cut(auth, " ")
	s.learn(auth, cred)
	var parts []string
	if c, err := digest.ParseCredentials(auth); err == nil {
		parts = []string{c.Username, c.Nonce, c.Cnonce, c.Response}
		s.learn(parts...)
	}
	if _, err := contract.MatchPath(r.URL.EscapedPath()); err == nil && s.answer != nil {
		s.answer(w, r)
		return
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

// TestNoSecretsInOutput runs -atlas with each output, on success and on
// failure, learns every secret that crosses the server, and looks for them
// and for anything shaped like a token in stdout and stderr.
func TestNoSecretsInOutput(t *testing.T) {
	srv := atlastest.NewTestServer(t)
	sp := &spy{srv: srv}
	url := sp.start(t)
	for _, digest := range []bool{true, false} {
		for _, wrong := range []bool{false, true} {
			for _, args := range [][]string{{"-atlas", "-v"}, {"-atlas", "-json"}} {
				vars := atlasEnv(url, srv, srv.Owner(), digest)
				if wrong { // the failure paths: 401s and token errors
					for _, name := range []string{"MONGODB_ATLAS_PRIVATE_API_KEY",
						"MONGODB_ATLAS_CLIENT_SECRET"} {
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
				if args[1] == "-v" && !strings.Contains(errOut, "msg=\"round trip\"") {
					t.Errorf("-v logged no round trip:\n%s", errOut)
				}
				if found := leaks(out+errOut, sp.known()); len(found) > 0 {
					t.Errorf("digest=%v wrong=%v %v: output holds %v", digest, wrong, args, found)
				}
			}
		}
	}
}

// TestAtlasModeTokenCache: two runs share one token through -token-cache,
// in a relative directory or the default one; without it each run mints
// its own.
func TestAtlasModeTokenCache(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", filepath.Join(t.TempDir(), "cache")) // "default" is under it
	t.Chdir(t.TempDir())
	srv := atlastest.NewTestServer(t)
	vars := atlasEnv(srv.URL, srv, srv.Owner(), false)
	tokens := func() int {
		return srv.CountRequests(func(r atlastest.Request) bool {
			return r.Path == contract.TokenPath()
		})
	}
	for _, c := range []struct {
		args []string
		want int
	}{
		{[]string{"-atlas"}, 2},
		{[]string{"-atlas", "-token-cache", "tokens"}, 1},
		{[]string{"-atlas", "-token-cache", "default"}, 1},
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
	}
}
