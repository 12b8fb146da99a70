package atlastest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/icholy/digest"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/gen"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// exchange is one round trip as seen on the wire, below any auth transport.
type exchange struct {
	Authorization string
	Status        int
	Header        http.Header
}

// checkTransport validates every response on the wire: operation responses
// with contract.CheckResponse, and for any other API path the ApiError shape.
// It also keeps the exchanges for tests that look at challenges.
type checkTransport struct {
	t    testing.TB
	base http.RoundTripper

	mu   sync.Mutex
	seen []exchange
}

func newCheckTransport(t testing.TB) *checkTransport {
	base := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(base.CloseIdleConnections)
	return &checkTransport{t: t, base: base}
}

func (c *checkTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.seen = append(c.seen, exchange{req.Header.Get("Authorization"), resp.StatusCode, resp.Header.Clone()})
	c.mu.Unlock()
	checkResponse(c.t, resp)
	return resp, nil
}

func (c *checkTransport) exchanges() []exchange {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]exchange(nil), c.seen...)
}

// addressesOperation: the path is exactly the template's shape.
func addressesOperation(req *http.Request) bool {
	op, _ := contract.Load()
	_, err := contract.MatchPath(req.URL.EscapedPath())
	return err == nil && strings.Count(req.URL.EscapedPath(), "/") == strings.Count(op.Path, "/")
}

// checkResponse is the contract check every test response goes through.
func checkResponse(t testing.TB, resp *http.Response) {
	t.Helper()
	req := resp.Request
	switch req.URL.Path {
	case contract.TokenPath(), contract.RevokePath():
		return // OAuth2 endpoints: RFC 6749 shapes, checked where used
	}
	if addressesOperation(req) {
		if err := contract.CheckHTTPResponse(context.Background(), resp); err != nil {
			t.Errorf("%s %s: %v", req.Method, req.URL, err)
		}
	}
	body := readBody(t, resp)
	if resp.StatusCode == http.StatusOK && addressesOperation(req) {
		var env struct {
			Status  int             `json:"status"`
			Content json.RawMessage `json:"content"`
		}
		if err := json.Unmarshal(body, &env); err != nil {
			t.Errorf("%s %s: envelope: %v", req.Method, req.URL, err)
		}
		if env.Status >= 400 {
			checkAPIError(t, req, env.Status, env.Content)
		}
		return
	}
	if resp.StatusCode >= 400 {
		checkAPIError(t, req, resp.StatusCode, body)
	}
}

// checkAPIError: every error body carries error, errorCode, reason, detail.
func checkAPIError(t testing.TB, req *http.Request, status int, body []byte) {
	t.Helper()
	var e gen.ApiError
	if err := json.Unmarshal(body, &e); err != nil {
		t.Errorf("%s %s: %d body is not an ApiError: %v: %s", req.Method, req.URL, status, err, body)
		return
	}
	if int(e.Error) != status || e.ErrorCode == "" || e.Reason == nil || *e.Reason == "" || e.Detail == nil || *e.Detail == "" {
		t.Errorf("%s %s: incomplete ApiError for %d: %s", req.Method, req.URL, status, body)
	}
}

// readBody reads and restores a response body.
func readBody(t testing.TB, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		t.Errorf("read body: %v", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return b
}

func digestClient(t testing.TB, user, pass string) (*http.Client, *checkTransport) {
	ct := newCheckTransport(t)
	return &http.Client{Transport: &digest.Transport{Username: user, Password: pass, Transport: ct}}, ct
}

type bearer struct {
	token string
	base  http.RoundTripper
}

func (b bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+b.token)
	return b.base.RoundTrip(req)
}

func bearerClient(t testing.TB, token string) *http.Client {
	return &http.Client{Transport: bearer{token, newCheckTransport(t)}}
}

// plainClient sends requests as they are, validated.
func plainClient(t testing.TB) (*http.Client, *checkTransport) {
	ct := newCheckTransport(t)
	return &http.Client{Transport: ct}, ct
}

// fetchToken gets a token by hand (the tests of x/oauth2 use go through it).
func fetchToken(t testing.TB, srv *atlastest.Server, id, secret string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+contract.TokenPath(), strings.NewReader("grant_type=client_credentials"))
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK || tok.AccessToken == "" || tok.TokenType != "Bearer" {
		t.Fatalf("token: %d %+v %v", resp.StatusCode, tok, err)
	}
	return tok.AccessToken
}

func opURL(srv *atlastest.Server, orgID, keyID, query string) string {
	u := srv.URL + "/api/atlas/v2/orgs/" + orgID + "/apiKeys/" + keyID
	if query != "" {
		u += "?" + query
	}
	return u
}

// del sends a DELETE and returns the response with its body read.
func del(t testing.TB, c *http.Client, u string) (*http.Response, []byte) {
	t.Helper()
	return do(t, c, http.MethodDelete, u, nil)
}

func do(t testing.TB, c *http.Client, method, u string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		// A target url.Parse refuses (bad escapes): send it verbatim.
		scheme, rest, _ := strings.Cut(u, "://")
		host, target, _ := strings.Cut(rest, "/")
		req, err = http.NewRequest(method, scheme+"://"+host+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.Opaque, req.URL.RawQuery, _ = strings.Cut("/"+target, "?")
	}
	req.Header.Set("Accept", contract.AcceptHeader()) // unless header says otherwise; a nil Accept sends none
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	return resp, readBody(t, resp)
}

func wantStatus(t testing.TB, resp *http.Response, body []byte, want int) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", resp.Request.Method, resp.Request.URL, resp.StatusCode, want, body)
	}
}

func errorCode(t testing.TB, body []byte) string {
	t.Helper()
	var e gen.ApiError
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("not an ApiError: %s", body)
	}
	return e.ErrorCode
}

func has(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func plain(t testing.TB) *http.Client {
	c, _ := plainClient(t)
	return c
}

// authHeader signs a DELETE of u with a challenge, by hand.
func authHeader(t testing.TB, c *digest.Challenge, u, user, pass string, nc int) http.Header {
	t.Helper()
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := digest.Digest(c, digest.Options{Method: http.MethodDelete, URI: parsed.RequestURI(), Count: nc, Username: user, Password: pass})
	if err != nil {
		t.Fatal(err)
	}
	return http.Header{"Authorization": {cred.String()}}
}
