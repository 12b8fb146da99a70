package authedit_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/atlascontract/deleteorgapikey/authedit"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

func saClient(t *testing.T, s *tokenServer, opts ...authedit.Option) *authedit.Client {
	t.Helper()
	c, err := authedit.NewClient(s.URL, s.account(), append(s.opts(), opts...)...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}

func TestBearerTokenReused(t *testing.T) {
	s := newTokenServer(t, nil)
	c := saClient(t, s)
	for i := range 5 {
		resp, err := c.DeleteOrgApiKeyWithResponse(t.Context(), orgID, keyID, nil)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if resp.StatusCode() != http.StatusNoContent {
			t.Fatalf("call %d: status %d, want 204", i, resp.StatusCode())
		}
	}
	if got := s.tokens.Load(); got != 1 {
		t.Errorf("token requests = %d, want 1 for 5 calls", got)
	}
	if got := s.api.Load(); got != 5 {
		t.Errorf("API requests = %d, want 5", got)
	}
}

// 64 cold calls, all waiting while the one token request is held: it is
// the only one, and every call uses its token.
func TestBearerColdClientFetchesOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hold := make(chan struct{})
		s := newTokenServer(t, func(s *tokenServer) { s.Pipe, s.Hold = true, hold })
		c := saClient(t, s)
		const n = 64
		done := make(chan []error)
		go func() { errs, _ := coldCalls(c, n); done <- errs }()
		synctest.Wait() // every call waits on the held token request
		if got := s.tokens.Load(); got != 1 {
			t.Errorf("token requests = %d while %d cold calls wait, want exactly 1", got, n)
		}
		close(hold)
		for _, err := range <-done {
			if err != nil {
				t.Fatal(err)
			}
		}
		if got := s.tokens.Load(); got != 1 {
			t.Errorf("token requests = %d from %d concurrent cold calls, want exactly 1", got, n)
		}
		if got := s.api.Load(); got != n {
			t.Errorf("API requests = %d, want %d", got, n)
		}
	})
}

func TestBearer401RefetchesOnceAndRetriesOnce(t *testing.T) {
	t.Run("recovers", func(t *testing.T) {
		s := newTokenServer(t, func(s *tokenServer) {
			s.API = func(auth string) int {
				if auth == "Bearer tok-1" { // the API has forgotten the first token
					return http.StatusUnauthorized
				}
				return http.StatusNoContent
			}
		})
		c := saClient(t, s)
		resp, err := c.DeleteOrgApiKeyWithResponse(t.Context(), orgID, keyID, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode() != http.StatusNoContent {
			t.Fatalf("status %d, want 204 after one refetch", resp.StatusCode())
		}
		if got := s.tokens.Load(); got != 2 {
			t.Errorf("token requests = %d, want 2", got)
		}
		if got := s.api.Load(); got != 2 {
			t.Errorf("API requests = %d, want 2", got)
		}
		if want := []string{"Bearer tok-1", "Bearer tok-2"}; !slices.Equal(s.authSeen(), want) {
			t.Errorf("Authorization sent = %q, want %q", s.authSeen(), want)
		}
	})
	t.Run("no loop", func(t *testing.T) {
		s := newTokenServer(t, func(s *tokenServer) {
			s.API = func(string) int { return http.StatusUnauthorized }
		})
		c := saClient(t, s)
		resp, err := c.DeleteOrgApiKeyWithResponse(t.Context(), orgID, keyID, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode() != http.StatusUnauthorized || resp.JSON401 == nil || resp.JSON401.ErrorCode != "TEST_401" {
			t.Fatalf("got status %d, JSON401 %+v; want the server's 401 with its body", resp.StatusCode(), resp.JSON401)
		}
		if got := s.tokens.Load(); got != 2 {
			t.Errorf("token requests = %d, want 2 (one refetch)", got)
		}
		if got := s.api.Load(); got != 2 {
			t.Errorf("API requests = %d, want 2 (one retry)", got)
		}
	})
	// 16 calls are rejected on tok-1: half while the refetch is in flight,
	// half once tok-2 is cached. Neither half may drop tok-2 or fetch again.
	t.Run("simultaneous 401s share one refetch", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			reject, holdTok2 := make(chan struct{}), make(chan struct{})
			var tokenReqs atomic.Int32
			s := newTokenServer(t, func(s *tokenServer) {
				s.Pipe = true
				s.API = func(auth string) int {
					if auth == "Bearer tok-1" {
						<-reject
						return http.StatusUnauthorized
					}
					return http.StatusNoContent
				}
			}, func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == contract.TokenPath() && tokenReqs.Add(1) == 2 {
						<-holdTok2
					}
					h.ServeHTTP(w, r)
				})
			})
			c := saClient(t, s)
			const n = 16
			done := make(chan []error)
			go func() { errs, _ := coldCalls(c, n); done <- errs }()
			synctest.Wait() // all n calls sent tok-1 and wait for its answer
			if got := s.api.Load(); got != n {
				t.Fatalf("API requests with tok-1 = %d, want %d", got, n)
			}
			for range n / 2 {
				reject <- struct{}{}
			}
			synctest.Wait() // half are rejected: one refetches, held; the rest wait on it
			if got := tokenReqs.Load(); got != 2 {
				t.Errorf("token requests = %d during the refetch, want 2", got)
			}
			close(holdTok2)
			synctest.Wait() // tok-2 is cached and used
			close(reject)   // the other half is rejected now
			for _, err := range <-done {
				if err != nil {
					t.Error(err)
				}
			}
			if got := s.tokens.Load(); got != 2 {
				t.Errorf("token requests = %d, want 2: every goroutine rejected with tok-1 must share the refetch", got)
			}
		})
	})
}

