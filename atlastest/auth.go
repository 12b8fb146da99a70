package atlastest

import (
	"cmp"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/icholy/digest"

	"github.com/atlascontract/deleteorgapikey/internal/behavior"
)

// Realm is the digest and Bearer realm, the one Atlas uses.
const Realm = "MMS Public API"

// caller is who an authenticated request acts for.
type caller struct {
	org   *org
	owner bool // Organization Owner
}

type authFailure struct {
	detail          string // why, for Request.AuthError
	stale, badToken bool   // the digest client needs only a new nonce; a Bearer token was refused
}

// authState holds the nonces and tokens issued (tokens by SHA-256, so that
// lookups leak no timing about them), each map purged as doc.go says.
type authState struct {
	nonceKey                [32]byte // HMAC key: the server knows its nonces without storing them
	mu                      sync.Mutex
	nonces, tokens          map[string]*issued
	noncesPurge, tokenPurge int // the sizes at which the maps are purged next
}

// issued is a nonce, with its nc window, or a token, with its account.
type issued struct {
	expires time.Time
	window  *ncWindow
	account *credential
}

const (
	maxTracked = 1 << 16
	tokenTTL   = time.Hour // as on Atlas
)

// track adds v to m, first purging m if it has grown to *at: amortized O(1).
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

// ncWindow is one nonce's replay protection: the highest nc seen and a bit
// for each of the ncWindowSize values up to it, so that requests sharing a
// nonce may arrive out of order, but none twice. An nc below the window
// cannot be told fresh: the client is asked for a new nonce (stale).
type ncWindow struct {
	max  uint32
	seen [ncWindowSize / 64]uint64 // bit nc%ncWindowSize
}

const ncWindowSize = 1024

func (w *ncWindow) use(nc uint32) (fresh, stale bool) {
	word, bit := nc/64%(ncWindowSize/64), uint64(1)<<(nc%64)
	switch {
	case nc == 0:
		return false, false
	case nc > w.max:
		for v := nc - 1; v > w.max && nc-v < ncWindowSize; v-- { // slots that now stand for unseen values
			w.seen[v/64%(ncWindowSize/64)] &^= 1 << (v % 64)
		}
		w.max = nc
	case w.max-nc >= ncWindowSize:
		return false, true
	case w.seen[word]&bit != 0:
		return false, false
	}
	w.seen[word] |= bit
	return true, false
}

// unauthorized is Atlas's 401: a digest challenge per algorithm whatever was
// wrong (recorded), then a Bearer challenge WithBearerChallenge, with
// error="invalid_token" when a token was refused.
func (s *Server) unauthorized(f *authFailure) answer {
	h := http.Header{behavior.WWWAuthenticate: s.digestChallenges(f.stale)}
	if s.cfg.bearerChallenge {
		c := fmt.Sprintf("Bearer realm=%q", Realm)
		if f.badToken {
			c += fmt.Sprintf(`, error="invalid_token", error_description=%q`, f.detail)
		}
		h.Add(behavior.WWWAuthenticate, c)
	}
	return s.answer(behavior.Unauthenticated, h)
}

func (s *Server) authenticate(r *http.Request) (*caller, *authFailure) {
	hs := r.Header.Values("Authorization")
	if len(hs) != 1 {
		detail := "This request requires authentication: HTTP Digest with an API key, or a service account's Bearer token."
		if len(hs) > 1 {
			detail = "More than one Authorization header."
		}
		return nil, &authFailure{detail: detail}
	}
	scheme, rest, _ := strings.Cut(hs[0], " ")
	switch strings.ToLower(scheme) {
	case "digest":
		return s.verifyDigest(r, hs[0])
	case "bearer":
		return s.verifyBearer(strings.TrimSpace(rest))
	}
	return nil, &authFailure{detail: fmt.Sprintf("Authorization scheme %.20q is not accepted: use Digest or Bearer.", scheme)}
}

func tokenKey(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return string(sum[:])
}

