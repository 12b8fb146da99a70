package authedit_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/authedit"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

var noContent = answer{status: http.StatusNoContent}

func tokenRequests(srv *atlastest.Server) int {
	path := contract.TokenPath()
	return srv.CountRequests(func(r atlastest.Request) bool { return r.Path == path })
}

// Concurrent calls of a cold Transport make one token request, whether it
// succeeds or the secret is wrong: its failure is shared with the calls
// that waited for it. Every answer comes a second late on the bubble's
// clock, which moves only once every call waits, so all of them do.
func TestOneTokenRequestForConcurrentCalls(t *testing.T) {
	for _, wrong := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			srv := atlastest.New()
			late := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				time.Sleep(time.Second) // the bubble's clock, not the wall's
				srv.Handler().ServeHTTP(w, r)
			})
			creds := srv.Owner().ServiceAccount()
			if wrong {
				creds.ClientSecret = "wrong-client-secret"
			}
			tr := inBubble(t, late, creds)
			var wg sync.WaitGroup
			errs := make([]error, 32)
			for i := range errs {
				wg.Go(func() { _, _, errs[i] = del(t, tr, bubbleURL) })
			}
			wg.Wait()
			tokens := tokenRequests(srv)
			var te *authedit.TokenError
			refused := errors.As(errors.Join(errs...), &te) && te.ErrorCode == "invalid_client"
			if tokens != 1 || wrong != refused || !wrong && errors.Join(errs...) != nil {
				t.Errorf("%d token requests, errors %v; want 1", tokens, errors.Join(errs...))
			}
		})
	}
}

// A token is replaced a minute before it expires, or after 90% of a life
// shorter than ten minutes, on a synctest bubble's clock.
func TestTokensAreReplacedBeforeTheyExpire(t *testing.T) {
	for _, tc := range []struct {
		expiresIn int
		keep      time.Duration
	}{{3600, 59 * time.Minute}, {100, 90 * time.Second}} {
		synctest.Test(t, func(t *testing.T) {
			body := `{"access_token":"t0k3n","token_type":"bearer","expires_in":` +
				fmt.Sprint(tc.expiresIn) + `}`
			h := &canned{tokens: []answer{token(body)}, answers: []answer{noContent}}
			tr := inBubble(t, h, account)
			for _, wait := range []time.Duration{0, tc.keep - time.Second, time.Second} {
				time.Sleep(wait)
				if _, _, err := del(t, tr, bubbleURL); err != nil {
					t.Fatal(err)
				}
			}
			if n := h.tokenCalls.Load(); n != 2 {
				t.Errorf("expires_in %d: %d token requests, want 2, the second after %v",
					tc.expiresIn, n, tc.keep)
			}
		})
	}
}

// A token this package cannot send is refused before it is cached or
// stored: one with CR or LF, one outside RFC 6750's syntax, one not of
// type Bearer.
func TestTokensAreChecked(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"access_token":"a\r\nX-Evil: 1","token_type":"bearer","expires_in":3600}`, "b64token"},
		{`{"access_token":"a b","token_type":"Bearer","expires_in":3600}`, "b64token"},
		{`{"access_token":"t0k3n","token_type":"mac","expires_in":3600}`, `token_type "mac"`},
		{`{"access_token":"t0k3n","token_type":"BEARER","expires_in":3600}`, ""},
		{`{"access_token":"t0k3n=","expires_in":3600}`, ""},
	} {
		h := &canned{tokens: []answer{token(tc.body)}, answers: []answer{noContent}}
		url := serve(t, h)
		tr := newTransport(t, url, account)
		dir := t.TempDir()
		store, err := authedit.NewFileTokenStore(dir)
		if err != nil {
			t.Fatal(err)
		}
		tr.TokenStore = store
		for range 2 {
			_, _, err := del(t, tr, url)
			var te *authedit.TokenError
			refused := errors.As(err, &te) && strings.Contains(te.Description, tc.want)
			if tc.want == "" && err != nil || tc.want != "" && !refused {
				t.Errorf("%s: %v, want %q", tc.body, err, tc.want)
			}
		}
		if want := map[bool]int32{true: 1, false: 2}[tc.want == ""]; h.tokenCalls.Load() != want {
			t.Errorf("%s: %d token requests, want %d", tc.body, h.tokenCalls.Load(), want)
		}
		if saved, _ := filepath.Glob(filepath.Join(dir, "*.json")); tc.want != "" && saved != nil {
			t.Errorf("%s: stored in %v", tc.body, saved)
		}
	}
}

// Atlas reads the Basic credentials of token and revocation requests as
// they are, so characters that form-encoding would change reach it intact.
func TestClientCredentialsAreSentRaw(t *testing.T) {
	sa := authedit.ServiceAccount{ClientID: "id+1", ClientSecret: "s/e+c=r%t"}
	h := &canned{tokens: []answer{goodToken}, answers: []answer{noContent}}
	var got []string
	url := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id, secret, ok := r.BasicAuth(); ok {
			got = append(got, id+":"+secret)
		}
		h.ServeHTTP(w, r)
	}))
	tr := newTransport(t, url, sa)
	if _, _, err := del(t, tr, url); err != nil {
		t.Fatal(err)
	}
	if err := tr.Revoke(t.Context()); err != nil {
		t.Fatal(err)
	}
	if want := []string{"id+1:s/e+c=r%t", "id+1:s/e+c=r%t"}; !slices.Equal(got, want) {
		t.Errorf("Basic credentials of the token and revocation requests: %q, want %q", got, want)
	}
}

// Whatever the token and revocation endpoints echo, no secret reaches a
// TokenError: not the client's own, plain, URL-escaped or in the Basic
// header, nor anything shaped like a secret.
func TestTokenErrorsHideSecrets(t *testing.T) {
	const (
		secret = "mdb_sa_sk_Q2hhbmdlTWUxMjM0NTY3ODkw+/" // shaped like an Atlas client secret
		other  = "c0ffee42-d00d-4bad-beef-0123456789ab" // an API private key
	)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("id:"+url.QueryEscape(secret)))
	echo := token(fmt.Sprintf(`{"error":"invalid_client","error_description":"secret %s, `+
		`escaped %s, header %s, or %s? rejected"}`, secret, url.QueryEscape(secret), basic, other))
	echo.status = http.StatusUnauthorized
	h := &canned{tokens: []answer{goodToken, echo}, answers: []answer{noContent, echo}}
	base := serve(t, h)
	sa := authedit.ServiceAccount{ClientID: "id", ClientSecret: secret}
	tr := newTransport(t, base, sa)
	if _, _, err := del(t, tr, base); err != nil { // a token to revoke
		t.Fatal(err)
	}
	_, _, err := del(t, newTransport(t, base, sa), base) // its token request fails
	for _, err := range []error{err, tr.Revoke(t.Context())} {
		var te *authedit.TokenError
		if !errors.As(err, &te) || te.StatusCode != http.StatusUnauthorized ||
			!strings.Contains(te.Error(), "rejected") {
			t.Fatalf("%v, want a *TokenError that keeps the words", err)
		}
		for _, s := range []string{secret, url.QueryEscape(secret), basic[6:], other} {
			if out := fmt.Sprintf("%v %+v %#v", err, te, te); strings.Contains(out, s) {
				t.Errorf("%s error leaks %q: %s", te.Op, s, out)
			}
		}
	}
}

