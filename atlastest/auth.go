package atlastest

import (
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/icholy/digest"

	"github.com/atlascontract/deleteorgapikey/internal/behavior"
)

// realm is the digest realm, the one Atlas uses.
const realm = "MMS Public API"

// authFailure says why a request did not authenticate.
type authFailure struct {
	detail string // for Request.AuthError
	stale  bool   // the digest client needs only a new nonce
}

// authState holds the nonces and tokens issued, each map purged as doc.go says.
type authState struct {
	mu                      sync.Mutex
	nonces, tokens          map[string]*issued
	noncesPurge, tokenPurge int // the sizes at which the maps are purged next
}

// issued is a nonce, or a token with its account.
type issued struct {
	expires time.Time
	account *credential
}

const (
	maxTracked = 1 << 16
	tokenTTL   = time.Hour // as on Atlas
	nonceTTL   = 5 * time.Minute
)

// track adds v to m, first purging m if it has grown to *at: amortized
// O(1). Expired entries go first; past maxTracked/2 arbitrary ones too.
func track(m map[string]*issued, at *int, k string, v *issued, now time.Time) {
	if len(m) >= *at {
		for k, v := range m {
			if !now.Before(v.expires) || len(m) > maxTracked/2 {
				delete(m, k)
			}
		}
		*at = min(maxTracked, max(1024, 2*len(m)))
	}
	m[k] = v
}

// authenticated authenticates the request, or answers it with Atlas's 401.
func (s *Server) authenticated(x *exchange, r *http.Request) bool {
	who, fail := s.authenticate(r)
	if fail != nil {
		x.AuthError = fail.detail
		s.write(x, behavior.Unauthenticated,
			http.Header{behavior.WWWAuthenticate: {s.digestChallenge(fail.stale)}})
		return false
	}
	x.who, x.Principal = who, who.name
	return true
}

func (s *Server) authenticate(r *http.Request) (*principal, *authFailure) {
	header := r.Header.Get("Authorization")
	scheme, rest, _ := strings.Cut(header, " ")
	switch strings.ToLower(scheme) {
	case "digest":
		return s.verifyDigest(r, header)
	case "bearer":
		return s.verifyBearer(strings.TrimSpace(rest))
	case "":
		return nil, &authFailure{detail: "This request requires authentication: " +
			"HTTP Digest with an API key, or a service account's Bearer token."}
	}
	return nil, &authFailure{detail: fmt.Sprintf(
		"Authorization scheme %.20q is not accepted: use Digest or Bearer.", scheme)}
}

func (s *Server) verifyBearer(tok string) (*principal, *authFailure) {
	s.auth.mu.Lock()
	t := s.auth.tokens[tok]
	s.auth.mu.Unlock()
	switch {
	case t == nil:
		return nil, &authFailure{detail: "The access token is unknown or revoked."}
	case !s.cfg.now().Before(t.expires):
		return nil, &authFailure{detail: "The access token has expired."}
	}
	return t.account.who, nil
}

// digestChallenge issues a nonce of 32 base64 characters, as Atlas's, and
// words the challenge as Atlas does (recorded,
// testdata/atlas/unauthenticated.http): MD5 alone, the same parameters in
// the same order, an empty domain, stale written out, no opaque.
func (s *Server) digestChallenge(stale bool) string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	nonce, now := base64.StdEncoding.EncodeToString(b[:]), s.cfg.now()
	s.auth.mu.Lock()
	track(s.auth.nonces, &s.auth.noncesPurge, nonce, &issued{expires: now.Add(nonceTTL)}, now)
	s.auth.mu.Unlock()
	return fmt.Sprintf(`Digest realm=%q, domain="", nonce=%q, algorithm=MD5, qop="auth", stale=%t`,
		realm, nonce, stale)
}

// verifyDigest checks RFC 7616 credentials with qop=auth: realm, algorithm,
// uri, the response hash, then the nonce, which a client renews on
// stale=true. Atlas sends no opaque, nor does this server.
func (s *Server) verifyDigest(r *http.Request, header string) (*principal, *authFailure) {
	fail := func(stale bool, format string, args ...any) (*principal, *authFailure) {
		detail := "Digest authentication failed: " + fmt.Sprintf(format, args...)
		return nil, &authFailure{detail: detail, stale: stale}
	}
	c, err := digest.ParseCredentials(header)
	if err != nil {
		return fail(false, "malformed credentials.")
	}
	alg := strings.ToUpper(cmp.Or(c.Algorithm, "MD5")) // RFC 7616 section 3.4.2: none means MD5
	switch {
	case c.Realm != realm:
		return fail(false, "realm must be %q.", realm)
	case alg != "MD5":
		return fail(false, "algorithm %.20q is not offered.", c.Algorithm)
	case c.QOP != "auth" || c.Cnonce == "" || c.Nc <= 0:
		return fail(false, "qop must be auth, with cnonce and nc.")
	case c.URI != r.RequestURI && c.URI != r.URL.RequestURI():
		return fail(false, "uri does not match the request.")
	}
	cred := s.keys[c.Username]
	if cred == nil || !s.HasKey(cred.keyID) { // a deleted key's credentials went with it
		return fail(false, "wrong username or password.")
	}
	ch := &digest.Challenge{Realm: realm, Nonce: c.Nonce, Algorithm: alg, QOP: []string{"auth"}}
	want, err := digest.Digest(ch, digest.Options{Method: r.Method, URI: c.URI, Count: c.Nc,
		Cnonce: c.Cnonce, Username: c.Username, Password: cred.secret})
	if err != nil || want.Response != c.Response {
		return fail(false, "wrong username or password.")
	}
	s.auth.mu.Lock()
	n := s.auth.nonces[c.Nonce]
	s.auth.mu.Unlock()
	switch {
	case n == nil:
		return fail(true, "the nonce is not one this server tracks.")
	case !s.cfg.now().Before(n.expires):
		return fail(true, "the nonce has expired.")
	}
	return cred.who, nil
}