func TestBearerRetryReplaysBody(t *testing.T) {
	var bodies []string
	var mu sync.Mutex
	s := newTokenServer(t, func(s *tokenServer) {
		s.API = func(auth string) int {
			if auth == "Bearer tok-1" {
				return http.StatusUnauthorized
			}
			return http.StatusNoContent
		}
	}, func(h http.Handler) http.Handler {
		return wrapAPI(h, func(r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			bodies = append(bodies, string(b))
			mu.Unlock()
		})
	})
	tr, err := authedit.NewTransport(s.URL, s.account())
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL+"/api/atlas/v2/anything", strings.NewReader("payload"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d, want 204", resp.StatusCode)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(bodies, "|") != "payload|payload" {
		t.Errorf("bodies seen = %q, want the payload twice", bodies)
	}
}

// wrapAPI runs see on API requests before h.
func wrapAPI(h http.Handler, see func(*http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/atlas/") {
			see(r)
		}
		h.ServeHTTP(w, r)
	})
}

// The token is replaced a minute before it expires, or after 90% of a
// shorter lifetime, on the token cache's clock (moved, not waited for).
func TestBearerRefreshesBeforeExpiry(t *testing.T) {
	for _, tc := range []struct {
		expiresIn      int
		fresh, refetch time.Duration // clock moves: still fresh, then replaced
	}{
		{3600, 58 * time.Minute, 59*time.Minute + 10*time.Second},
		{100, 85 * time.Second, 95 * time.Second},
	} {
		t.Run(fmt.Sprint(tc.expiresIn), func(t *testing.T) {
			s := newTokenServer(t, func(s *tokenServer) { s.ExpiresIn = tc.expiresIn })
			clock := &fakeClock{now: time.Now()}
			c := saClient(t, s, authedit.WithClock(clock.Now, nil))
			call := func() {
				t.Helper()
				resp, err := c.DeleteOrgApiKeyWithResponse(t.Context(), orgID, keyID, nil)
				if err != nil || resp.StatusCode() != http.StatusNoContent {
					t.Fatalf("err %v resp %v", err, resp)
				}
			}
			call()
			clock.Advance(tc.fresh)
			call()
			if got := s.tokens.Load(); got != 1 {
				t.Fatalf("token requests = %d, want 1 while the token is fresh", got)
			}
			clock.Advance(tc.refetch - tc.fresh)
			call()
			if got := s.tokens.Load(); got != 2 {
				t.Errorf("token requests = %d, want 2 once the token is about to expire", got)
			}
		})
	}
}

