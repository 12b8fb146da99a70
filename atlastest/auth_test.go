package atlastest

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/icholy/digest"

	"github.com/atlascontract/deleteorgapikey/internal/behavior"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

var nonce = regexp.MustCompile(`nonce="[A-Za-z0-9+/]{32}"`)

// lastAuthError is why srv refused its last request (Atlas's 401 does not say).
func lastAuthError(srv *Server) string {
	rs := srv.Requests()
	return rs[len(rs)-1].AuthError
}

// TestDigest: icholy/digest deletes; a request the server cannot verify is
// refused with a fresh challenge and a reason in the log, and only a right
// hash on an expired or forgotten nonce is told stale=true.
func TestDigest(t *testing.T) {
	clk := newClock()
	srv := NewTestServer(t, WithClock(clk.Now))
	owner, u := srv.Owner(), opURL(srv, srv.OrgID(), srv.Keys()[1], "")
	resp, body := del(t, digestClient(t, owner), opURL(srv, srv.OrgID(), srv.Keys()[0], ""))
	wantStatus(t, resp, body, http.StatusNoContent)
	type (
		challenge = digest.Challenge
		options   = digest.Options
	)
	for _, c := range []struct {
		name, raw string // raw: an Authorization header as it is
		detail    string
		stale     bool
		// change: else signed after changing the challenge, the credentials or the uri
		change func(*challenge, *options)
	}{
		{"none", "", "requires authentication", false, nil},
		{"another scheme", "Negotiate abc", "not accepted", false, nil},
		{"malformed", `Digest username="a", nc=zz`, "malformed", false, nil},
		{"bad password", "", "password", false, func(_ *challenge, o *options) { o.Password = "" }},
		{"unknown user", "", "password", false, func(_ *challenge, o *options) { o.Username = "" }},
		{"wrong uri", "", "uri", false, func(_ *challenge, o *options) { o.URI += "?pretty=true" }},
		{"wrong realm", "", "realm", false, func(c *challenge, _ *options) { c.Realm = "x" }},
		{"no qop", "", "qop", false, func(c *challenge, _ *options) { c.QOP = nil }},
		{"SHA-256", "", "not offered", false,
			func(c *challenge, _ *options) { c.Algorithm = "SHA-256" }},
		{"forgotten nonce", "", "not one this server tracks", true,
			func(c *challenge, _ *options) { c.Nonce = strings.Repeat("A", 32) }},
		{"old nonce", "", "expired", true, func(*challenge, *options) { clk.Advance(time.Hour) }},
	} {
		header := http.Header{}
		if c.raw != "" {
			header.Set("Authorization", c.raw)
		} else if c.change != nil {
			resp, _ := del(t, plain(t), u)
			ch, err := digest.FindChallenge(resp.Header)
			opts := options{Method: http.MethodDelete, URI: strings.TrimPrefix(u, srv.URL),
				Count: 1, Username: owner.PublicKey, Password: owner.PrivateKey}
			c.change(ch, &opts)
			cred, derr := digest.Digest(ch, opts)
			if err != nil || derr != nil {
				t.Fatal(err, derr)
			}
			header.Set("Authorization", cred.String())
		}
		resp, body := send(t, plain(t), http.MethodDelete, u, header)
		ch, why := resp.Header.Values("Www-Authenticate"), lastAuthError(srv)
		stale := len(ch) == 1 && strings.Contains(ch[0], "stale=true")
		if resp.StatusCode != 401 || !strings.Contains(why, c.detail) || len(ch) != 1 ||
			!strings.Contains(ch[0], "MD5") || stale != c.stale {
			t.Errorf("%s: %d %q, challenges %q; want 401 saying %q, stale=%v: %s",
				c.name, resp.StatusCode, why, ch, c.detail, c.stale, body)
		}
	}
	if !srv.HasKey(srv.Keys()[0]) {
		t.Error("a refused request deleted its key")
	}
}