func (s *Server) verifyBearer(tok string) (*caller, *authFailure) {
	s.auth.mu.Lock()
	t := s.auth.tokens[tokenKey(tok)]
	s.auth.mu.Unlock()
	switch {
	case t == nil:
		return nil, &authFailure{detail: "The access token is unknown or revoked.", badToken: true}
	case !s.cfg.now().Before(t.expires):
		return nil, &authFailure{detail: "The access token has expired.", badToken: true}
	}
	return &t.account.caller, nil
}

// digestChallenges issues a nonce of 32 base64 characters as Atlas's (12
// random bytes, then their HMAC cut to 12) and words a challenge for each
// algorithm as Atlas words its one (recorded, testdata/atlas/unauthenticated.http):
// the same parameters in the same order, an empty domain, stale written out,
// no opaque.
func (s *Server) digestChallenges(stale bool) []string {
	var b [24]byte
	_, _ = rand.Read(b[:12])
	copy(b[12:], s.nonceMAC(b[:]))
	nonce, now := base64.StdEncoding.EncodeToString(b[:]), s.cfg.now()
	s.auth.mu.Lock()
	track(s.auth.nonces, &s.auth.noncesPurge, nonce, &issued{expires: now.Add(s.cfg.nonceTTL), window: &ncWindow{}}, now)
	s.auth.mu.Unlock()
	var out []string
	for _, alg := range s.cfg.algs {
		out = append(out, fmt.Sprintf(`Digest realm=%q, domain="", nonce=%q, algorithm=%s, qop="auth", stale=%t`, Realm, nonce, alg, stale))
	}
	return out
}

func (s *Server) nonceMAC(nonce []byte) []byte {
	mac := hmac.New(sha256.New, s.auth.nonceKey[:])
	mac.Write(nonce[:12])
	return mac.Sum(nil)[:12]
}

// verifyDigest checks RFC 7616 credentials with qop=auth: realm, algorithm,
// uri, that the nonce is ours, the response hash, then the nonce's age and
// the nc, which only ask for a new nonce. Atlas sends no opaque, nor do we.
func (s *Server) verifyDigest(r *http.Request, header string) (*caller, *authFailure) {
	fail := func(stale bool, format string, args ...any) (*caller, *authFailure) {
		return nil, &authFailure{detail: "Digest authentication failed: " + fmt.Sprintf(format, args...), stale: stale}
	}
	c, err := digest.ParseCredentials(header)
	if err != nil {
		return fail(false, "malformed credentials.")
	}
	alg := strings.ToUpper(cmp.Or(c.Algorithm, "MD5")) // RFC 7616 section 3.4.2: none means MD5
	switch nonce, err := base64.StdEncoding.DecodeString(c.Nonce); {
	case c.Realm != Realm:
		return fail(false, "realm must be %q.", Realm)
	case !slices.Contains(s.cfg.algs, alg):
		return fail(false, "algorithm %.20q is not offered.", c.Algorithm)
	case c.QOP != "auth" || c.Cnonce == "" || c.Nc <= 0 || c.Userhash:
		return fail(false, "qop must be auth, with cnonce and nc.")
	case c.URI != r.RequestURI && c.URI != r.URL.RequestURI():
		return fail(false, "uri does not match the request.")
	case err != nil || len(nonce) != 24 || !hmac.Equal(s.nonceMAC(nonce), nonce[12:]):
		return fail(false, "nonce was not issued by this server.")
	}
	cred, pass := s.keys[c.Username], "\x00no such key" // hashed anyway: no timing difference
	if cred != nil && s.HasKey(cred.keyID) {
		pass = cred.secret
	} else {
		cred = nil // a deleted key's credentials went with it
	}
	want, err := digest.Digest(&digest.Challenge{Realm: Realm, Nonce: c.Nonce, Algorithm: alg, QOP: []string{"auth"}},
		digest.Options{Method: r.Method, URI: c.URI, Count: c.Nc, Cnonce: c.Cnonce, Username: c.Username, Password: pass})
	if err != nil || subtle.ConstantTimeCompare([]byte(want.Response), []byte(c.Response)) != 1 || cred == nil {
		return fail(false, "wrong username or password.")
	}
	s.auth.mu.Lock()
	n, fresh, stale := s.auth.nonces[c.Nonce], false, false
	if n != nil {
		fresh, stale = n.window.use(uint32(c.Nc))
	}
	s.auth.mu.Unlock()
	switch {
	case n == nil:
		return fail(true, "the nonce is no longer tracked.")
	case !s.cfg.now().Before(n.expires):
		return fail(true, "the nonce has expired.")
	case stale:
		return fail(true, "nonce count %08x is too far behind; use the new nonce.", c.Nc)
	case !fresh:
		return fail(false, "nonce count %08x was already used with this nonce.", c.Nc)
	}
	return &cred.caller, nil
}