// A token endpoint's 429 is remembered: until its Retry-After has passed,
// no token request is made, and each call gets the 429 with the time left.
func TestToken429IsRemembered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := atlastest.New()
		srv.TokenEndpoint().SetRetryAfter(10 * time.Second)
		srv.TokenEndpoint().FailNext(1, http.StatusTooManyRequests)
		tr := inBubble(t, srv.Handler(), srv.Owner().ServiceAccount())
		for _, step := range []struct{ wait, left time.Duration }{{0, 10 * time.Second},
			{4 * time.Second, 6 * time.Second}, {6 * time.Second, 0}} {
			time.Sleep(step.wait)
			_, _, err := del(t, tr, bubbleURL)
			var te *authedit.TokenError
			if step.left > 0 && (!errors.As(err, &te) || te.RetryAfter != step.left ||
				te.ErrorCode != "RATE_LIMITED") || step.left == 0 && err != nil {
				t.Errorf("after %v: %v, want the 429 with %v left", step.wait, err, step.left)
			}
		}
		if n := tokenRequests(srv); n != 2 {
			t.Errorf("%d token requests, want 2", n)
		}
	})
}

// Revoke revokes the token held, which the next request replaces; with an
// API key, or no token held, it sends nothing.
func TestRevoke(t *testing.T) {
	srv := atlastest.NewTestServer(t)
	tr := newTransport(t, srv.URL, srv.Owner().ServiceAccount())
	err := errors.Join(tr.Revoke(t.Context()),
		newTransport(t, srv.URL, srv.Owner().APIKey()).Revoke(t.Context()))
	for range 2 {
		_, _, derr := del(t, tr, srv.URL)
		err = errors.Join(err, derr, tr.Revoke(t.Context()))
	}
	var got []string
	for _, r := range srv.Requests() {
		got = append(got, r.Path)
	}
	mint, revoke := contract.TokenPath(), contract.RevokePath()
	want := []string{mint, opPath, revoke, mint, opPath, revoke}
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%v; the server saw %q", err, got)
	}
}

// Transports that share a FileTokenStore mint one token. A token the API
// rejected is not taken from the store again, a revoked one leaves it, and
// a store that fails counts as none.
func TestTokenStore(t *testing.T) {
	srv := atlastest.NewTestServer(t)
	dir := filepath.Join(t.TempDir(), "tokens")
	store, err := authedit.NewFileTokenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	sharing := func() *authedit.Transport {
		tr := newTransport(t, srv.URL, srv.Owner().ServiceAccount())
		tr.TokenStore = store
		return tr
	}
	a, b := sharing(), sharing()
	steps := []struct {
		name   string
		do     func() error
		tokens int
	}{
		{"a", func() error { _, _, err := del(t, a, srv.URL); return err }, 1},
		{"b", func() error { _, _, err := del(t, b, srv.URL); return err }, 1},
		{"b rejected", func() error { // a revokes the token b holds too
			if err := a.Revoke(t.Context()); err != nil {
				return err
			}
			_, _, err := del(t, b, srv.URL)
			return err
		}, 2},
		{"b revoked", func() error { return b.Revoke(t.Context()) }, 2},
		{"a fresh", func() error { _, _, err := del(t, sharing(), srv.URL); return err }, 3},
		{"store gone", func() error {
			_ = os.RemoveAll(dir)
			_, _, err := del(t, sharing(), srv.URL)
			return err
		}, 4},
	}
	for _, s := range steps {
		if err := s.do(); err != nil || tokenRequests(srv) != s.tokens {
			t.Fatalf("%s: %v, %d token requests; want %d",
				s.name, err, tokenRequests(srv), s.tokens)
		}
	}
}
