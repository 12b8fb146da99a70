package authedit_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/icholy/digest"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/authedit"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// Tests against the reference server: real digest and client-credentials
// authentication, counted at the server.

func isToken(r atlastest.Request) bool { return r.Path == contract.TokenPath() }

func isOperation(r atlastest.Request) bool { return strings.HasPrefix(r.Path, "/api/atlas/") }

// authRecorder is a base transport that keeps the Authorization headers sent.
type authRecorder struct {
	mu    sync.Mutex
	auths []string
}

func (a *authRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	a.mu.Lock()
	a.auths = append(a.auths, req.Header.Get("Authorization"))
	a.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

func (a *authRecorder) sent() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.auths...)
}

func deleteOK(t *testing.T, c *authedit.Client, org, key string) {
	t.Helper()
	resp, err := c.DeleteOrgApiKeyWithResponse(t.Context(), org, key, nil)
	if err != nil {
		t.Fatalf("delete %s: %v", key, err)
	}
	if resp.StatusCode() != http.StatusNoContent {
		t.Fatalf("delete %s: status %d body %s", key, resp.StatusCode(), resp.Body)
	}
}

func TestDigestWarmedClientOneRoundTripPerRequest(t *testing.T) {
	for _, alg := range []string{"MD5", "SHA-256"} {
		t.Run(alg, func(t *testing.T) {
			const n = 20
			srv := atlastest.NewTestServer(t, atlastest.WithDigestAlgorithms(alg), atlastest.WithSeedKeys(n))
			var rec authRecorder
			c, err := authedit.NewClient(srv.URL, srv.Owner().APIKey(), authedit.WithTransport(&rec))
			if err != nil {
				t.Fatal(err)
			}
			keys := srv.Keys()
			deleteOK(t, c, srv.OrgID(), keys[0]) // warm: challenge, then answer
			if got := len(srv.Requests()); got != 2 {
				t.Fatalf("cold request cost %d round trips, want 2", got)
			}
			srv.ResetRequests()
			for _, k := range keys[1 : n+1] {
				deleteOK(t, c, srv.OrgID(), k)
			}
			reqs := srv.Requests()
			if len(reqs) != n {
				t.Fatalf("%d warmed deletes cost %d requests at the server, want %d: %+v", n, len(reqs), n, reqs)
			}
			for _, r := range reqs {
				if r.Auth != "digest" || r.Status != http.StatusNoContent {
					t.Errorf("request %+v, want digest and 204", r)
				}
			}
			// The algorithm and qop the server asked for, and nc counting up on one nonce.
			sent := rec.sent()
			var nonce string
			for i, h := range sent[1:] {
				cr, err := digest.ParseCredentials(h)
				if err != nil {
					t.Fatalf("Authorization %q: %v", h, err)
				}
				if cr.Algorithm != alg || cr.QOP != "auth" || cr.Nc != i+1 {
					t.Errorf("request %d: algorithm %s qop %s nc %d, want %s auth %d", i+1, cr.Algorithm, cr.QOP, cr.Nc, alg, i+1)
				}
				if nonce == "" {
					nonce = cr.Nonce
				} else if cr.Nonce != nonce {
					t.Errorf("request %d used a new nonce; the challenge should be reused", i+1)
				}
			}
		})
	}
}

// fakeClock is a time for atlastest.WithClock that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestDigestStaleNonceCostsOneExtraRoundTrip(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)}
	srv := atlastest.NewTestServer(t, atlastest.WithNonceTTL(time.Minute), atlastest.WithClock(clock.Now))
	c, err := authedit.NewClient(srv.URL, srv.Owner().APIKey())
	if err != nil {
		t.Fatal(err)
	}
	keys := srv.Keys()
	deleteOK(t, c, srv.OrgID(), keys[0])
	clock.Advance(time.Minute + time.Second)
	srv.ResetRequests()
	deleteOK(t, c, srv.OrgID(), keys[1])
	reqs := srv.Requests()
	if len(reqs) != 2 || reqs[0].Status != http.StatusUnauthorized || reqs[1].Status != http.StatusNoContent {
		t.Fatalf("after the nonce went stale: %+v, want one 401 then one 204", reqs)
	}
	srv.ResetRequests()
	deleteOK(t, c, srv.OrgID(), keys[2])
	if got := len(srv.Requests()); got != 1 {
		t.Errorf("next request cost %d round trips, want 1 with the new nonce", got)
	}
}

