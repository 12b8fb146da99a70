package atlastest

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"time"

	"golang.org/x/time/rate"

	"github.com/atlascontract/deleteorgapikey/internal/behavior"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

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

// client authenticates a service account by HTTP Basic, its id and secret
// form-encoded first (RFC 6749 section 2.3.1), without telling an unknown
// id from a wrong secret.
func (s *Server) client(r *http.Request) (*account, string) {
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
	sa, want := s.accounts[id], "\x00no such client" // compared anyway: no timing difference
	if sa != nil {
		want = sa.secret
	}
	if subtle.ConstantTimeCompare([]byte(secret), []byte(want)) != 1 || sa == nil {
		return nil, "Client authentication failed: the client id or secret is wrong."
	}
	return sa, ""
}

// serveOAuth serves the token endpoint (RFC 6749 client credentials) or,
// with f the revocation endpoint's faults, revocation (RFC 7009), in order:
// POST, the client's credentials, faults, the token limit (the client's
// bucket: a wrong secret spends nobody's; revocation is not limited), a
// form-encoded body with each parameter at most once (RFC 6749 section
// 3.1), then the grant or the token to revoke.
func (s *Server) serveOAuth(x *exchange, r *http.Request, f *Faults) {
	if r.Method != http.MethodPost {
		x.Header().Set("Allow", http.MethodPost)
		oauthError(x, http.StatusMethodNotAllowed, "invalid_request", "Use POST.")
		return
	}
	sa, detail := s.client(r)
	if sa == nil {
		oauthError(x, http.StatusUnauthorized, "invalid_client", detail)
		return
	}
	fail, retryAfter := f.apply(x, r)
	issue, now := f == s.token, s.cfg.now()
	h, ok := limits(s.cfg.tokens, sa.limiter, now, issue && fail == "")
	if issue {
		maps.Copy(x.Header(), h)
	}
	params := []any{r.URL.Path, s.cfg.tokens.Capacity, int(s.cfg.tokens.Period / time.Minute)} // Atlas's token 429's
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case fail == behavior.TokenRateLimited:
		s.write(x, s.injected(fail, h, retryAfter, params...))
		return
	case fail != "":
		s.write(x, s.injected(fail, h, retryAfter))
		return
	case !ok:
		s.write(x, s.answer(behavior.TokenRateLimited, h, params...))
		return
	case mt != "application/x-www-form-urlencoded":
		oauthError(x, http.StatusBadRequest, "invalid_request", "Form-encoded body required: send Content-Type application/x-www-form-urlencoded.")
		return
	}
	r.Body = http.MaxBytesReader(x, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		oauthError(x, http.StatusBadRequest, "invalid_request", "The form does not parse, or is over 64 KB.")
		return
	}
	for _, k := range slices.Sorted(maps.Keys(r.Form)) { // query and body
		if len(r.Form[k]) > 1 {
			oauthError(x, http.StatusBadRequest, "invalid_request", fmt.Sprintf("Parameter %.40q is sent more than once.", k))
			return
		}
	}
	x.Header().Set("Cache-Control", "no-store") // RFC 6749 section 5.1 and RFC 7009
	a := &s.auth
	if !issue { // revoke the client's own token; 200 whether or not it was live
		if r.PostForm.Get("token") == "" {
			oauthError(x, http.StatusBadRequest, "invalid_request", "token is required.")
			return
		}
		sum := sha256.Sum256([]byte(r.PostForm.Get("token")))
		a.mu.Lock()
		if t := a.tokens[sum]; t != nil && t.account == sa {
			delete(a.tokens, sum)
		}
		a.mu.Unlock()
		x.WriteHeader(http.StatusOK)
		return
	}
	switch r.PostForm.Get("grant_type") {
	case "client_credentials":
	case "":
		oauthError(x, http.StatusBadRequest, "invalid_request", "grant_type is required.") // RFC 6749 section 5.2
		return
	default:
		oauthError(x, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be client_credentials.")
		return
	}
	tok := rand.Text() + rand.Text()
	sum := sha256.Sum256([]byte(tok))
	a.mu.Lock()
	purge(a.tokens, &a.tokPurge, func(t *token) bool { return !now.Before(t.expires) })
	a.tokens[sum] = &token{account: sa, expires: now.Add(tokenTTL)}
	a.mu.Unlock()
	x.Header().Set("Content-Type", "application/json")
	x.Header().Set("Pragma", "no-cache")
	_ = json.NewEncoder(x).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": int(tokenTTL.Seconds())})
}
