package atlastest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/icholy/digest"
	"go.uber.org/goleak"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/atlascontract/deleteorgapikey/internal/behavior"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// TestMain fails the run if any test leaves a goroutine behind: a server
// not closed, a connection not drained, a handler still running.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// specCheck is the transport under every test client: it holds each
// answer to a request for the operation to the spec.
type specCheck struct {
	t    testing.TB
	base http.RoundTripper
}

func (c specCheck) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(req)
	if _, notOp := contract.MatchPath(req.URL.EscapedPath()); err == nil && notOp == nil {
		if err := contract.CheckResponse(req.Context(), resp); err != nil {
			c.t.Errorf("%s %s: %v", req.Method, req.URL, err)
		}
	}
	return resp, err
}

func newSpecCheck(t testing.TB) specCheck {
	base := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(base.CloseIdleConnections)
	return specCheck{t, base}
}

// plain sends requests as they are.
func plain(t testing.TB) *http.Client { return &http.Client{Transport: newSpecCheck(t)} }

// digestClient authenticates as p's API key with icholy/digest.
func digestClient(t testing.TB, p Principal) *http.Client {
	tr := &digest.Transport{Username: p.PublicKey, Password: p.PrivateKey}
	tr.Transport = newSpecCheck(t)
	return &http.Client{Transport: tr}
}

// bearerClient authenticates as p's service account with x/oauth2.
func bearerClient(t testing.TB, srv *Server, p Principal) *http.Client {
	cfg := clientcredentials.Config{ClientID: p.ClientID, ClientSecret: p.ClientSecret,
		TokenURL: srv.URL + contract.TokenPath(), AuthStyle: oauth2.AuthStyleInHeader}
	return cfg.Client(context.WithValue(t.Context(), oauth2.HTTPClient, plain(t)))
}

func opURL(srv *Server, orgID, keyID, query string) string {
	u := srv.URL + "/api/atlas/v2/orgs/" + orgID + "/apiKeys/" + keyID
	if query != "" {
		u += "?" + query
	}
	return u
}

// send sends a request with the spec's Accept unless header names one, and
// returns the answer with its body read.
func send(t testing.TB, c *http.Client, method, u string, h http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", contract.AcceptHeader())
	maps.Copy(req.Header, h)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func del(t testing.TB, c *http.Client, u string) (*http.Response, []byte) {
	t.Helper()
	return send(t, c, http.MethodDelete, u, nil)
}

func wantStatus(t testing.TB, resp *http.Response, body []byte, want int) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("%s: status %d, want %d: %s", resp.Request.URL, resp.StatusCode, want, body)
	}
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

// panicOf runs f and returns what it panicked with, nil if nothing.
func panicOf(f func()) (p any) {
	defer func() { p = recover() }()
	f()
	return nil
}

func TestDefaults(t *testing.T) {
	srv := NewTestServer(t, WithSeedKeys(3))
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Errorf("URL %s is not on loopback", srv.URL)
	}
	keys, owner, member := srv.Keys(), srv.Owner(), srv.Member()
	if len(keys) != 8 || !slices.IsSorted(keys) {
		t.Errorf("Keys() = %v, want 5+3 sorted", keys)
	}
	all := srv.OrgKeys(srv.OrgID())
	want := slices.Sorted(slices.Values(append(keys, owner.KeyID, member.KeyID)))
	if !slices.Equal(all, want) {
		t.Errorf("OrgKeys = %v, want the Keys and the principals' %v", all, want)
	}
	for _, id := range append([]string{srv.OrgID()}, all...) {
		if err := contract.CheckParam("apiUserId", id); err != nil {
			t.Error(err)
		}
	}
	for _, p := range []Principal{owner, member} {
		key, sa := p.APIKey(), p.ServiceAccount()
		if p.PrivateKey == "" || p.ClientSecret == "" || key.PublicKey != p.PublicKey ||
			string(key.PrivateKey) != p.PrivateKey || sa.ClientID != p.ClientID ||
			string(sa.ClientSecret) != p.ClientSecret {
			t.Errorf("credentials %+v: as authedit takes them %+v %+v", p, key, sa)
		}
	}
	again := New(WithSeedKeys(3)).Owner()
	if !slices.Equal(New(WithSeedKeys(3)).Keys(), keys) || again.PublicKey != owner.PublicKey {
		t.Error("the same options gave different ids")
	}
	if again.PrivateKey == owner.PrivateKey || again.ClientSecret == owner.ClientSecret {
		t.Error("secrets must not be deterministic")
	}
	if srv.OrgKeys(keys[0]) != nil || srv.HasKey("nope") {
		t.Error("lookups of unknown ids should find nothing")
	}
}

// TestKeys: keys added later delete like seeded ones, and a principal's
// own key takes its digest credentials with it.
func TestKeys(t *testing.T) {
	srv := NewTestServer(t)
	added := srv.AddKey()
	if !slices.Contains(srv.Keys(), added) {
		t.Fatalf("AddKey() = %q: Keys %v", added, srv.Keys())
	}
	owner := digestClient(t, srv.Owner())
	for _, k := range []string{srv.Keys()[0], added, srv.Member().KeyID} {
		resp, body := del(t, owner, opURL(srv, srv.OrgID(), k, ""))
		wantStatus(t, resp, body, http.StatusNoContent)
		if srv.HasKey(k) {
			t.Errorf("key %s still there", k)
		}
	}
	resp, body := del(t, digestClient(t, srv.Member()), opURL(srv, srv.OrgID(), srv.Keys()[0], ""))
	wantStatus(t, resp, body, http.StatusUnauthorized)
	if got := lastAuthError(srv); !strings.Contains(got, "wrong username or password") {
		t.Errorf("a deleted key's credentials: %q", got)
	}
}

