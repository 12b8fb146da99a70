package atlastest

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// tokenCall posts form to the token or revoke endpoint as account id/secret,
// straight to the handler: no network.
func tokenCall(s *Server, path, id, secret, form string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	s.Handler().ServeHTTP(rec, req)
	return rec
}

func issueToken(t *testing.T, s *Server) string {
	t.Helper()
	o := s.Owner()
	rec := tokenCall(s, "/api/oauth/token", o.ClientID, o.ClientSecret, "grant_type=client_credentials")
	tok, ok := strings.CutPrefix(rec.Body.String(), `{"access_token":"`)
	tok, _, _ = strings.Cut(tok, `"`)
	if rec.Code != http.StatusOK || !ok || tok == "" {
		t.Fatalf("token endpoint: %d %s", rec.Code, rec.Body)
	}
	return tok
}

func revokeToken(t *testing.T, s *Server, tok string) {
	t.Helper()
	o := s.Owner()
	if rec := tokenCall(s, "/api/oauth/revoke", o.ClientID, o.ClientSecret, "token="+tok); rec.Code != http.StatusOK {
		t.Fatalf("revoke: %d %s", rec.Code, rec.Body)
	}
}

// TestTokenChurnIsBounded (issue 12, item 9): revoking a token frees it,
// so issue-and-revoke cycles leave the store as they found it, and tokens
// that stay live through the churn keep working.
func TestTokenChurnIsBounded(t *testing.T) {
	s := New(WithTokenRateLimit(1<<20, time.Minute), WithLogLimit(1)) // the churn, not the limit, is under test
	kept := issueToken(t, s)
	const cycles = 2_000
	for range cycles {
		revokeToken(t, s, issueToken(t, s))
	}
	s.auth.mu.Lock()
	tokens := len(s.auth.tokens)
	s.auth.mu.Unlock()
	if tokens != 1 {
		t.Errorf("after %d issue-and-revoke cycles the server holds %d tokens, want 1", cycles, tokens)
	}
	if p, fail := s.verifyBearer(kept); p == nil {
		t.Errorf("the token kept through the churn is refused: %s", fail.detail)
	}
}

// TestNoncesStayBounded: expired nonces are purged as the map grows, and a
// flood past maxTracked loses arbitrary ones, so 401s cannot grow memory.
func TestNoncesStayBounded(t *testing.T) {
	now := time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)
	s := New(WithClock(func() time.Time { return now }))
	tracked := func() int {
		s.auth.mu.Lock()
		defer s.auth.mu.Unlock()
		return len(s.auth.nonces)
	}
	for range 3000 {
		s.digestChallenges(false)
	}
	now = now.Add(time.Hour) // all 3000 expire
	for range 3000 {
		s.digestChallenges(false)
	}
	if n := tracked(); n >= 4000 {
		t.Errorf("%d nonces tracked after 3000 expired and 3000 new: the expired ones stayed", n)
	}
	for range maxTracked + 100 {
		s.digestChallenges(false)
	}
	if n := tracked(); n > maxTracked {
		t.Errorf("%d nonces tracked, over the bound %d", n, maxTracked)
	}
}
