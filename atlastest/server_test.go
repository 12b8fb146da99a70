package atlastest_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

var idPattern = regexp.MustCompile(`^[a-f0-9]{24}$`)

func TestDefaults(t *testing.T) {
	srv := atlastest.NewServer()
	defer srv.Close()
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Errorf("URL %s is not on loopback", srv.URL)
	}
	keys := srv.Keys()
	if len(keys) < 5 || !slices.IsSorted(keys) {
		t.Errorf("Keys() = %v, want >= 5 sorted", keys)
	}
	owner, member := srv.Owner(), srv.Member()
	all := srv.OrgKeys(srv.OrgID())
	if len(all) != len(keys)+2 || !has(all, owner.KeyID) || !has(all, member.KeyID) || has(keys, owner.KeyID) {
		t.Errorf("OrgKeys %v vs Keys %v", all, keys)
	}
	for _, v := range append([]string{srv.OrgID(), owner.KeyID}, keys...) {
		if !idPattern.MatchString(v) {
			t.Errorf("id %q does not fit the spec", v)
		}
	}
	for _, c := range []atlastest.Principal{owner, member} {
		if c.PublicKey == "" || c.PrivateKey == "" || c.ClientID == "" || c.ClientSecret == "" {
			t.Errorf("incomplete credentials %+v", c)
		}
	}
	projects := srv.OrgProjects(srv.OrgID())
	if len(projects) != 3 {
		t.Fatalf("projects %v", projects)
	}
	inProjects := 0
	for _, p := range projects {
		inProjects += len(srv.ProjectKeys(p))
	}
	perKey := 0
	for _, k := range keys {
		perKey += len(srv.KeyProjects(k))
	}
	if perKey != inProjects || perKey < len(keys) {
		t.Errorf("project memberships: %d by key, %d by project", perKey, inProjects)
	}
	if srv.OrgKeys("nope") != nil || srv.KeyProjects("nope") != nil || srv.ProjectKeys(srv.OrgID()) != nil || srv.OrgProjects("nope") != nil {
		t.Error("lookups of unknown ids should be nil")
	}
}

func TestAddKeyAndHasKey(t *testing.T) {
	srv := atlastest.NewTestServer(t, atlastest.WithOrgs(2))
	other, _, _ := srv.OtherOrg()
	otherKey := srv.OrgKeys(other)[0]
	before := srv.Keys()
	key := srv.AddKey()
	if !idPattern.MatchString(key) || has(before, key) || !has(srv.Keys(), key) || len(srv.Keys()) != len(before)+1 {
		t.Fatalf("AddKey() = %q; Keys %v -> %v", key, before, srv.Keys())
	}
	if !srv.HasKey(key) || !srv.HasKey(srv.Owner().KeyID) || !srv.HasKey(otherKey) {
		t.Error("HasKey misses a key that exists")
	}
	for _, k := range []string{"0123456789abcdef01234567", "nope", "", strings.ToUpper(key)} {
		if srv.HasKey(k) {
			t.Errorf("HasKey(%q) = true", k)
		}
	}
	if got := srv.KeyProjects(key); len(got) != 0 {
		t.Errorf("a key from AddKey is in projects %v", got)
	}
	// Added keys delete like seeded ones; ids stay deterministic.
	resp, body := del(t, ownerBearer(t, srv), opURL(srv, srv.OrgID(), key, ""))
	wantStatus(t, resp, body, http.StatusNoContent)
	if srv.HasKey(key) {
		t.Error("HasKey after the delete")
	}
	if again := atlastest.New().AddKey(); again != atlastest.New().AddKey() {
		t.Error("AddKey ids are not deterministic")
	}
}

// TestNewTestServerClosesOnCleanup: the server NewTestServer starts is
// closed when the test that made it ends.
func TestNewTestServerClosesOnCleanup(t *testing.T) {
	var url string
	t.Run("user", func(t *testing.T) {
		srv := atlastest.NewTestServer(t)
		url = srv.URL
		resp, body := del(t, plain(t), opURL(srv, srv.OrgID(), srv.Keys()[0], ""))
		wantStatus(t, resp, body, http.StatusUnauthorized)
	})
	if conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://")); err == nil {
		conn.Close()
		t.Error("the server still listens after its test ended")
	}
}