// oauthError writes an OAuth2 error body as Atlas's token endpoint does,
// error_description first (Atlas's docs).
func oauthError(x *exchange, status int, code, description string) {
	x.Header().Set("Content-Type", "application/json")
	if status == http.StatusUnauthorized { // RFC 6749 section 5.2: the client used HTTP Basic
		x.Header().Set("WWW-Authenticate", fmt.Sprintf("Basic realm=%q", realm))
	}
	x.WriteHeader(status)
	b, _ := json.Marshal(struct {
		Description string `json:"error_description"`
		Error       string `json:"error"`
	}{description, code})
	_, _ = x.Write(b)
}

// serveOAuth serves the token endpoint (RFC 6749 client credentials) or
// revocation (RFC 7009), in order: the client's credentials in HTTP Basic,
// then for a token faults, the client's token bucket and the grant, for a
// revocation the token. The credentials are the raw id:secret, as Atlas
// reads them: no form-URL-decoding (MongoDB's own clients send them raw).
func (s *Server) serveOAuth(x *exchange, r *http.Request, revoke bool) {
	x.Header().Set("Cache-Control", "no-store") // RFC 6749 section 5.1 and RFC 7009
	id, secret, basic := r.BasicAuth()
	sa := s.accounts[id]
	switch {
	case !basic:
		oauthError(x, http.StatusUnauthorized, "invalid_client",
			"Client authentication failed: send the client id and secret in HTTP Basic.")
		return
	case sa == nil || secret != sa.secret:
		oauthError(x, http.StatusUnauthorized, "invalid_client", "Invalid credentials provided.")
		return
	}
	x.Principal = sa.who.name
	form := r.Method == http.MethodPost && r.ParseForm() == nil // a body of at most 10 MB
	// RFC 6749 section 3.1: a parameter sent twice is an error, not a guess.
	if name := repeated(r.Form); name != "" {
		oauthError(x, http.StatusBadRequest, "invalid_request",
			fmt.Sprintf("Parameter %.40q is sent more than once.", name))
		return
	}
	faults := s.token
	if revoke {
		faults = s.revoke
	}
	// Revocation answers faults but spends nothing from the client's bucket.
	fail, wait := faults.apply(x, r)
	h, wait := s.limits(s.cfg.tokens, sa.limiter, !revoke && fail == "", wait)
	maps.Copy(x.Header(), h)
	limited := []any{r.URL.Path, s.cfg.tokens.Capacity, int(s.cfg.tokens.Period / time.Minute)}
	switch grant := r.PostForm.Get("grant_type"); {
	case fail == behavior.ServerError:
		s.write(x, fail, h)
	case fail != "" || wait >= 0:
		s.write(x, behavior.TokenRateLimited, h, limited...)
	case revoke:
		s.revokeToken(x, sa, form && r.PostForm.Get("token") != "", r.PostForm.Get("token"))
	case !form || grant == "": // RFC 6749 section 5.2
		oauthError(x, http.StatusBadRequest, "invalid_request",
			"Send grant_type=client_credentials in a form-encoded POST body.")
	case grant != "client_credentials":
		oauthError(x, http.StatusBadRequest, "unsupported_grant_type",
			"grant_type must be client_credentials.")
	default:
		tok, now := rand.Text()+rand.Text(), s.cfg.now()
		s.auth.mu.Lock()
		t := &issued{expires: now.Add(tokenTTL), account: sa}
		track(s.auth.tokens, &s.auth.tokenPurge, tok, t, now)
		s.auth.mu.Unlock()
		x.TokenIssued = true
		x.Header().Set("Content-Type", "application/json")
		b, _ := json.Marshal(map[string]any{"access_token": tok, "token_type": "Bearer",
			"expires_in": int(tokenTTL.Seconds())})
		_, _ = x.Write(b)
	}
}

// revokeToken revokes the client's own token; it answers 200 whether or
// not the token was live, as RFC 7009 asks.
func (s *Server) revokeToken(x *exchange, sa *credential, ok bool, tok string) {
	if !ok {
		oauthError(x, http.StatusBadRequest, "invalid_request",
			"Send token=... in a form-encoded POST body.")
		return
	}
	s.auth.mu.Lock()
	if t := s.auth.tokens[tok]; t != nil && t.account == sa {
		delete(s.auth.tokens, tok)
	}
	s.auth.mu.Unlock()
	x.WriteHeader(http.StatusOK)
}

// repeated is the first parameter, by name, sent more than once.
func repeated(form url.Values) string {
	for _, k := range slices.Sorted(maps.Keys(form)) {
		if len(form[k]) > 1 {
			return k
		}
	}
	return ""
}