// Concurrent requests on one nonce reach the server out of nc order; the
// server's window accepts that, and no request needs a second round trip.
func TestDigestConcurrentWarmed(t *testing.T) {
	const n = 32
	srv := atlastest.NewTestServer(t, atlastest.WithSeedKeys(n))
	c, err := authedit.NewClient(srv.URL, srv.Owner().APIKey())
	if err != nil {
		t.Fatal(err)
	}
	keys := srv.Keys()
	deleteOK(t, c, srv.OrgID(), keys[0])
	srv.ResetRequests()
	var wg sync.WaitGroup
	for _, k := range keys[1 : n+1] {
		wg.Go(func() {
			resp, err := c.DeleteOrgApiKeyWithResponse(t.Context(), srv.OrgID(), k, nil)
			if err != nil || resp.StatusCode() != http.StatusNoContent {
				t.Errorf("delete %s: err %v resp %v", k, err, resp)
			}
		})
	}
	wg.Wait()
	if got := len(srv.Requests()); got != n {
		t.Errorf("%d concurrent warmed deletes cost %d requests, want %d", n, got, n)
	}
	if left := srv.Keys(); len(left) != len(keys)-n-1 {
		t.Errorf("%d keys left, want %d", len(left), len(keys)-n-1)
	}
}

func TestDigestWrongKeyDoesNotLoop(t *testing.T) {
	srv := atlastest.NewTestServer(t)
	k := srv.Owner().APIKey()
	k.PrivateKey = "wrong"
	c, err := authedit.NewClient(srv.URL, k)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.DeleteOrgApiKeyWithResponse(t.Context(), srv.OrgID(), srv.Keys()[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode() != http.StatusUnauthorized || resp.JSON401 == nil {
		t.Fatalf("status %d, want the server's 401 with its ApiError", resp.StatusCode())
	}
	if got := len(srv.Requests()); got != 2 {
		t.Errorf("wrong key cost %d requests, want 2 (challenge, one answer)", got)
	}
}

func TestServiceAccountColdConcurrentOneToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) { coldServiceAccount(t) })
}

// newPipeAtlas serves a reference server over a pipeServer, for a synctest
// bubble; clients take p.URL and WithTransport(p.tr).
func newPipeAtlas(t *testing.T, opts ...atlastest.Option) (*atlastest.Server, *pipeServer) {
	srv := atlastest.New(opts...)
	return srv, newPipeServer(t, srv.Handler())
}

func TestServiceAccount401(t *testing.T) {
	t.Run("one refetch, one retry", func(t *testing.T) {
		srv := atlastest.NewTestServer(t)
		c, err := authedit.NewClient(srv.URL, srv.Owner().ServiceAccount())
		if err != nil {
			t.Fatal(err)
		}
		keys := srv.Keys()
		deleteOK(t, c, srv.OrgID(), keys[0])
		srv.ResetRequests()
		srv.FailNext(1, http.StatusUnauthorized)
		deleteOK(t, c, srv.OrgID(), keys[1])
		if got := srv.CountRequests(isToken); got != 1 {
			t.Errorf("token requests after a 401 = %d, want 1", got)
		}
		if got := srv.CountRequests(isOperation); got != 2 {
			t.Errorf("operation requests = %d, want 2 (the 401 and the retry)", got)
		}
	})
	t.Run("never a loop", func(t *testing.T) {
		srv := atlastest.NewTestServer(t)
		c, err := authedit.NewClient(srv.URL, srv.Owner().ServiceAccount())
		if err != nil {
			t.Fatal(err)
		}
		srv.FailNext(100, http.StatusUnauthorized)
		resp, err := c.DeleteOrgApiKeyWithResponse(t.Context(), srv.OrgID(), srv.Keys()[0], nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode() != http.StatusUnauthorized || resp.JSON401 == nil {
			t.Fatalf("status %d, want the 401 handed back", resp.StatusCode())
		}
		if got := srv.CountRequests(isToken); got != 2 {
			t.Errorf("token requests = %d, want 2 (first fetch, one refetch)", got)
		}
		if got := srv.CountRequests(isOperation); got != 2 {
			t.Errorf("operation requests = %d, want 2 (request, one retry)", got)
		}
	})
}

func TestServiceAccountRevoke(t *testing.T) {
	srv := atlastest.NewTestServer(t)
	var rec authRecorder
	c, err := authedit.NewClient(srv.URL, srv.Owner().ServiceAccount(), authedit.WithTransport(&rec))
	if err != nil {
		t.Fatal(err)
	}
	keys := srv.Keys()
	deleteOK(t, c, srv.OrgID(), keys[0])
	old := rec.sent()[len(rec.sent())-1]
	if !strings.HasPrefix(old, "Bearer ") {
		t.Fatalf("operation sent Authorization %q", old)
	}
	if err := c.Revoke(t.Context()); err != nil {
		t.Fatal(err)
	}
	revokes := srv.CountRequests(func(r atlastest.Request) bool {
		return r.Path == contract.RevokePath() && r.Method == http.MethodPost && r.Auth == "basic" && r.Status == http.StatusOK
	})
	if revokes != 1 {
		t.Fatalf("revocation requests = %d, want one POST with Basic answered 200: %+v", revokes, srv.Requests())
	}
	// The old token is dead at the server...
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodDelete, srv.URL+"/api/atlas/v2/orgs/"+srv.OrgID()+"/apiKeys/"+keys[1], nil)
	req.Header.Set("Authorization", old)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("revoked token answered %d, want 401", resp.StatusCode)
	}
	// ...and the client fetches a new one.
	deleteOK(t, c, srv.OrgID(), keys[1])
	if got := srv.CountRequests(isToken); got != 2 {
		t.Errorf("token requests = %d, want 2", got)
	}
}