// TestNewTestServer: the server closes when its test ends.
func TestNewTestServer(t *testing.T) {
	var url string
	t.Run("user", func(t *testing.T) { url = NewTestServer(t).URL })
	if conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://")); err == nil {
		conn.Close()
		t.Error("the server still listens after its test ended")
	}
}

func TestRequestLog(t *testing.T) {
	var hooked []Request
	srv := NewTestServer(t, WithLogLimit(6), WithLogHook(func(r Request) {
		hooked = append(hooked, r) // calls never overlap
	}))
	del(t, digestClient(t, srv.Owner()), opURL(srv, srv.OrgID(), srv.Keys()[0], "pretty=true"))
	del(t, bearerClient(t, srv, srv.Member()), opURL(srv, srv.OrgID(), srv.Keys()[0], ""))
	send(t, plain(t), http.MethodGet, srv.URL+"/"+strings.Repeat("p", 1000), nil)

	var got []string
	for _, r := range srv.Requests() {
		got = append(got, fmt.Sprintf("%s %d %s %q %q %d %v",
			r.Method, len(r.Path), r.Auth, r.Query, r.Principal, r.Status, r.TokenIssued))
	}
	want := []string{
		`DELETE 76 none "pretty=true" "" 401 false`,
		`DELETE 76 digest "pretty=true" "owner" 204 false`,
		`POST 16 basic "" "member" 200 true`,
		`DELETE 76 bearer "" "member" 401 false`,
		`GET 259 none "" "" 404 false`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !slices.Equal(hooked, srv.Requests()) {
		t.Errorf("WithLogHook saw %+v, the log holds %+v", hooked, srv.Requests())
	}
	if n := srv.CountRequests(func(r Request) bool { return r.TokenIssued }); n != 1 {
		t.Errorf("CountRequests(token issued) = %d, want 1", n)
	}
	for range 3 {
		send(t, plain(t), http.MethodGet, srv.URL+"/elsewhere", nil)
	}
	got = nil
	for _, r := range srv.Requests() {
		got = append(got, r.Path)
	}
	if len(got) != 6 || got[0] != contract.TokenPath() || got[5] != "/elsewhere" {
		t.Errorf("WithLogLimit(6) kept %+v", got)
	}
	srv.ResetRequests()
	if len(srv.Requests()) != 0 {
		t.Error("ResetRequests kept entries")
	}
}

// TestSetAccessList: a principal with an access list that does not hold
// loopback gets Atlas's 403 naming its address, with either credential;
// its token requests are not checked; no entries remove the list.
func TestSetAccessList(t *testing.T) {
	srv := NewTestServer(t)
	owner := srv.Owner()
	srv.SetAccessList(owner, "192.0.2.0/24", "2001:db8::1")
	for _, c := range []*http.Client{digestClient(t, owner), bearerClient(t, srv, owner)} {
		resp, body := del(t, c, opURL(srv, srv.OrgID(), srv.Keys()[0], ""))
		wantAnswer(t, resp, body, rowOf(behavior.IPNotAllowed), "127.0.0.1")
	}
	srv.SetAccessList(owner, "10.0.0.0/8", "127.0.0.1")
	resp, body := del(t, digestClient(t, owner), opURL(srv, srv.OrgID(), srv.Keys()[0], ""))
	wantStatus(t, resp, body, http.StatusNoContent)
	srv.SetAccessList(owner)
	resp, body = del(t, digestClient(t, owner), opURL(srv, srv.OrgID(), srv.Keys()[0], ""))
	wantStatus(t, resp, body, http.StatusNoContent)
}

// TestInvalidSetUpPanics: set-up a server cannot honour panics, saying why.
func TestInvalidSetUpPanics(t *testing.T) {
	srv := New()
	for name, f := range map[string]func(){
		"negative seed keys": func() { WithSeedKeys(-1) },
		"rate limit":         func() { WithRateLimit(0, 1, time.Minute) },
		"rate period":        func() { WithRateLimit(1, 1, time.Millisecond) },
		"no token requests":  func() { WithTokenRateLimit(0, time.Minute) },
		"not whole minutes":  func() { WithTokenRateLimit(5, 90*time.Second) },
		"nil clock":          func() { WithClock(nil) },
		"log limit":          func() { WithLogLimit(0) },
		"malformed CIDR":     func() { srv.SetAccessList(srv.Owner(), "192.0.2.0/33") },
		"another principal":  func() { srv.SetAccessList(Principal{PublicKey: "nobody"}) },
	} {
		if p := panicOf(f); !strings.HasPrefix(fmt.Sprint(p), "atlastest: ") {
			t.Errorf("%s: panic %v, want an atlastest: message", name, p)
		}
	}
}

// decode unmarshals a JSON body if want is set, failing the test if it is
// not JSON; otherwise it returns the zero T.
func decode[T any](t testing.TB, body []byte, want bool) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); want && err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	return v
}