func TestDeterministicIDs(t *testing.T) {
	a, b := atlastest.New(), atlastest.New()
	if a.OrgID() != b.OrgID() || !slices.Equal(a.Keys(), b.Keys()) || a.Owner().PublicKey != b.Owner().PublicKey {
		t.Error("the same options gave different ids")
	}
	if a.Owner().PrivateKey == b.Owner().PrivateKey || a.Owner().ClientSecret == b.Owner().ClientSecret {
		t.Error("secrets must not be deterministic")
	}
}

func TestNewServesOnAnyListener(t *testing.T) {
	srv := atlastest.New()
	defer srv.Close() // never started: a no-op
	if srv.URL != "" {
		t.Fatalf("URL %q before Start", srv.URL)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv.Handler()}
	go func() { _ = hs.Serve(l) }()
	defer hs.Close()
	srv.URL = "http://" + l.Addr().String() // what cmd/smoke knows
	owner := srv.Owner()
	client, _ := digestClient(t, owner.PublicKey, owner.PrivateKey)
	resp, body := del(t, client, opURL(srv, srv.OrgID(), srv.Keys()[0], ""))
	wantStatus(t, resp, body, http.StatusNoContent)
}

func TestRequestLog(t *testing.T) {
	srv := atlastest.NewServer()
	defer srv.Close()
	owner := srv.Owner()
	tok := fetchToken(t, srv, owner.ClientID, owner.ClientSecret)
	client, _ := digestClient(t, owner.PublicKey, owner.PrivateKey)
	resp, body := del(t, client, opURL(srv, srv.OrgID(), srv.Keys()[0], "pretty=true"))
	wantStatus(t, resp, body, http.StatusNoContent)
	resp, body = del(t, bearerClient(t, tok), opURL(srv, srv.OrgID(), srv.Keys()[0], ""))
	wantStatus(t, resp, body, http.StatusNoContent)
	resp, body = do(t, plain(t), http.MethodGet, srv.URL+"/elsewhere", nil)
	wantStatus(t, resp, body, http.StatusNotFound)

	var got []string
	for _, r := range srv.Requests() {
		got = append(got, fmt.Sprintf("%s %s %s %d", r.Method, r.Auth, r.Query, r.Status))
	}
	want := []string{
		"POST basic  200",
		"DELETE none pretty=true 401",
		"DELETE digest pretty=true 204",
		"DELETE bearer  204",
		"GET none  404",
	}
	if !slices.Equal(got, want) {
		t.Errorf("log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := srv.CountRequests(func(r atlastest.Request) bool { return r.Path == contract.TokenPath() }); n != 1 {
		t.Errorf("token requests %d", n)
	}
	srv.ResetRequests()
	if len(srv.Requests()) != 0 {
		t.Error("ResetRequests kept entries")
	}
}

// TestDeleteReachesProjectsAndCredentials: a delete takes the key out of
// every project it is in, and a key that authenticates takes its digest
// credentials with it.
func TestDeleteReachesProjectsAndCredentials(t *testing.T) {
	srv := atlastest.NewServer(atlastest.WithSeedKeys(3))
	defer srv.Close()
	org := srv.OrgID()
	if n := len(srv.Keys()); n != 8 {
		t.Errorf("default org has %d deletable keys, want 5+3", n)
	}
	if srv.OrgKeys("not an id") != nil || srv.OrgProjects("not an id") != nil {
		t.Error("a malformed id found an organization")
	}
	var key string
	var projects []string
	for _, k := range srv.Keys() {
		if key, projects = k, srv.KeyProjects(k); len(projects) == 2 {
			break
		}
	}
	if len(projects) != 2 {
		t.Fatalf("no key is in two projects")
	}
	owner, member := srv.Owner(), srv.Member()
	memberKey, _ := digestClient(t, member.PublicKey, member.PrivateKey)
	resp, body := del(t, memberKey, opURL(srv, org, key, ""))
	wantStatus(t, resp, body, http.StatusForbidden)
	ownerKey, _ := digestClient(t, owner.PublicKey, owner.PrivateKey)
	resp, body = del(t, ownerKey, opURL(srv, org, key, ""))
	wantStatus(t, resp, body, http.StatusNoContent)
	for _, p := range projects {
		if has(srv.ProjectKeys(p), key) {
			t.Errorf("project %s still has %s", p, key)
		}
	}
	resp, body = del(t, ownerKey, opURL(srv, org, member.KeyID, ""))
	wantStatus(t, resp, body, http.StatusNoContent)
	resp, body = del(t, memberKey, opURL(srv, org, srv.Keys()[0], ""))
	wantStatus(t, resp, body, http.StatusUnauthorized)
}

func TestInvalidOptionsPanic(t *testing.T) {
	for name, opt := range map[string]func() atlastest.Option{
		"negative seed keys":      func() atlastest.Option { return atlastest.WithSeedKeys(-1) },
		"rate limit":              func() atlastest.Option { return atlastest.WithRateLimit(0, 1, 1) },
		"nonce ttl":               func() atlastest.Option { return atlastest.WithNonceTTL(-1) },
		"digest algorithm":        func() atlastest.Option { return atlastest.WithDigestAlgorithms("SHA-512") },
		"no digest algorithm":     func() atlastest.Option { return atlastest.WithDigestAlgorithms() },
		"no token requests":       func() atlastest.Option { return atlastest.WithTokenRateLimit(0, time.Minute) },
		"negative token requests": func() atlastest.Option { return atlastest.WithTokenRateLimit(-1, time.Minute) },
		"no token period":         func() atlastest.Option { return atlastest.WithTokenRateLimit(5, 0) },
		"not whole minutes":       func() atlastest.Option { return atlastest.WithTokenRateLimit(5, 90*time.Second) },
		"nil clock":               func() atlastest.Option { return atlastest.WithClock(nil) },
		"log limit":               func() atlastest.Option { return atlastest.WithLogLimit(0) },
	} {
		if p := panicOf(func() { atlastest.New(opt()) }); !strings.HasPrefix(fmt.Sprint(p), "atlastest: ") {
			t.Errorf("%s: panic %v, want an atlastest: message", name, p)
		}
	}
}

// recordingTB catches what checkResponse reports, to prove it can fail.
type recordingTB struct {
	testing.TB
	errs []string
}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func TestCheckResponseCatchesViolations(t *testing.T) {
	srv := atlastest.NewServer()
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodDelete, opURL(srv, srv.OrgID(), srv.Keys()[0], ""), nil)
	for name, resp := range map[string]*http.Response{
		"204 with a body":    {StatusCode: 204, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(`{"x":1}`))},
		"undocumented 405":   {StatusCode: 405, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(`{"error":405,"errorCode":"X","reason":"r","detail":"d"}`))},
		"404 without detail": {StatusCode: 404, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(`{"error":404,"errorCode":"X"}`))},
		"429 bad header":     {StatusCode: 429, Header: http.Header{"Content-Type": {"application/json"}, "Retry-After": {"soon"}}, Body: io.NopCloser(strings.NewReader(`{"error":429,"errorCode":"X","reason":"r","detail":"d"}`))},
	} {
		resp.Request = req
		rec := &recordingTB{TB: t}
		checkResponse(rec, resp)
		if len(rec.errs) == 0 {
			t.Errorf("%s: not reported", name)
		}
	}
}

func TestLogLimitKeepsTheLastRequests(t *testing.T) {
	srv := atlastest.NewServer(atlastest.WithLogLimit(3))
	defer srv.Close()
	for i := range 10 {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/nowhere/%d", srv.URL, i), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	got := srv.Requests()
	if len(got) != 3 || got[0].Path != "/nowhere/7" || got[2].Path != "/nowhere/9" {
		t.Fatalf("log %+v, want the last three requests", got)
	}
	if n := srv.CountRequests(func(atlastest.Request) bool { return true }); n != 3 {
		t.Fatalf("CountRequests = %d, want 3", n)
	}
}

func TestLogClipsHugeRequestLines(t *testing.T) {
	srv := atlastest.NewServer()
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/" + strings.Repeat("p", 100_000) + "?" + strings.Repeat("q", 50_000))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := srv.Requests()
	if len(got) != 1 || len(got[0].Path) > 300 || len(got[0].Query) > 300 || !strings.HasPrefix(got[0].Path, "/ppp") {
		t.Fatalf("logged path %d bytes, query %d bytes", len(got[0].Path), len(got[0].Query))
	}
}
