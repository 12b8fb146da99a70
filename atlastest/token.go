package atlastest

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"time"

	"golang.org/x/time/rate"

	"github.com/atlascontract/deleteorgapikey/internal/behavior"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// The service-account endpoints: RFC 6749 client credentials and RFC 7009
// revocation, with Atlas's per-client limit on the token endpoint.

// WithTokenRateLimit lets each service account make n token requests per
// period (default: the spec's, as Atlas: 50 a minute), refilled evenly:
// after a burst of n, one more every per/n. per must be whole minutes, as
// Atlas's 429 counts in minutes.
func WithTokenRateLimit(n int, per time.Duration) Option {
	return func(c *config) {
		if n < 1 || per < time.Minute || per%time.Minute != 0 {
			panic(fmt.Sprintf("atlastest: WithTokenRateLimit(%d, %v): n must be positive and per whole minutes", n, per))
		}
		c.tokens = contract.Budget{Capacity: n, Refill: n, Period: per}
	}
}

// newLimiter is a full bucket holding b.
func newLimiter(b contract.Budget) *rate.Limiter {
	return rate.NewLimiter(rate.Every(b.Period/time.Duration(b.Refill)), b.Capacity)
}

func oauthError(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf("Basic realm=%q", Realm))
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": description})
}

// client authenticates a service account by HTTP Basic, whose id and secret
// are form-encoded first (RFC 6749 section 2.3.1); detail says why not,
// without telling an unknown id from a wrong secret.
func (s *Server) client(r *http.Request) (sa *serviceAccount, detail string) {
	id, secret, ok := r.BasicAuth()
	if !ok {
		return nil, "Client authentication failed: send the client id and secret in HTTP Basic."
	}
	if v, err := url.QueryUnescape(id); err == nil {
		id = v
	}
	if v, err := url.QueryUnescape(secret); err == nil {
		secret = v
	}
	sa = s.accounts[id]
	want := "\x00no such client" // compare anyway: no timing difference for unknown ids
	if sa != nil {
		want = sa.secret
	}
	if subtle.ConstantTimeCompare([]byte(secret), []byte(want)) != 1 || sa == nil {
		return nil, "Client authentication failed: the client id or secret is wrong."
	}
	return sa, ""
}

// serviceForm runs what both endpoints share, in order: POST, the client's
// credentials, the endpoint's faults, the token limit (token endpoint
// only: the client's bucket, so a wrong secret spends nobody's), and a
// form-encoded body with each parameter at most once (RFC 6749 section 3.1).
func (s *Server) serviceForm(x *exchange, r *http.Request, f *Faults) (*serviceAccount, url.Values) {
	if r.Method != http.MethodPost {
		x.Header().Set("Allow", http.MethodPost)
		oauthError(x, http.StatusMethodNotAllowed, "invalid_request", "Use POST.")
		return nil, nil
	}
	sa, detail := s.client(r)
	if sa == nil {
		oauthError(x, http.StatusUnauthorized, "invalid_client", detail)
		return nil, nil
	}
	fail, retryAfter := f.apply(x, r)
	limited := f == s.token
	h, ok := limits(s.cfg.tokens, sa.limiter, s.cfg.now(), limited && fail == "")
	if limited {
		maps.Copy(x.Header(), h)
	}
	var params []any // of Atlas's token 429
	if fail == behavior.TokenRateLimited || !ok {
		params = []any{r.URL.Path, s.cfg.tokens.Capacity, int(s.cfg.tokens.Period / time.Minute)}
	}
	switch {
	case fail != "":
		s.write(x, s.injected(fail, h, retryAfter, params...))
	case !ok:
		s.write(x, s.answer(behavior.TokenRateLimited, h, params...))
	case mediaType(r) != "application/x-www-form-urlencoded":
		oauthError(x, http.StatusBadRequest, "invalid_request", "Form-encoded body required: send Content-Type application/x-www-form-urlencoded.")
	default:
		r.Body = http.MaxBytesReader(x, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			oauthError(x, http.StatusBadRequest, "invalid_request", "The form does not parse, or is over 64 KB.")
			return nil, nil
		}
		for _, k := range slices.Sorted(maps.Keys(r.Form)) { // query and body
			if len(r.Form[k]) > 1 {
				oauthError(x, http.StatusBadRequest, "invalid_request", fmt.Sprintf("Parameter %.40q is sent more than once.", k))
				return nil, nil
			}
		}
		return sa, r.PostForm
	}
	return nil, nil
}

func mediaType(r *http.Request) string {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt
}

func (s *Server) serveToken(x *exchange, r *http.Request) {
	sa, form := s.serviceForm(x, r, s.token)
	if sa == nil {
		return
	}
	switch form.Get("grant_type") {
	case "client_credentials":
	case "":
		oauthError(x, http.StatusBadRequest, "invalid_request", "grant_type is required.") // RFC 6749 section 5.2
		return
	default:
		oauthError(x, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be client_credentials.")
		return
	}
	var raw [32]byte
	_, _ = rand.Read(raw[:])
	tok := base64.RawURLEncoding.EncodeToString(raw[:])
	sum := sha256.Sum256([]byte(tok))
	now := s.cfg.now()
	a := &s.auth
	a.mu.Lock()
	a.tokenQ.purge(now, func() bool { return len(a.tokens) >= maxTokens }, func(k [32]byte) { delete(a.tokens, k) })
	a.tokens[sum] = &token{account: sa, expires: now.Add(s.cfg.tokenTTL)}
	a.tokenQ.push(sum, now.Add(s.cfg.tokenTTL))
	a.mu.Unlock()

	x.Header().Set("Content-Type", "application/json")
	x.Header().Set("Cache-Control", "no-store") // RFC 6749 section 5.1: both
	x.Header().Set("Pragma", "no-cache")
	_ = json.NewEncoder(x).Encode(struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
	}{tok, "Bearer", int(math.Ceil(s.cfg.tokenTTL.Seconds()))})
}

// serveRevoke revokes a token of the authenticated client; like RFC 7009 it
// answers 200 whether or not the token was valid.
func (s *Server) serveRevoke(x *exchange, r *http.Request) {
	sa, form := s.serviceForm(x, r, s.revoke)
	if sa == nil {
		return
	}
	tok := form.Get("token")
	if tok == "" {
		oauthError(x, http.StatusBadRequest, "invalid_request", "token is required.")
		return
	}
	sum := sha256.Sum256([]byte(tok))
	a := &s.auth
	a.mu.Lock()
	if t := a.tokens[sum]; t != nil && t.account == sa {
		delete(a.tokens, sum)
		a.tokenQ.prune(len(a.tokens), func(k [32]byte) bool { return a.tokens[k] != nil })
	}
	a.mu.Unlock()
	x.Header().Set("Cache-Control", "no-store")
	x.WriteHeader(http.StatusOK)
}
