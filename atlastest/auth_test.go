package atlastest

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"slices"
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

// signed is an Authorization header for a DELETE of u answering c, by hand.
func signed(t *testing.T, c *digest.Challenge, u string, p Principal) http.Header {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, u, nil)
	cred, err := digest.Digest(c, digest.Options{Method: http.MethodDelete, URI: req.URL.RequestURI(), Count: 1,
		Username: p.PublicKey, Password: p.PrivateKey})
	if err != nil {
		t.Fatal(err)
	}
	return http.Header{"Authorization": {cred.String()}}
}

// challenge is the first challenge of a fresh 401.
func challenge(t *testing.T, srv *Server) *digest.Challenge {
	t.Helper()
	resp, _ := del(t, plain(t), opURL(srv, srv.OrgID(), srv.Keys()[0], ""))
	c, err := digest.FindChallenge(resp.Header)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestDigest: icholy/digest deletes with MD5, or SHA-256 when offered; a
// request the server cannot verify is refused with a fresh challenge and a
// reason in the log, and only a right hash on an expired or forgotten
// nonce is told stale=true, which icholy/digest answers by itself.
func TestDigest(t *testing.T) {
	clk := newClock()
	srv := NewTestServer(t, WithClock(clk.Now), WithNonceTTL(time.Minute), WithDigestAlgorithms("sha-256"))
	owner, keys := srv.Owner(), srv.Keys()
	resp, body := del(t, digestClient(t, owner), opURL(srv, srv.OrgID(), keys[0], ""))
	wantStatus(t, resp, body, http.StatusNoContent)
	if ch := srv.Requests()[0]; ch.Status != http.StatusUnauthorized {
		t.Fatalf("first exchange %+v, want the challenge", ch)
	}

	u := opURL(srv, srv.OrgID(), keys[1], "")
	md5 := challenge(t, srv)
	md5.Algorithm = "MD5"
	wrong := owner
	wrong.PrivateKey += "x"
	stranger := owner
	stranger.PublicKey = "nobody"
	for _, c := range []struct {
		name   string
		header func() http.Header
		detail string
		stale  bool
	}{
		{"none", func() http.Header { return nil }, "requires authentication", false},
		{"another scheme", func() http.Header { return http.Header{"Authorization": {"Negotiate abc"}} }, "not accepted", false},
		{"malformed", func() http.Header { return http.Header{"Authorization": {`Digest username="a", nc=zz`}} }, "malformed", false},
		{"wrong password", func() http.Header { return signed(t, challenge(t, srv), u, wrong) }, "password", false},
		{"unknown user", func() http.Header { return signed(t, challenge(t, srv), u, stranger) }, "password", false},
		{"wrong uri", func() http.Header { return signed(t, challenge(t, srv), u+"?pretty=true", owner) }, "uri", false},
		{"wrong realm", func() http.Header {
			c := challenge(t, srv)
			c.Realm = "elsewhere"
			return signed(t, c, u, owner)
		}, "realm", false},
		{"no qop", func() http.Header {
			c := challenge(t, srv)
			c.QOP = nil
			return signed(t, c, u, owner)
		}, "qop", false},
		{"MD5 where SHA-256 is offered", func() http.Header { return signed(t, md5, u, owner) }, "not offered", false},
		{"forgotten nonce", func() http.Header {
			c := challenge(t, srv)
			c.Nonce = strings.Repeat("A", 32)
			return signed(t, c, u, owner)
		}, "not one this server tracks", true},
		{"expired nonce", func() http.Header {
			c := challenge(t, srv)
			clk.Advance(time.Minute)
			return signed(t, c, u, owner)
		}, "expired", true},
	} {
		resp, body := send(t, plain(t), http.MethodDelete, u, c.header())
		chals := resp.Header.Values("Www-Authenticate")
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(lastAuthError(srv), c.detail) ||
			len(chals) != 1 || !strings.Contains(chals[0], "algorithm=SHA-256") || strings.Contains(chals[0], "stale=true") != c.stale {
			t.Errorf("%s: %d %q, challenges %q; want 401 saying %q, stale=%v: %s",
				c.name, resp.StatusCode, lastAuthError(srv), chals, c.detail, c.stale, body)
		}
	}
	if !srv.HasKey(keys[1]) {
		t.Error("a refused request deleted its key")
	}
	if ch := New(WithDigestAlgorithms("MD5", "SHA-256")).digestChallenges(false); len(ch) != 2 || !strings.Contains(ch[1], "SHA-256") {
		t.Errorf("WithDigestAlgorithms(MD5, SHA-256): challenges %q", ch)
	}
}

// TestConcurrentDeletesOfOneKey: requests sharing one nonce, in any order,
// delete a key once.
func TestConcurrentDeletesOfOneKey(t *testing.T) {
	srv := NewTestServer(t)
	client := digestClient(t, srv.Owner())
	del(t, client, opURL(srv, srv.OrgID(), srv.Keys()[1], "")) // the challenge, once
	key := srv.Keys()[0]
	var mu sync.Mutex
	count := map[int]int{}
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			resp, _ := del(t, client, opURL(srv, srv.OrgID(), key, ""))
			mu.Lock()
			defer mu.Unlock()
			count[resp.StatusCode]++
		})
	}
	wg.Wait()
	if count[http.StatusNoContent] != 1 || count[http.StatusBadRequest] != 31 {
		t.Fatalf("statuses %v, want one 204 and 31 400", count)
	}
}