func TestTokenRequestShape(t *testing.T) {
	var mu sync.Mutex
	var got http.Header
	var form string
	s := newTokenServer(t, nil, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == contract.TokenPath() {
				_ = r.ParseForm()
				mu.Lock()
				got, form = r.Header.Clone(), r.PostForm.Encode()
				mu.Unlock()
			}
			h.ServeHTTP(w, r)
		})
	})
	c := saClient(t, s)
	closeResp(t)(c.DeleteOrgApiKey(t.Context(), orgID, keyID, nil))
	mu.Lock()
	defer mu.Unlock()
	if form != "grant_type=client_credentials" {
		t.Errorf("token form = %q", form)
	}
	if ua := got.Get("User-Agent"); ua != authedit.UserAgent() {
		t.Errorf("token request User-Agent = %q, want %q", ua, authedit.UserAgent())
	}
	if !strings.HasPrefix(got.Get("Authorization"), "Basic ") {
		t.Errorf("token request Authorization = %q, want Basic", got.Get("Authorization"))
	}
}

func TestTokenFailureIsTyped(t *testing.T) {
	s := newTokenServer(t, nil)
	c, err := authedit.NewClient(s.URL, authedit.ServiceAccount{ClientID: s.ID, ClientSecret: "wrong-secret"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteOrgApiKeyWithResponse(t.Context(), orgID, keyID, nil)
	var te *authedit.TokenError
	if !errors.As(err, &te) {
		t.Fatalf("err = %v (%T), want *authedit.TokenError", err, err)
	}
	if te.Op != "token" || te.StatusCode != http.StatusUnauthorized || te.ErrorCode != "invalid_client" {
		t.Errorf("TokenError = %+v", te)
	}
	if got := s.api.Load(); got != 0 {
		t.Errorf("API requests = %d, want 0 without a token", got)
	}
}

func TestRevoke(t *testing.T) {
	s := newTokenServer(t, nil)
	c := saClient(t, s)
	if err := c.Revoke(t.Context()); err != nil {
		t.Fatalf("Revoke with no token cached: %v", err)
	}
	if got := s.revokedTokens(); len(got) != 0 {
		t.Fatalf("revoked %q with no token cached", got)
	}
	closeResp(t)(c.DeleteOrgApiKey(t.Context(), orgID, keyID, nil))
	if err := c.Revoke(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := s.revokedTokens(); !slices.Equal(got, []string{"tok-1"}) {
		t.Errorf("revoked = %q, want [tok-1]", got)
	}
	resp, err := c.DeleteOrgApiKeyWithResponse(t.Context(), orgID, keyID, nil)
	if err != nil || resp.StatusCode() != http.StatusNoContent {
		t.Fatalf("after revoke: err %v resp %v", err, resp)
	}
	if got := s.tokens.Load(); got != 2 {
		t.Errorf("token requests = %d, want 2 (a new token after revoking)", got)
	}
	if got := s.api.Load(); got != 2 {
		t.Errorf("API requests = %d, want 2 (the revoked token was not sent)", got)
	}

	bad, err := authedit.NewClient(s.URL, s.account())
	if err != nil {
		t.Fatal(err)
	}
	closeResp(t)(bad.DeleteOrgApiKey(t.Context(), orgID, keyID, nil))
	s.setSecret("rotated")
	var te *authedit.TokenError
	if err := bad.Revoke(t.Context()); !errors.As(err, &te) || te.Op != "revoke" || te.StatusCode != http.StatusUnauthorized {
		t.Errorf("Revoke with rotated secret: %v, want *TokenError revoke 401", err)
	}

	dc, err := authedit.NewClient(s.URL, authedit.APIKey{PublicKey: "pub", PrivateKey: "priv"})
	if err != nil {
		t.Fatal(err)
	}
	if err := dc.Revoke(t.Context()); !errors.Is(err, authedit.ErrNotServiceAccount) {
		t.Errorf("Revoke on API key client: %v, want ErrNotServiceAccount", err)
	}
}

// coldCalls makes n concurrent calls on a cold client and returns their
// errors (an answer other than 204 is one) and RetryInfos.
func coldCalls(c *authedit.Client, n int) ([]error, []authedit.RetryInfo) {
	errs := make([]error, n)
	infos := make([]authedit.RetryInfo, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			ctx := authedit.WithRetryInfo(context.Background(), &infos[i])
			resp, err := c.DeleteOrgApiKeyWithResponse(ctx, orgID, keyID, nil)
			if err == nil && resp.StatusCode() != http.StatusNoContent {
				err = errors.New(resp.Status())
			}
			errs[i] = err
		})
	}
	close(start)
	wg.Wait()
	return errs, infos
}

// A failed token fetch is shared with every goroutine that waited on it;
// a later call fetches again.
func TestBearerFailedFetchShared(t *testing.T) {
	const n = 64
	t.Run("wrong secret", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			hold := make(chan struct{})
			s := newTokenServer(t, func(s *tokenServer) { s.Pipe, s.Hold = true, hold })
			c, err := authedit.NewClient(s.URL, authedit.ServiceAccount{ClientID: s.ID, ClientSecret: "wrong-secret"}, s.opts()...)
			if err != nil {
				t.Fatal(err)
			}
			var errs []error
			var infos []authedit.RetryInfo
			done := make(chan struct{})
			go func() { errs, infos = coldCalls(c, n); close(done) }()
			synctest.Wait() // every call waits on the one token request, held
			close(hold)
			<-done
			for i, err := range errs {
				var te *authedit.TokenError
				if !errors.As(err, &te) || te.StatusCode != http.StatusUnauthorized || te.ErrorCode != "invalid_client" || infos[i].Attempts != 1 {
					t.Fatalf("call %d: %v after %+v, want *TokenError 401 invalid_client after 1 attempt", i, err, infos[i])
				}
			}
			if got := s.tokens.Load(); got != 1 {
				t.Errorf("token requests = %d from %d concurrent calls with a wrong secret, want exactly 1", got, n)
			}
			if got := s.api.Load(); got != 0 {
				t.Errorf("API requests = %d, want 0", got)
			}
			// The failure is not cached: the next call asks again.
			if _, err := c.DeleteOrgApiKeyWithResponse(t.Context(), orgID, keyID, nil); !errors.As(err, new(*authedit.TokenError)) {
				t.Errorf("later call: %v, want *TokenError", err)
			}
			if got := s.tokens.Load(); got != 2 {
				t.Errorf("token requests = %d after one more call, want 2", got)
			}
		})
	})
	t.Run("5xx with retries", func(t *testing.T) {
		// Every attempt is retried (a 503 may pass), so each of the 4
		// attempts costs one shared token request: 4 in all, not 4 per call.
		// Each is held until all calls wait on it.
		synctest.Test(t, func(t *testing.T) {
			hold := make(chan struct{})
			var tokens atomic.Int32
			s := newTokenServer(t, func(s *tokenServer) { s.Pipe = true }, func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path != contract.TokenPath() {
						h.ServeHTTP(w, r)
						return
					}
					tokens.Add(1)
					<-hold
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusServiceUnavailable)
					_, _ = io.WriteString(w, `{"error":"temporarily_unavailable"}`)
				})
			})
			var sl sleeps
			c := saClient(t, s, fast(4, &sl))
			var errs []error
			var infos []authedit.RetryInfo
			done := make(chan struct{})
			go func() { errs, infos = coldCalls(c, n); close(done) }()
			for i := range int32(4) {
				synctest.Wait() // every call waits on the token request of this attempt
				if got := tokens.Load(); got != i+1 {
					t.Errorf("attempt %d: %d token requests, want %d", i+1, got, i+1)
				}
				hold <- struct{}{}
			}
			synctest.Wait()
			select {
			case <-done:
			default:
				t.Error("calls still wait after 4 token requests")
				close(hold)
				<-done
			}
			for i, err := range errs {
				var te *authedit.TokenError
				if !errors.As(err, &te) || te.StatusCode != http.StatusServiceUnavailable || infos[i].Attempts != 4 {
					t.Fatalf("call %d: %v after %+v, want *TokenError 503 after 4 attempts", i, err, infos[i])
				}
			}
			if got := tokens.Load(); got != 4 {
				t.Errorf("token requests = %d from %d concurrent calls of 4 attempts each, want exactly 4 (one per attempt)", got, n)
			}
			if got := s.api.Load(); got != 0 {
				t.Errorf("API requests = %d, want 0", got)
			}
		})
	})
}