func TestMalformedIDsReachNoServer(t *testing.T) {
	srv := atlastest.NewTestServer(t)
	for _, creds := range []authedit.Credentials{srv.Owner().APIKey(), srv.Owner().ServiceAccount()} {
		c, err := authedit.NewClient(srv.URL, creds)
		if err != nil {
			t.Fatal(err)
		}
		for name, bad := range badIDs {
			_, err := c.DeleteOrgApiKeyWithResponse(t.Context(), srv.OrgID(), bad, nil)
			var pe *authedit.ParamError
			if !errors.As(err, &pe) || pe.Name != "apiUserId" {
				t.Errorf("%s %s: err = %v, want *ParamError naming apiUserId", scheme(creds), name, err)
			}
			_, err = c.DeleteOrgApiKey(t.Context(), bad, srv.Keys()[0], nil)
			if !errors.As(err, &pe) || pe.Name != "orgId" {
				t.Errorf("%s %s: err = %v, want *ParamError naming orgId", scheme(creds), name, err)
			}
		}
	}
	if reqs := srv.Requests(); len(reqs) != 0 {
		t.Errorf("server saw %d requests (token requests included), want 0: %+v", len(reqs), reqs)
	}
}

func TestAtlasSecretsNotLogged(t *testing.T) {
	srv := atlastest.NewTestServer(t)
	sa := srv.Owner().ServiceAccount()
	sa.ClientSecret = secretValue
	c, err := authedit.NewClient(srv.URL, sa)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteOrgApiKeyWithResponse(t.Context(), srv.OrgID(), srv.Keys()[0], nil)
	var te *authedit.TokenError
	if !errors.As(err, &te) || te.StatusCode != http.StatusUnauthorized || te.ErrorCode != "invalid_client" {
		t.Fatalf("err = %v, want *TokenError 401 invalid_client", err)
	}
	ownerSecret, ownerPrivate := srv.Owner().ClientSecret, srv.Owner().PrivateKey
	secrets := []string{secretValue, ownerSecret, ownerPrivate}
	for hname, h := range handlers() {
		var buf bytes.Buffer
		slog.New(h(&buf)).Error("delete failed", slog.Any("err", err), slog.Any("creds", sa), slog.Any("owner", srv.Owner().ServiceAccount()), slog.Any("key", srv.Owner().APIKey()))
		for _, s := range secrets {
			if l := leaks(buf.String(), s); l != nil {
				t.Errorf("slog %s leaks %q: %s", hname, l, buf.String())
			}
		}
	}
	for _, v := range []any{err, sa, srv.Owner().ServiceAccount(), srv.Owner().APIKey()} {
		for _, verb := range []string{"%s", "%v", "%+v", "%#v"} {
			out := fmt.Sprintf(verb, v)
			for _, s := range secrets {
				if l := leaks(out, s); l != nil {
					t.Errorf("%s of %T leaks %q: %s", verb, v, l, out)
				}
			}
		}
	}
}