func oauthError(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Content-Type", "application/json")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf("Basic realm=%q", Realm))
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": description})
}

// client authenticates a service account by HTTP Basic, its id and secret
// form-encoded first (RFC 6749 section 2.3.1), never telling an unknown id
// from a wrong secret.
func (s *Server) client(r *http.Request) (*credential, string) {
	id, secret, ok := r.BasicAuth()
	if !ok {
		return nil, "Client authentication failed: send the client id and secret in HTTP Basic."
	}
	for _, v := range []*string{&id, &secret} {
		if u, err := url.QueryUnescape(*v); err == nil {
			*v = u
		}
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
// POST, the client's credentials, faults, the client's token bucket (not
// spent by revocation), a form-encoded body with each parameter at most
// once (RFC 6749 section 3.1), then the token to revoke or the grant.
func (s *Server) serveOAuth(x *exchange, r *http.Request, f *Faults) {
	x.Header().Set("Cache-Control", "no-store") // RFC 6749 section 5.1 and RFC 7009
	sa, detail := s.client(r)
	switch {
	case r.Method != http.MethodPost:
		x.Header().Set("Allow", http.MethodPost)
		oauthError(x, http.StatusMethodNotAllowed, "invalid_request", "Use POST.")
		return
	case sa == nil:
		oauthError(x, http.StatusUnauthorized, "invalid_client", detail)
		return
	}
	x.caller = &sa.caller
	fail, retryAfter := f.apply(x, r)
	h, ok := limits(s.cfg.tokens, sa.limiter, s.cfg.now(), f == s.token && fail == "")
	if f == s.token {
		maps.Copy(x.Header(), h)
	}
	r.Body = http.MaxBytesReader(x, r.Body, 64<<10)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	bad := func(desc string) { oauthError(x, http.StatusBadRequest, "invalid_request", desc) }
	switch {
	case fail != "":
		s.write(x, s.injected(fail, h, retryAfter, s.params(fail, r.URL.Path, "", "")...))
	case !ok:
		s.write(x, s.answer(behavior.TokenRateLimited, h, s.params(behavior.TokenRateLimited, r.URL.Path, "", "")...))
	case mt != "application/x-www-form-urlencoded":
		bad("Form-encoded body required: send Content-Type application/x-www-form-urlencoded.")
	case r.ParseForm() != nil:
		bad("The form does not parse, or is over 64 KB.")
	case repeated(r.Form) != "": // query and body
		bad(fmt.Sprintf("Parameter %.40q is sent more than once.", repeated(r.Form)))
	case f == s.revoke && r.PostForm.Get("token") == "":
		bad("token is required.")
	case f == s.revoke: // the client's own token; 200 whether or not it was live
		key := tokenKey(r.PostForm.Get("token"))
		s.auth.mu.Lock()
		if t := s.auth.tokens[key]; t != nil && t.account == sa {
			delete(s.auth.tokens, key)
		}
		s.auth.mu.Unlock()
		x.WriteHeader(http.StatusOK)
	case r.PostForm.Get("grant_type") == "":
		bad("grant_type is required.") // RFC 6749 section 5.2
	case r.PostForm.Get("grant_type") != "client_credentials":
		oauthError(x, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be client_credentials.")
	default:
		tok, now := rand.Text()+rand.Text(), s.cfg.now()
		x.TokenIssued = true
		s.auth.mu.Lock()
		track(s.auth.tokens, &s.auth.tokenPurge, tokenKey(tok), &issued{expires: now.Add(tokenTTL), account: sa}, now)
		s.auth.mu.Unlock()
		x.Header().Set("Content-Type", "application/json")
		x.Header().Set("Pragma", "no-cache")
		_ = json.NewEncoder(x).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": int(tokenTTL.Seconds())})
	}
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
