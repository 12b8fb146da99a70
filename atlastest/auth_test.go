package atlastest_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/icholy/digest"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/authedit"
	"github.com/atlascontract/deleteorgapikey/internal/behavior"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

func TestServiceAccount(t *testing.T) {
	srv := atlastest.NewServer()
	defer srv.Close()
	owner := srv.Owner()
	cfg := clientcredentials.Config{
		ClientID:     owner.ClientID,
		ClientSecret: owner.ClientSecret,
		TokenURL:     srv.URL + contract.TokenPath(),
		AuthStyle:    oauth2.AuthStyleInHeader,
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, plain(t))
	tok, err := cfg.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "Bearer" || fmt.Sprint(tok.Extra("expires_in")) != "3600" {
		t.Errorf("token type %q, expires in %v s", tok.TokenType, tok.Extra("expires_in"))
	}
	client := oauth2.NewClient(ctx, oauth2.StaticTokenSource(tok))

	key := srv.Keys()[0]
	resp, body := del(t, client, opURL(srv, srv.OrgID(), key, ""))
	wantStatus(t, resp, body, http.StatusNoContent)
	if has(srv.OrgKeys(srv.OrgID()), key) {
		t.Error("key still there")
	}

	// Revoked: the same token is refused, with Atlas's one digest challenge.
	form := url.Values{"token": {tok.AccessToken}}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+contract.RevokePath(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(owner.ClientID, owner.ClientSecret)
	rresp, err := http.DefaultClient.Do(req)
	if err != nil || rresp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %v %v", rresp, err)
	}
	rresp.Body.Close()
	resp, body = del(t, client, opURL(srv, srv.OrgID(), srv.Keys()[0], ""))
	wantStatus(t, resp, body, http.StatusUnauthorized)
	if ch := resp.Header.Values("WWW-Authenticate"); len(ch) != 1 || !strings.HasPrefix(ch[0], `Digest realm="MMS Public API"`) {
		t.Errorf("challenge %q", ch)
	}
	if !strings.Contains(authError(srv), "revoked") {
		t.Errorf("revoked token: %q", authError(srv))
	}

	// A fresh token from x/oauth2's own token source works again.
	resp, body = del(t, cfg.Client(ctx), opURL(srv, srv.OrgID(), srv.Keys()[0], ""))
	wantStatus(t, resp, body, http.StatusNoContent)
}

// authError is why srv refused its last request, from its request log
// (Atlas's 401 body does not say).
func authError(srv *atlastest.Server) string {
	rs := srv.Requests()
	if len(rs) == 0 {
		return ""
	}
	return rs[len(rs)-1].AuthError
}

// clock is a time source tests move by hand (WithClock): nothing waits.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestTokenExpires(t *testing.T) {
	clk := newClock()
	srv := atlastest.NewServer(atlastest.WithClock(clk.Now))
	defer srv.Close()
	tok := fetchToken(t, srv, srv.Owner().ClientID, srv.Owner().ClientSecret)
	client := bearerClient(t, tok)
	key := srv.Keys()[0]
	clk.Advance(time.Hour - time.Nanosecond) // Atlas's tokens live an hour
	resp, body := del(t, client, opURL(srv, srv.OrgID(), srv.Keys()[1], ""))
	wantStatus(t, resp, body, http.StatusNoContent)
	clk.Advance(time.Nanosecond)
	resp, body = del(t, client, opURL(srv, srv.OrgID(), key, ""))
	wantStatus(t, resp, body, http.StatusUnauthorized)
	if !strings.Contains(authError(srv), "expired") || !has(srv.Keys(), key) {
		t.Errorf("expired token: %q", authError(srv))
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	srv := atlastest.NewServer()
	defer srv.Close()
	owner := srv.Owner()
	post := func(path, user, pass, form string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, c := range []struct {
		name, path, user, pass, form string
		want                         int
	}{
		{"wrong secret", contract.TokenPath(), owner.ClientID, "nope", "grant_type=client_credentials", 401},
		{"unknown client", contract.TokenPath(), "someone", owner.ClientSecret, "grant_type=client_credentials", 401},
		{"no client", contract.TokenPath(), "", "", "grant_type=client_credentials", 401},
		{"grant type", contract.TokenPath(), owner.ClientID, owner.ClientSecret, "grant_type=password", 400},
		{"api key as client", contract.TokenPath(), owner.PublicKey, owner.PrivateKey, "grant_type=client_credentials", 401},
		{"revoke without token", contract.RevokePath(), owner.ClientID, owner.ClientSecret, "", 400},
		{"revoke unknown token", contract.RevokePath(), owner.ClientID, owner.ClientSecret, "token=abc", 200},
		{"revoke wrong client", contract.RevokePath(), owner.ClientID, "nope", "token=abc", 401},
	} {
		if resp := post(c.path, c.user, c.pass, c.form); resp.StatusCode != c.want {
			t.Errorf("%s: %d, want %d", c.name, resp.StatusCode, c.want)
		} else if c.want == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("%s: challenge %q", c.name, resp.Header.Get("WWW-Authenticate"))
		}
	}
	resp, err := http.Get(srv.URL + contract.TokenPath())
	if err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET token: %v %v", resp, err)
	}
	resp.Body.Close()

	// Revoking someone else's token does nothing.
	tok := fetchToken(t, srv, owner.ClientID, owner.ClientSecret)
	post(contract.RevokePath(), srv.Member().ClientID, srv.Member().ClientSecret, "token="+tok)
	resp2, body := del(t, bearerClient(t, tok), opURL(srv, srv.OrgID(), srv.Keys()[0], ""))
	wantStatus(t, resp2, body, http.StatusNoContent)
}