// TestBoundedState: expired nonces and tokens are purged as the maps grow,
// and past maxTracked arbitrary ones go too, so that a server running for
// hours keeps its memory bounded; revoking frees a token at once.
func TestBoundedState(t *testing.T) {
	clk := newClock()
	srv := New(WithClock(clk.Now), WithTokenRateLimit(1<<20, time.Minute), WithLogLimit(1))
	tracked := func(m map[string]*issued) int {
		srv.auth.mu.Lock()
		defer srv.auth.mu.Unlock()
		return len(m)
	}
	for range 3000 {
		srv.digestChallenges(false)
	}
	clk.Advance(time.Hour) // all 3000 expire
	for range 3000 {
		srv.digestChallenges(false)
	}
	if n := tracked(srv.auth.nonces); n >= 4000 {
		t.Errorf("%d nonces tracked after 3000 expired and 3000 new: the expired ones stayed", n)
	}
	for range maxTracked + 100 {
		srv.digestChallenges(false)
	}
	if n := tracked(srv.auth.nonces); n > maxTracked {
		t.Errorf("%d nonces tracked, over the bound %d", n, maxTracked)
	}
	owner := srv.Owner()
	for range 100 {
		form := "token=" + issueToken(t, srv, owner)
		if rec := handle(srv, http.MethodPost, contract.RevokePath(), owner.ClientID+":"+owner.ClientSecret, form); rec.Code != 200 {
			t.Fatalf("revoke: %d %s", rec.Code, rec.Body)
		}
	}
	if n := tracked(srv.auth.tokens); n != 0 {
		t.Errorf("%d tokens tracked after revoking each", n)
	}
}

// handle serves one form POST in-process, with basic as the raw id:secret
// ("" for none); a dropped answer is an empty recorder.
func handle(srv *Server, method, path, basic, form string) (rec *httptest.ResponseRecorder) {
	req := httptest.NewRequest(method, path, strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic != "" {
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(basic)))
	}
	rec = httptest.NewRecorder()
	defer func() {
		if p := recover(); p != nil && p != http.ErrAbortHandler {
			panic(p)
		}
	}()
	srv.Handler().ServeHTTP(rec, req)
	return rec
}