// TestConcurrentDeletesOfOneKey: requests sharing one nonce, in any order,
// delete a key once.
func TestConcurrentDeletesOfOneKey(t *testing.T) {
	srv := NewTestServer(t)
	client := digestClient(t, srv.Owner())
	del(t, client, opURL(srv, srv.OrgID(), absent, "")) // the challenge, once
	u, statuses := opURL(srv, srv.OrgID(), srv.Keys()[0], ""), make(chan int, 32)
	var wg sync.WaitGroup
	for range cap(statuses) {
		wg.Go(func() {
			resp, _ := del(t, client, u)
			statuses <- resp.StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	if count[http.StatusNoContent] != 1 || count[http.StatusBadRequest] != 31 {
		t.Fatalf("statuses %v, want one 204 and 31 400", count)
	}
}

// TestBoundedState: expired nonces are purged as the map grows, and past
// maxTracked arbitrary ones go too, so that a server running for hours
// keeps its memory bounded. Tokens are kept in the same kind of map.
func TestBoundedState(t *testing.T) {
	clk := newClock()
	srv := New(WithClock(clk.Now))
	for i := range 6000 {
		if i == 3000 {
			clk.Advance(time.Hour) // the first 3000 expire
		}
		srv.digestChallenge(false)
	}
	if n := len(srv.auth.nonces); n >= 4000 {
		t.Errorf("%d nonces tracked after 3000 expired and 3000 new: the expired ones stayed", n)
	}
	for range maxTracked + 100 {
		srv.digestChallenge(false)
	}
	if n := len(srv.auth.nonces); n > maxTracked {
		t.Errorf("%d nonces tracked, over the bound %d", n, maxTracked)
	}
}

// formRequest is a form to path, with basic as the raw id:secret ("" for
// none), for the handler in-process.
func formRequest(method, path, basic, form string) *http.Request {
	req := httptest.NewRequest(method, path, strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic != "" {
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(basic)))
	}
	return req
}

// serve serves req in-process; a dropped answer leaves the recorder empty.
func serve(srv *Server, req *http.Request) (rec *httptest.ResponseRecorder) {
	rec = httptest.NewRecorder()
	defer func() {
		if p := recover(); p != nil && p != http.ErrAbortHandler {
			panic(p)
		}
	}()
	srv.Handler().ServeHTTP(rec, req)
	return rec
}

// handle serves a formRequest in-process.
func handle(srv *Server, method, path, basic, form string) *httptest.ResponseRecorder {
	return serve(srv, formRequest(method, path, basic, form))
}

// issueToken gets a token for p's service account, in-process.
func issueToken(t testing.TB, srv *Server, p Principal) string {
	t.Helper()
	rec := handle(srv, "POST", contract.TokenPath(), basic(p), "grant_type=client_credentials")
	return decode[struct {
		AccessToken string `json:"access_token"`
	}](t, rec.Body.Bytes(), true).AccessToken
}

func basic(p Principal) string { return p.ClientID + ":" + p.ClientSecret }

// TestServiceAccount: a token deletes until it expires or its account
// revokes it (then Atlas's one digest challenge); revoking another
// account's token does nothing; x/oauth2 gets a new one.
func TestServiceAccount(t *testing.T) {
	clk := newClock()
	srv := NewTestServer(t, WithClock(clk.Now), WithSeedKeys(2))
	owner, keys := srv.Owner(), srv.Keys()
	var tok string
	revoke := func(p Principal) func() {
		return func() { handle(srv, "POST", contract.RevokePath(), basic(p), "token="+tok) }
	}
	bearer := func(key string) (*http.Response, []byte) {
		return send(t, plain(t), http.MethodDelete, opURL(srv, srv.OrgID(), key, ""),
			http.Header{"Authorization": {"Bearer " + tok}})
	}
	for i, c := range []struct {
		step        func()
		status      int
		refusedWhen string
	}{
		{func() { tok = issueToken(t, srv, owner) }, 204, ""},
		{revoke(srv.Member()), 204, ""},
		{func() { clk.Advance(time.Hour - 1) }, 204, ""}, // Atlas's tokens live an hour
		{func() { clk.Advance(time.Nanosecond) }, 401, "expired"},
		{func() { tok = issueToken(t, srv, owner) }, 204, ""},
		{revoke(owner), 401, "revoked"},
	} {
		c.step()
		resp, body := bearer(keys[i])
		if resp.StatusCode != c.status || !strings.Contains(lastAuthError(srv), c.refusedWhen) {
			t.Errorf("step %d: %d %q, want %d saying %q: %s", i, resp.StatusCode,
				lastAuthError(srv), c.status, c.refusedWhen, body)
		}
		if c.status == http.StatusUnauthorized {
			wantAnswer(t, resp, body, rowOf(behavior.Unauthenticated))
		}
	}
	resp, body := del(t, bearerClient(t, srv, owner), opURL(srv, srv.OrgID(), keys[5], ""))
	wantStatus(t, resp, body, http.StatusNoContent)
}

// TestTokenEndpoint: the client id and secret are read from HTTP Basic
// raw, as Atlas reads them; refused credentials get Atlas's answer byte
// for byte; a request that is not a client-credentials grant says why.
func TestTokenEndpoint(t *testing.T) {
	srv := New()
	owner := srv.Owner()
	// what a client that form-encodes first would send, where it could matter
	encoded := fmt.Sprintf("%%%02X%s", owner.ClientSecret[0], owner.ClientSecret[1:])
	const refused = `{"error_description":"Invalid credentials provided.","error":"invalid_client"}`
	token, revoke := contract.TokenPath(), contract.RevokePath()
	grant, ok := "grant_type=client_credentials", basic(owner)
	apiKey := owner.PublicKey + ":" + owner.PrivateKey
	encodedSecret := owner.ClientID + ":" + encoded
	for _, c := range []struct {
		name, method, path, basic, form string
		status                          int
		want                            string
	}{
		{"raw", "POST", token, ok, grant, 200, `"token_type":"Bearer"`},
		{"percent-encoded", "POST", token, encodedSecret, grant, 401, refused},
		{"wrong secret", "POST", token, owner.ClientID + ":nope", grant, 401, refused},
		{"API key", "POST", revoke, apiKey, "token=x", 401, refused},
		{"no credentials", "POST", token, "", grant, 401, "HTTP Basic"},
		{"GET", "GET", token, ok, grant, 400, "POST body"},
		{"no grant", "POST", token, ok, "", 400, "grant_type=client_credentials in a form"},
		{"password grant", "POST", token, ok, "grant_type=password", 400, "unsupported_grant_type"},
		{"grant twice", "POST", token, ok, grant + "&grant_type=password", 400, "more than once"},
		{"no token to revoke", "POST", revoke, ok, "", 400, "token=... in a form"},
		{"unknown token", "POST", revoke, ok, "token=abc", 200, ""},
		{"not a form", "POST", revoke, ok, "token=%zz", 400, "form-encoded"},
	} {
		rec := handle(srv, c.method, c.path, c.basic, c.form)
		if got := rec.Body.String(); rec.Code != c.status || !strings.Contains(got, c.want) ||
			c.want == refused && got != refused {
			t.Errorf("%s: %d %s, want %d with %s", c.name, rec.Code, got, c.status, c.want)
		}
	}
}

// TestTokenLimit: a client may ask for as many tokens a period as the
// limit says (by default Atlas's 50 a minute), then gets Atlas's 429;
// other clients and refused credentials are not charged; time refills.
func TestTokenLimit(t *testing.T) {
	clk := newClock()
	srv := New(WithClock(clk.Now), WithTokenRateLimit(3, 2*time.Minute))
	owner, grant, path := srv.Owner(), "grant_type=client_credentials", contract.TokenPath()
	for i := range 3 {
		if rec := handle(srv, "POST", contract.TokenPath(), basic(owner), grant); rec.Code != 200 ||
			rec.Header().Get("Ratelimit-Remaining") != fmt.Sprint(2-i) {
			t.Fatalf("request %d: %d %v %s", i+1, rec.Code, rec.Header(), rec.Body)
		}
	}
	rec := handle(srv, "POST", path, basic(owner), grant)
	wantAnswer(t, rec.Result(), rec.Body.Bytes(), rowOf(behavior.TokenRateLimited), path, 3, 2)
	for who, want := range map[string]int{basic(srv.Member()): 200, owner.ClientID + ":x": 401} {
		if rec := handle(srv, "POST", path, who, grant); rec.Code != want {
			t.Errorf("another client, or a wrong secret, while the owner is limited: %d, want %d",
				rec.Code, want)
		}
	}
	if clk.Advance(40 * time.Second); rec.Header().Get("Retry-After") != "40" ||
		handle(srv, "POST", contract.TokenPath(), basic(owner), grant).Code != 200 {
		t.Errorf("after Retry-After %q: still limited", rec.Header().Get("Retry-After"))
	}
}

// TestTokenFaults: the token endpoint takes faults after client
// authentication; an injected 429 charges nothing; a drop issues a token
// and loses the answer; other statuses panic.
func TestTokenFaults(t *testing.T) {
	srv := New()
	owner, grant, tokens := srv.Owner(), "grant_type=client_credentials", srv.TokenEndpoint()
	path := contract.TokenPath()
	tokens.SetRetryAfter(90 * time.Second)
	tokens.FailNext(1, http.StatusTooManyRequests)
	if rec := handle(srv, "POST", path, owner.ClientID+":wrong", grant); rec.Code != 401 {
		t.Errorf("wrong secret with a fault armed: %d, want 401", rec.Code)
	}
	rec := handle(srv, "POST", path, basic(owner), grant)
	wantAnswer(t, rec.Result(), rec.Body.Bytes(), rowOf(behavior.TokenRateLimited), path, 50, 1)
	if got := rec.Header().Get("Retry-After"); got != "90" {
		t.Errorf("injected 429: Retry-After %q, want 90", got)
	}
	tokens.FailNext(1, http.StatusInternalServerError)
	rec = handle(srv, "POST", path, basic(owner), grant)
	wantAnswer(t, rec.Result(), rec.Body.Bytes(), rowOf(behavior.ServerError))
	if tokens.DropNext(1); handle(srv, "POST", path, basic(owner), grant).Body.Len() != 0 {
		t.Error("a dropped token request was answered")
	}
	last := srv.Requests()[len(srv.Requests())-1]
	if !last.Dropped || !last.TokenIssued || last.Principal != "owner" {
		t.Errorf("the dropped request logged as %+v", last)
	}
	rec = handle(srv, "POST", path, basic(owner), grant)
	if got := rec.Header().Get("Ratelimit-Remaining"); got != "48" { // the drop and this one spent
		t.Errorf("after the faults %s of 50 left, want 48: a fault charged the bucket", got)
	}
	tok := issueToken(t, srv, owner)
	srv.RevokeEndpoint().FailNext(1, http.StatusInternalServerError)
	rec = handle(srv, "POST", contract.RevokePath(), basic(owner), "token="+tok)
	wantAnswer(t, rec.Result(), rec.Body.Bytes(), rowOf(behavior.ServerError))
	if _, fail := srv.verifyBearer(tok); fail != nil {
		t.Errorf("a revocation answered 500 revoked the token: %s", fail.detail)
	}
	for _, status := range []int{400, 401, 404} {
		p := panicOf(func() { tokens.FailNext(1, status) })
		if !strings.HasPrefix(fmt.Sprint(p), "atlastest: FailNext") {
			t.Errorf("token endpoint FailNext(1, %d): panic %v", status, p)
		}
	}
}

// TestIndependentClients talks to the server with clients that share no
// code with this module: curl's digest and Python's standard library.
// Both are on every machine this project runs on (.ci/run installs them),
// so a missing one is a failure, not a skip.
func TestIndependentClients(t *testing.T) {
	srv := NewTestServer(t)
	owner, keys := srv.Owner(), srv.Keys()
	tool := func(name string, args ...string) string {
		path, err := exec.LookPath(name)
		if err != nil {
			t.Fatalf("%s is needed for this test (see .ci/run): %v", name, err)
		}
		out, err := exec.CommandContext(t.Context(), path, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
		return string(out)
	}
	target := opURL(srv, srv.OrgID(), keys[0], "")
	for user, want := range map[string]string{owner.PublicKey + ":" + owner.PrivateKey: "204",
		owner.PublicKey + ":wrong": "401"} {
		got := tool("curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--digest", "-u", user,
			"-H", "Accept: "+contract.AcceptHeader(), "-X", "DELETE", target)
		if got != want {
			t.Errorf("curl --digest -u %s: %s, want %s", user, got, want)
		}
	}
	got := tool("python3", "testdata/digest_client.py", srv.URL, srv.OrgID(), owner.PublicKey,
		owner.PrivateKey, owner.ClientID, owner.ClientSecret, keys[1], keys[2],
		contract.AcceptHeader())
	gone, bad := rowOf(behavior.KeyNotFound), rowOf(behavior.InvalidParameter)
	want := fmt.Sprintf("digest-delete 204 -\ndigest-again %d %s\ntoken Bearer 3600\n"+
		"bearer-delete 204 -\nbearer-again %d %s\nbearer-malformed %d %s\n", gone.Status,
		gone.ErrorCode, gone.Status, gone.ErrorCode, bad.Status, bad.ErrorCode)
	if got != want {
		t.Errorf("python client printed:\n%s\nwant:\n%s", got, want)
	}
	if srv.HasKey(keys[0]) || srv.HasKey(keys[1]) || srv.HasKey(keys[2]) {
		t.Error("a key survived the independent clients")
	}
}