func TestConcurrentDeletesOfOneKey(t *testing.T) {
	srv := atlastest.NewServer()
	defer srv.Close()
	owner := srv.Owner()
	client, _ := digestClient(t, owner.PublicKey, owner.PrivateKey)
	// Warm the transport: the 64 requests then share one nonce, with nc
	// values that reach the server in any order.
	gone, _ := behavior.Lookup(behavior.KeyNotFound)
	resp, body := del(t, client, opURL(srv, srv.OrgID(), strings.Repeat("0", 24), ""))
	wantStatus(t, resp, body, gone.Status)

	key := srv.Keys()[0]
	const n = 64
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			resp, _ := del(t, client, opURL(srv, srv.OrgID(), key, ""))
			statuses <- resp.StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	if count[http.StatusNoContent] != 1 || count[gone.Status] != n-1 {
		t.Fatalf("statuses %v, want one 204 and %d %d", count, n-1, gone.Status)
	}
	if has(srv.OrgKeys(srv.OrgID()), key) {
		t.Error("key still there")
	}
}

// challenge fetches a fresh digest challenge (the first one).
func challenge(t *testing.T, srv *atlastest.Server) *digest.Challenge {
	t.Helper()
	resp, body := del(t, plain(t), opURL(srv, srv.OrgID(), srv.Keys()[0], ""))
	wantStatus(t, resp, body, http.StatusUnauthorized)
	c, err := digest.FindChallenge(resp.Header)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDigestProtocol(t *testing.T) {
	srv := atlastest.NewServer(atlastest.WithSeedKeys(5))
	defer srv.Close()
	owner := srv.Owner()
	keys := srv.Keys()
	org := srv.OrgID()
	client := plain(t)
	send := func(c *digest.Challenge, key string, nc int) (*http.Response, []byte) {
		t.Helper()
		u := opURL(srv, org, key, "")
		return do(t, client, http.MethodDelete, u, authHeader(t, c, u, owner.PublicKey, owner.PrivateKey, nc))
	}

	t.Run("replay", func(t *testing.T) {
		c := challenge(t, srv)
		u := opURL(srv, org, keys[0], "")
		h := authHeader(t, c, u, owner.PublicKey, owner.PrivateKey, 1)
		resp, body := do(t, client, http.MethodDelete, u, h)
		wantStatus(t, resp, body, http.StatusNoContent)
		resp, body = do(t, client, http.MethodDelete, u, h)
		wantStatus(t, resp, body, http.StatusUnauthorized)
		if !strings.Contains(authError(srv), "already used") {
			t.Errorf("replay: %q", authError(srv))
		}
	})
	t.Run("out-of-order nc", func(t *testing.T) {
		c := challenge(t, srv)
		for i, nc := range []int{3, 1, 2} {
			resp, body := send(c, keys[1+i], nc)
			wantStatus(t, resp, body, http.StatusNoContent)
		}
		resp, body := send(c, keys[4], 2) // nc 2 again
		wantStatus(t, resp, body, http.StatusUnauthorized)
		resp, body = send(c, keys[4], 2000) // a jump ahead is fine
		wantStatus(t, resp, body, http.StatusNoContent)
		resp, body = send(c, keys[5], 4) // 1996 behind: below the window, so a new nonce is asked for
		wantStatus(t, resp, body, http.StatusUnauthorized)
		if !strings.Contains(authError(srv), "too far behind") || !strings.Contains(strings.Join(resp.Header.Values("WWW-Authenticate"), " "), "stale=true") {
			t.Errorf("nc below the window: %s %q", body, resp.Header.Values("WWW-Authenticate"))
		}
		if !has(srv.Keys(), keys[5]) {
			t.Errorf("key deleted by a refused request")
		}
	})
	t.Run("nc window", func(t *testing.T) {
		var w atlastest.NcWindowProbe
		for _, c := range []struct {
			nc   uint32
			want string
		}{{5, "fresh"}, {1, "fresh"}, {5, "replay"}, {0, "replay"}, {1028, "fresh"}, {5, "replay"}, {4, "too old"}, {6, "fresh"}, {1027, "fresh"}, {1028, "replay"}, {6, "replay"}, {5000, "fresh"}, {4000, "fresh"}, {3977, "fresh"}, {3977, "replay"}, {3976, "too old"}} {
			if got := w.Use(c.nc); got != c.want {
				t.Errorf("after %v, nc %d: %s, want %s", w.History, c.nc, got, c.want)
			}
			w.History = append(w.History, c.nc)
		}
	})

	rejected := func(t *testing.T, h http.Header, key string, wantDetail string) http.Header {
		t.Helper()
		resp, body := do(t, client, http.MethodDelete, opURL(srv, org, key, ""), h)
		wantStatus(t, resp, body, http.StatusUnauthorized)
		if !strings.Contains(authError(srv), wantDetail) {
			t.Errorf("refused because %q, want it to mention %q", authError(srv), wantDetail)
		}
		if !has(srv.Keys(), key) {
			t.Errorf("key %s deleted by a rejected request", key)
		}
		return resp.Header
	}
	key := keys[6]
	u := opURL(srv, org, key, "")
	t.Run("wrong uri", func(t *testing.T) {
		rejected(t, authHeader(t, challenge(t, srv), opURL(srv, org, keys[7], ""), owner.PublicKey, owner.PrivateKey, 1), key, "uri")
	})
	t.Run("tampered nonce", func(t *testing.T) {
		c := challenge(t, srv)
		b := []byte(c.Nonce)
		b[10] ^= 'A' ^ 'B' // another base64url letter
		c.Nonce = string(b)
		h := rejected(t, authHeader(t, c, u, owner.PublicKey, owner.PrivateKey, 1), key, "nonce")
		if strings.Contains(h.Get("WWW-Authenticate"), "stale=true") {
			t.Error("a forged nonce is not stale")
		}
	})
	t.Run("wrong realm", func(t *testing.T) {
		c := challenge(t, srv)
		c.Realm = "Somewhere Else"
		rejected(t, authHeader(t, c, u, owner.PublicKey, owner.PrivateKey, 1), key, "realm")
	})
	t.Run("wrong password", func(t *testing.T) {
		rejected(t, authHeader(t, challenge(t, srv), u, owner.PublicKey, owner.PrivateKey+"x", 1), key, "password")
	})
	t.Run("unknown user", func(t *testing.T) {
		rejected(t, authHeader(t, challenge(t, srv), u, "nobody", owner.PrivateKey, 1), key, "password")
	})
	t.Run("no qop", func(t *testing.T) {
		c := challenge(t, srv)
		c.QOP = nil
		rejected(t, authHeader(t, c, u, owner.PublicKey, owner.PrivateKey, 1), key, "qop")
	})
	t.Run("basic", func(t *testing.T) {
		basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(owner.PublicKey+":"+owner.PrivateKey))
		h := rejected(t, http.Header{"Authorization": {basic}}, key, "not accepted")
		if ch := h.Values("WWW-Authenticate"); len(ch) != 1 || !strings.HasPrefix(ch[0], "Digest ") {
			t.Errorf("challenges %q", ch)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		rejected(t, http.Header{"Authorization": {`Digest username="a", nc=zz`}}, key, "malformed")
	})
}

func TestStaleNonce(t *testing.T) {
	clk := newClock()
	srv := atlastest.NewServer(atlastest.WithNonceTTL(time.Minute), atlastest.WithClock(clk.Now),
		atlastest.WithDigestAlgorithms("MD5", "SHA-256"))
	defer srv.Close()
	owner := srv.Owner()
	c := challenge(t, srv)
	clk.Advance(time.Minute + time.Nanosecond)
	key := srv.Keys()[0]
	u := opURL(srv, srv.OrgID(), key, "")

	// Wrong password on an old nonce: not stale, the client must not retry.
	resp, body := do(t, plain(t), http.MethodDelete, u, authHeader(t, c, u, owner.PublicKey, "wrong", 1))
	wantStatus(t, resp, body, http.StatusUnauthorized)
	if strings.Contains(resp.Header.Get("WWW-Authenticate"), "stale=true") {
		t.Errorf("stale offered for a wrong password: %q", resp.Header.Values("WWW-Authenticate"))
	}
	resp, body = do(t, plain(t), http.MethodDelete, u, authHeader(t, c, u, owner.PublicKey, owner.PrivateKey, 1))
	wantStatus(t, resp, body, http.StatusUnauthorized)
	chals := resp.Header.Values("WWW-Authenticate")
	if len(chals) != 2 {
		t.Fatalf("challenges %q", chals)
	}
	for _, v := range chals {
		fresh, err := digest.ParseChallenge(v)
		if err != nil || !fresh.Stale || fresh.Nonce == c.Nonce {
			t.Errorf("challenge %q: want stale=true and a new nonce (%v)", v, err)
		}
	}
	if !has(srv.Keys(), key) {
		t.Error("deleted with a stale nonce")
	}
	// icholy/digest answers the stale challenge by itself.
	client, _ := digestClient(t, owner.PublicKey, owner.PrivateKey)
	resp, body = del(t, client, u)
	wantStatus(t, resp, body, http.StatusNoContent)
}

// oauthPost sends form to path (which may carry a query) with content
// type ct, as id/secret in HTTP Basic unless id is empty, and decodes the
// JSON answer (nil for an empty body).
func oauthPost(t *testing.T, srv *atlastest.Server, path, id, secret, ct, form string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(form))
	req.Header.Set("Content-Type", ct)
	if id != "" {
		req.SetBasicAuth(id, secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil && err != io.EOF {
		t.Fatalf("%s: body: %v", path, err)
	}
	return resp, body
}

const formType = "application/x-www-form-urlencoded"

// TestTokenEndpointFollowsRFC6749: no-cache headers on a token (section
// 5.1); invalid_request for a missing grant_type (5.2) and for any
// parameter sent twice (3.1), on both endpoints, with nothing issued or
// revoked.
func TestTokenEndpointFollowsRFC6749(t *testing.T) {
	srv := atlastest.NewServer()
	defer srv.Close()
	owner := srv.Owner()
	tok, revoke := contract.TokenPath(), contract.RevokePath()
	resp, body := oauthPost(t, srv, tok, owner.ClientID, owner.ClientSecret, formType, "grant_type=client_credentials")
	if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Pragma") != "no-cache" || body["access_token"] == nil {
		t.Errorf("token answer: headers %v body keys %d", resp.Header, len(body))
	}
	live, _ := body["access_token"].(string)
	for _, c := range []struct {
		name, path, form, want string
	}{
		{"missing grant_type", tok, "", "grant_type is required"},
		{"grant_type twice", tok, "grant_type=client_credentials&grant_type=client_credentials", `"grant_type" is sent more than once`},
		{"grant_type twice, differing", tok, "grant_type=client_credentials&grant_type=password", `"grant_type" is sent more than once`},
		{"grant_type in the query and the body", tok + "?grant_type=client_credentials", "grant_type=client_credentials", `"grant_type" is sent more than once`},
		{"scope twice", tok, "grant_type=client_credentials&scope=a&scope=b", `"scope" is sent more than once`},
		{"token twice", revoke, "token=" + live + "&token=" + live, `"token" is sent more than once`},
	} {
		resp, body := oauthPost(t, srv, c.path, owner.ClientID, owner.ClientSecret, formType, c.form)
		desc, _ := body["error_description"].(string)
		if resp.StatusCode != http.StatusBadRequest || body["error"] != "invalid_request" || !strings.Contains(desc, c.want) || body["access_token"] != nil {
			t.Errorf("%s: %d %v, want 400 invalid_request saying %q", c.name, resp.StatusCode, body, c.want)
		}
	}
	dresp, dbody := del(t, bearerClient(t, live), opURL(srv, srv.OrgID(), srv.Keys()[0], ""))
	wantStatus(t, dresp, dbody, http.StatusNoContent) // the refused revocation left the token live
}

// TestTokenEndpointSaysWhatIsWrong (issue 13, item 2): refused client
// credentials are called wrong, not "send them in HTTP Basic" when they
// were; a body that is not form-encoded is called that, not a missing
// grant_type.
func TestTokenEndpointSaysWhatIsWrong(t *testing.T) {
	srv := atlastest.NewServer()
	defer srv.Close()
	owner := srv.Owner()
	tok, revoke := contract.TokenPath(), contract.RevokePath()
	grant := "grant_type=client_credentials"
	inBody := grant + "&client_id=" + url.QueryEscape(owner.ClientID) + "&client_secret=" + url.QueryEscape(owner.ClientSecret)
	for _, c := range []struct {
		name, path, id, secret, ct, form string
		status                           int
		code, want, never                string
	}{
		{"wrong secret", tok, owner.ClientID, "nope", formType, grant, 401, "invalid_client", "wrong", "Basic"},
		{"unknown client", tok, "someone", owner.ClientSecret, formType, grant, 401, "invalid_client", "wrong", "Basic"},
		{"wrong secret, revoke", revoke, owner.ClientID, "nope", formType, "token=x", 401, "invalid_client", "wrong", "Basic"},
		{"credentials in the body", tok, "", "", formType, inBody, 401, "invalid_client", "HTTP Basic", "wrong"},
		{"JSON body", tok, owner.ClientID, owner.ClientSecret, "application/json", `{"grant_type":"client_credentials"}`, 400, "invalid_request", "form-encoded body required", "grant_type"},
		{"form without its content type", tok, owner.ClientID, owner.ClientSecret, "text/plain", grant, 400, "invalid_request", "form-encoded body required", "grant_type"},
		{"JSON body, revoke", revoke, owner.ClientID, owner.ClientSecret, "application/json", `{"token":"x"}`, 400, "invalid_request", "form-encoded body required", "token is"},
	} {
		resp, body := oauthPost(t, srv, c.path, c.id, c.secret, c.ct, c.form)
		desc, _ := body["error_description"].(string)
		if lower := strings.ToLower(desc); resp.StatusCode != c.status || body["error"] != c.code || !strings.Contains(lower, strings.ToLower(c.want)) || strings.Contains(lower, strings.ToLower(c.never)) {
			t.Errorf("%s: %d %v, want %d %s saying %q, not %q", c.name, resp.StatusCode, body, c.status, c.code, c.want, c.never)
		}
		if strings.Contains(desc, owner.ClientSecret) || strings.Contains(desc, "nope") {
			t.Errorf("%s: the description echoes a secret: %q", c.name, desc)
		}
	}
	// A form with parameters on its media type is a form.
	resp, body := oauthPost(t, srv, tok, owner.ClientID, owner.ClientSecret, formType+"; charset=utf-8", grant)
	if resp.StatusCode != http.StatusOK || body["access_token"] == nil {
		t.Errorf("form with charset: %d %v", resp.StatusCode, body)
	}
}

// recordedChallenge is Atlas's challenge from testdata/atlas, with its nonce
// replaced by N (see oneChallenge).
func recordedChallenge(t *testing.T) string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "testdata", "atlas", "unauthenticated.http"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	resp, err := http.ReadResponse(bufio.NewReader(f), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return oneChallenge(t, resp.Header)
}

var nonceParam = regexp.MustCompile(`nonce="([^"]*)"`)

// oneChallenge returns the only WWW-Authenticate value of h, its nonce
// checked to look like Atlas's (32 base64 characters) and replaced by N.
func oneChallenge(t *testing.T, h http.Header) string {
	t.Helper()
	vs := h.Values("WWW-Authenticate")
	if len(vs) != 1 {
		t.Fatalf("challenges %q, want exactly one", vs)
	}
	m := nonceParam.FindStringSubmatch(vs[0])
	if m == nil || !regexp.MustCompile(`^[A-Za-z0-9+/]{32}$`).MatchString(m[1]) {
		t.Fatalf("challenge %q: nonce is not 32 base64 characters", vs[0])
	}
	return nonceParam.ReplaceAllString(vs[0], `nonce="N"`)
}

// TestChallengeLikeAtlas: whatever was wrong, a 401 carries Atlas's one
// challenge, parameter for parameter apart from the nonce; the Bearer
// challenge only on request.
func TestChallengeLikeAtlas(t *testing.T) {
	want := recordedChallenge(t)
	if want != `Digest realm="MMS Public API", domain="", nonce="N", algorithm=MD5, qop="auth", stale=false` {
		t.Fatalf("recorded challenge %q", want)
	}
	srv := atlastest.NewServer()
	defer srv.Close()
	owner := srv.Owner()
	u := opURL(srv, srv.OrgID(), srv.Keys()[0], "")
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(owner.ClientID+":"+owner.ClientSecret))
	for name, auth := range map[string][]string{
		"none":           nil,
		"unknown token":  {"Bearer " + strings.Repeat("A", 43)},
		"basic":          {basic},
		"two headers":    {"Bearer x", "Bearer y"},
		"digest garbage": {`Digest username="a", nc=zz`},
	} {
		resp, body := do(t, plain(t), http.MethodDelete, u, http.Header{"Authorization": auth})
		wantStatus(t, resp, body, http.StatusUnauthorized)
		if got := oneChallenge(t, resp.Header); got != want {
			t.Errorf("%s: challenge\n%s\nwant\n%s", name, got, want)
		}
	}
	wrong, ct := digestClient(t, owner.PublicKey, "wrong")
	resp, body := del(t, wrong, u)
	wantStatus(t, resp, body, http.StatusUnauthorized)
	for _, e := range ct.exchanges() {
		if got := oneChallenge(t, e.Header); got != want {
			t.Errorf("wrong digest password: challenge %s", got)
		}
	}
	if !has(srv.Keys(), srv.Keys()[0]) {
		t.Fatal("a refused request deleted a key")
	}

	t.Run("WithBearerChallenge", func(t *testing.T) {
		srv := atlastest.NewServer(atlastest.WithBearerChallenge())
		defer srv.Close()
		u := opURL(srv, srv.OrgID(), srv.Keys()[0], "")
		resp, body := del(t, plain(t), u)
		wantStatus(t, resp, body, http.StatusUnauthorized)
		vs := resp.Header.Values("WWW-Authenticate")
		if len(vs) != 2 || nonceParam.ReplaceAllString(vs[0], `nonce="N"`) != want || vs[1] != `Bearer realm="MMS Public API"` {
			t.Errorf("challenges %q", vs)
		}
		resp, body = do(t, plain(t), http.MethodDelete, u, http.Header{"Authorization": {"Bearer nope"}})
		wantStatus(t, resp, body, http.StatusUnauthorized)
		if vs := resp.Header.Values("WWW-Authenticate"); len(vs) != 2 || !strings.HasPrefix(vs[1], `Bearer realm="MMS Public API", error="invalid_token"`) {
			t.Errorf("refused token: challenges %q", vs)
		}
	})
}

// TestBearerClientNeedsNoBearerChallenge: authedit's service-account
// client takes any 401 on its token as a refused token, so a token the
// server dropped (here: expired on the server's clock only) is replaced
// without a Bearer challenge.
func TestBearerClientNeedsNoBearerChallenge(t *testing.T) {
	clk := newClock()
	srv := atlastest.NewServer(atlastest.WithClock(clk.Now))
	defer srv.Close()
	client, err := authedit.NewClient(srv.URL, srv.Owner().ServiceAccount())
	if err != nil {
		t.Fatal(err)
	}
	keys := srv.Keys()
	for i, key := range keys[:2] {
		if out, err := client.Remove(t.Context(), srv.OrgID(), key); err != nil || out != authedit.Removed {
			t.Fatalf("remove %d: %v %v", i, out, err)
		}
		clk.Advance(2 * time.Hour) // past the server's token TTL
	}
	var tokens, refused int
	for _, r := range srv.Requests() {
		switch {
		case r.Path == contract.TokenPath():
			tokens++
		case r.Status == http.StatusUnauthorized:
			refused++
		}
	}
	if tokens != 2 || refused != 1 {
		t.Errorf("%d token requests and %d refused calls, want 2 and 1", tokens, refused)
	}
}