func issueToken(t *testing.T, srv *Server, p Principal) string {
	t.Helper()
	rec := handle(srv, http.MethodPost, contract.TokenPath(), p.ClientID+":"+p.ClientSecret, "grant_type=client_credentials")
	return decode[struct {
		AccessToken string `json:"access_token"`
	}](t, rec.Body.Bytes()).AccessToken
}

// tokenRequest asks srv for a token over the network, as id/secret in HTTP
// Basic, and returns the answer with its body read.
func tokenRequest(t *testing.T, srv *Server, id, secret, form string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+contract.TokenPath(), strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := plain(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// TestServiceAccount: x/oauth2 gets a token that deletes until it expires
// or is revoked (then Atlas's one digest challenge); revoking someone
// else's token does nothing.
func TestServiceAccount(t *testing.T) {
	clk := newClock()
	srv := NewTestServer(t, WithClock(clk.Now))
	owner, member := srv.Owner(), srv.Member()
	keys := srv.Keys()
	tok := issueToken(t, srv, owner)
	bearer := func(key string) (*http.Response, []byte) {
		return send(t, plain(t), http.MethodDelete, opURL(srv, srv.OrgID(), key, ""), http.Header{"Authorization": {"Bearer " + tok}})
	}
	resp, body := bearer(keys[0])
	wantStatus(t, resp, body, http.StatusNoContent)

	handle(srv, http.MethodPost, contract.RevokePath(), member.ClientID+":"+member.ClientSecret, "token="+tok)
	clk.Advance(time.Hour - time.Nanosecond) // Atlas's tokens live an hour
	resp, body = bearer(keys[1])
	wantStatus(t, resp, body, http.StatusNoContent)
	clk.Advance(time.Nanosecond)
	resp, body = bearer(keys[2])
	if wantAnswer(t, resp, body, rowOf(behavior.Unauthenticated)); !strings.Contains(lastAuthError(srv), "expired") {
		t.Errorf("expired token: %q", lastAuthError(srv))
	}

	tok = issueToken(t, srv, owner)
	handle(srv, http.MethodPost, contract.RevokePath(), owner.ClientID+":"+owner.ClientSecret, "token="+tok)
	resp, body = bearer(keys[2])
	if wantStatus(t, resp, body, http.StatusUnauthorized); !strings.Contains(lastAuthError(srv), "revoked") {
		t.Errorf("revoked token: %q", lastAuthError(srv))
	}
	resp, body = del(t, bearerClient(t, srv, owner), opURL(srv, srv.OrgID(), keys[2], ""))
	wantStatus(t, resp, body, http.StatusNoContent)
}

// TestTokenEndpoint: the client id and secret are read from HTTP Basic
// raw, as Atlas reads them; refused credentials get Atlas's answer byte
// for byte; a request that is not a client-credentials grant says why.
func TestTokenEndpoint(t *testing.T) {
	srv := New()
	owner := srv.Owner()
	basic := owner.ClientID + ":" + owner.ClientSecret
	encoded := owner.ClientID + ":" + percentEncode(owner.ClientSecret)
	const refused = `{"error_description":"Invalid credentials provided.","error":"invalid_client"}`
	for _, c := range []struct {
		name, method, path, basic, form string
		status                          int
		want                            string
	}{
		{"raw credentials", http.MethodPost, contract.TokenPath(), basic, "grant_type=client_credentials", 200, "access_token"},
		{"percent-encoded secret", http.MethodPost, contract.TokenPath(), encoded, "grant_type=client_credentials", 401, refused},
		{"wrong secret", http.MethodPost, contract.TokenPath(), owner.ClientID + ":nope", "grant_type=client_credentials", 401, refused},
		{"API key as client", http.MethodPost, contract.RevokePath(), owner.PublicKey + ":" + owner.PrivateKey, "token=x", 401, refused},
		{"no credentials", http.MethodPost, contract.TokenPath(), "", "grant_type=client_credentials", 401, "HTTP Basic"},
		{"GET", http.MethodGet, contract.TokenPath(), basic, "", 405, "Use POST"},
		{"no grant", http.MethodPost, contract.TokenPath(), basic, "", 400, "grant_type is required"},
		{"password grant", http.MethodPost, contract.TokenPath(), basic, "grant_type=password", 400, "unsupported_grant_type"},
		{"revoke without token", http.MethodPost, contract.RevokePath(), basic, "", 400, "token is required"},
		{"revoke unknown token", http.MethodPost, contract.RevokePath(), basic, "token=abc", 200, ""},
		{"form that does not parse", http.MethodPost, contract.RevokePath(), basic, "token=%zz", 400, "does not parse"},
	} {
		rec := handle(srv, c.method, c.path, c.basic, c.form)
		if rec.Code != c.status || !strings.Contains(rec.Body.String(), c.want) || c.want == refused && rec.Body.String() != refused {
			t.Errorf("%s: %d %s, want %d with %s", c.name, rec.Code, rec.Body, c.status, c.want)
		}
	}
	req := httptest.NewRequest(http.MethodPost, contract.TokenPath(), strings.NewReader(`{"grant_type":"client_credentials"}`))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(owner.ClientID, owner.ClientSecret)
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "Form-encoded body required") {
		t.Errorf("JSON body: %d %s", rec.Code, rec.Body)
	}
}

func percentEncode(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// TestTokenLimit: by default 50 token requests a minute per client, the
// 51st answered as Atlas does; other clients and refused credentials are
// not charged; time refills the bucket.
func TestTokenLimit(t *testing.T) {
	clk := newClock()
	srv := NewTestServer(t, WithClock(clk.Now), WithTokenRateLimit(3, 2*time.Minute))
	owner, member := srv.Owner(), srv.Member()
	for i := range 3 {
		resp, body := tokenRequest(t, srv, owner.ClientID, owner.ClientSecret, "grant_type=client_credentials")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Ratelimit-Remaining") != fmt.Sprint(2-i) {
			t.Fatalf("request %d: %d %v %s", i+1, resp.StatusCode, resp.Header, body)
		}
	}
	resp, body := tokenRequest(t, srv, owner.ClientID, owner.ClientSecret, "grant_type=client_credentials")
	if wantAnswer(t, resp, body, rowOf(behavior.TokenRateLimited), contract.TokenPath(), 3, 2); resp.Header.Get("Retry-After") != "40" {
		t.Errorf("the 4th request: Retry-After %q, want 40", resp.Header.Get("Retry-After"))
	}
	if resp, _ := tokenRequest(t, srv, member.ClientID, member.ClientSecret, "grant_type=client_credentials"); resp.StatusCode != 200 {
		t.Errorf("another client while the owner is limited: %d", resp.StatusCode)
	}
	if resp, _ := tokenRequest(t, srv, owner.ClientID, "wrong", "grant_type=client_credentials"); resp.StatusCode != 401 {
		t.Errorf("a wrong secret while limited: %d, want 401", resp.StatusCode)
	}
	clk.Advance(40 * time.Second)
	if resp, body := tokenRequest(t, srv, owner.ClientID, owner.ClientSecret, "grant_type=client_credentials"); resp.StatusCode != 200 {
		t.Errorf("after Retry-After: %d %s", resp.StatusCode, body)
	}
	if b := New().cfg.tokens; b != (contract.Budget{Capacity: 50, Refill: 50, Period: time.Minute}) {
		t.Errorf("default token budget %+v, want Atlas's 50 a minute", b)
	}
}

// TestTokenFaults: the token and revocation endpoints take faults after
// client authentication; an injected 429 charges nothing; a drop takes
// effect (a token issued, a token revoked) and loses the answer.
func TestTokenFaults(t *testing.T) {
	srv := NewTestServer(t)
	owner := srv.Owner()
	tokens := srv.TokenEndpoint()
	tokens.SetRetryAfter(90 * time.Second)
	tokens.FailNext(1, http.StatusTooManyRequests)
	if resp, _ := tokenRequest(t, srv, owner.ClientID, "wrong", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong secret with a fault armed: %d, want 401", resp.StatusCode)
	}
	resp, body := tokenRequest(t, srv, owner.ClientID, owner.ClientSecret, "grant_type=client_credentials")
	if wantAnswer(t, resp, body, rowOf(behavior.TokenRateLimited), contract.TokenPath(), 50, 1); resp.Header.Get("Retry-After") != "90" {
		t.Errorf("injected 429: Retry-After %q, want 90", resp.Header.Get("Retry-After"))
	}
	tokens.FailNext(1, http.StatusInternalServerError)
	resp, body = tokenRequest(t, srv, owner.ClientID, owner.ClientSecret, "grant_type=client_credentials")
	wantAnswer(t, resp, body, rowOf(behavior.ServerError))

	tokens.DropNext(1)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+contract.TokenPath(), strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(owner.ClientID, owner.ClientSecret)
	if _, err := plain(t).Do(req); err == nil {
		t.Error("a dropped token request was answered")
	}
	live := issueToken(t, srv, owner)
	srv.RevokeEndpoint().DropNext(1)
	handle(srv, http.MethodPost, contract.RevokePath(), owner.ClientID+":"+owner.ClientSecret, "token="+live)
	resp, body = send(t, plain(t), http.MethodDelete, opURL(srv, srv.OrgID(), srv.Keys()[0], ""), http.Header{"Authorization": {"Bearer " + live}})
	wantStatus(t, resp, body, http.StatusUnauthorized)
	var got []string
	for _, r := range srv.Requests() {
		if r.Dropped {
			got = append(got, fmt.Sprintf("%s %d %v", r.Path, r.Status, r.TokenIssued))
		}
	}
	if want := []string{contract.TokenPath() + " 200 true", contract.RevokePath() + " 200 false"}; !slices.Equal(got, want) {
		t.Errorf("dropped requests logged %q, want %q", got, want)
	}
	for _, status := range []int{400, 401, 404} {
		if p := panicOf(func() { tokens.FailNext(1, status) }); !strings.HasPrefix(fmt.Sprint(p), "atlastest: FailNext") {
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
	curl := func(user string) string {
		return tool("curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--digest", "-u", user,
			"-H", "Accept: "+contract.AcceptHeader(), "-X", "DELETE", opURL(srv, srv.OrgID(), keys[0], ""))
	}
	if got := curl(owner.PublicKey + ":" + owner.PrivateKey); got != "204" {
		t.Errorf("curl --digest delete: %s, want 204", got)
	}
	if got := curl(owner.PublicKey + ":wrong"); got != "401" {
		t.Errorf("curl --digest with a wrong key: %s, want 401", got)
	}
	got := tool("python3", "testdata/digest_client.py", srv.URL, srv.OrgID(), owner.PublicKey, owner.PrivateKey,
		owner.ClientID, owner.ClientSecret, keys[1], keys[2], contract.AcceptHeader())
	gone, bad := rowOf(behavior.KeyNotFound), rowOf(behavior.InvalidParameter)
	want := fmt.Sprintf("digest-delete 204 -\ndigest-again %d %s\ntoken Bearer 3600\nbearer-delete 204 -\n"+
		"bearer-again %d %s\nbearer-malformed %d %s\n", gone.Status, gone.ErrorCode, gone.Status, gone.ErrorCode, bad.Status, bad.ErrorCode)
	if got != want {
		t.Errorf("python client printed:\n%s\nwant:\n%s", got, want)
	}
	if srv.HasKey(keys[0]) || srv.HasKey(keys[1]) || srv.HasKey(keys[2]) {
		t.Error("a key survived the independent clients")
	}
}
