package atlastest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
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

// authFailure says why a request is not authenticated.
type authFailure struct {
	detail   string
	stale    bool // the digest client only needs a new nonce
	badToken bool // a Bearer token was refused
}

// authState holds the nonces and tokens issued. Both maps are purged of
// expired entries whenever they have doubled, and past maxTracked lose
// arbitrary ones too (a forgotten nonce is answered stale=true, a
// forgotten token 401), so no flood of requests can grow memory.
type authState struct {
	nonceKey [32]byte // HMAC key: nonces carry their issue time, authenticated

	mu                   sync.Mutex
	nonces               map[string]*nonceState
	tokens               map[[32]byte]*token // by SHA-256 of the token: lookups leak no timing about it
	noncePurge, tokPurge int                 // the sizes at which the maps are purged next
}

const maxTracked = 1 << 16

type nonceState struct {
	window  ncWindow
	expires time.Time
}

type token struct {
	account *account
	expires time.Time
}

// purge drops m's expired entries once m has grown to *at, and arbitrary
// ones while over half of maxTracked, then sets *at: amortized O(1) a call.
func purge[K comparable, V any](m map[K]V, at *int, expired func(V) bool) {
	if len(m) < *at {
		return
	}
	for k, v := range m {
		if expired(v) || len(m) > maxTracked/2 {
			delete(m, k)
		}
	}
	*at = min(maxTracked, max(1024, 2*len(m)))
}

// ncWindow is replay protection for one nonce: the highest nc seen and one
// bit for each of the ncWindowSize values at and below it, so requests
// sharing a nonce may arrive out of order (many in flight) but none twice.
type ncWindow struct {
	max  uint32
	seen [ncWindowSize / 64]uint64 // bit nc%ncWindowSize
}

const ncWindowSize = 1024

type ncVerdict int

const (
	ncFresh  ncVerdict = iota
	ncReplay           // seen before, or 0: refuse
	ncTooOld           // below the window: cannot tell, so ask for a new nonce
)

func (w *ncWindow) use(nc uint32) ncVerdict {
	word, bit := nc/64%(ncWindowSize/64), uint64(1)<<(nc%64)
	switch {
	case nc == 0:
		return ncReplay
	case nc > w.max:
		for v := nc - 1; v > w.max && nc-v < ncWindowSize; v-- { // slots that now stand for unseen values
			w.seen[v/64%(ncWindowSize/64)] &^= 1 << (v % 64)
		}
		w.max = nc
	case w.max-nc >= ncWindowSize:
		return ncTooOld
	case w.seen[word]&bit != 0:
		return ncReplay
	}
	w.seen[word] |= bit
	return ncFresh
}

// unauthorized is Atlas's 401. Every 401 recorded from Atlas carries one
// digest challenge per algorithm (one, MD5, by default) whatever was wrong;
// a Bearer challenge follows only WithBearerChallenge, with
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

func (s *Server) verifyBearer(tok string) (*caller, *authFailure) {
	sum := sha256.Sum256([]byte(tok))
	s.auth.mu.Lock()
	t := s.auth.tokens[sum]
	s.auth.mu.Unlock()
	switch {
	case t == nil:
		return nil, &authFailure{detail: "The access token is unknown or revoked.", badToken: true}
	case !s.cfg.now().Before(t.expires):
		return nil, &authFailure{detail: "The access token has expired.", badToken: true}
	}
	return &t.account.caller, nil
}

// Nonces are base64 of 24 bytes, 32 characters like Atlas's: the issue
// time in unix nanos (8 bytes), 4 random bytes, and an HMAC-SHA-256 of
// both cut to 12 bytes, so that the server can tell its own nonces and
// their age without storing them.
const (
	nonceData = 12
	nonceLen  = 24
)

// digestChallenges issues a nonce and returns one challenge per algorithm,
// worded as Atlas words its one MD5 challenge (recorded,
// testdata/atlas/unauthenticated.http): the same parameters in the same
// order, an empty domain, stale written out, no opaque.
func (s *Server) digestChallenges(stale bool) []string {
	now := s.cfg.now()
	var b [nonceLen]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixNano()))
	_, _ = rand.Read(b[8:nonceData])
	copy(b[nonceData:], s.nonceMAC(b[:nonceData]))
	nonce := base64.StdEncoding.EncodeToString(b[:])

	a := &s.auth
	a.mu.Lock()
	purge(a.nonces, &a.noncePurge, func(n *nonceState) bool { return !now.Before(n.expires) })
	a.nonces[nonce] = &nonceState{expires: now.Add(s.cfg.nonceTTL)}
	a.mu.Unlock()

	out := make([]string, 0, len(s.cfg.algs))
	for _, alg := range s.cfg.algs {
		out = append(out, fmt.Sprintf(`Digest realm=%q, domain="", nonce=%q, algorithm=%s, qop="auth", stale=%t`, Realm, nonce, alg, stale))
	}
	return out
}

// nonceIssued authenticates a nonce and returns when it was issued.
func (s *Server) nonceIssued(n string) (time.Time, bool) {
	b, err := base64.StdEncoding.DecodeString(n)
	if err != nil || len(b) != nonceLen {
		return time.Time{}, false
	}
	if !hmac.Equal(s.nonceMAC(b[:nonceData]), b[nonceData:]) {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(b[:8]))), true
}

func (s *Server) nonceMAC(data []byte) []byte {
	mac := hmac.New(sha256.New, s.auth.nonceKey[:])
	mac.Write(data)
	return mac.Sum(nil)[:nonceLen-nonceData]
}

// verifyDigest checks RFC 7616 credentials with qop=auth: realm,
// algorithm, uri, nonce authenticity, the response hash, nonce age and the
// nc value's freshness, in that order. No opaque is issued (Atlas sends
// none), so none is checked.
func (s *Server) verifyDigest(r *http.Request, header string) (*caller, *authFailure) {
	fail := func(format string, args ...any) (*caller, *authFailure) {
		return nil, &authFailure{detail: "Digest authentication failed: " + fmt.Sprintf(format, args...)}
	}
	c, err := digest.ParseCredentials(header)
	if err != nil {
		return fail("malformed credentials.")
	}
	if c.Realm != Realm {
		return fail("realm must be %q.", Realm)
	}
	alg := strings.ToUpper(c.Algorithm)
	if alg == "" {
		alg = "MD5" // RFC 7616 section 3.4.2: no algorithm means MD5
	}
	switch {
	case !slices.Contains(s.cfg.algs, alg):
		return fail("algorithm %.20q is not offered.", c.Algorithm)
	case c.QOP != "auth" || c.Cnonce == "" || c.Nc <= 0 || c.Userhash:
		return fail("qop must be auth, with cnonce and nc.")
	case c.URI != r.RequestURI && c.URI != r.URL.RequestURI():
		return fail("uri does not match the request.")
	}
	issued, ok := s.nonceIssued(c.Nonce)
	if !ok {
		return fail("nonce was not issued by this server.")
	}

	cred, pass := s.creds[c.Username], "\x00no such key" // hashed anyway: no timing difference
	if cred != nil && s.HasKey(cred.keyID) {
		pass = cred.private
	} else {
		cred = nil // a deleted key's credentials went with it
	}
	want, err := digest.Digest(&digest.Challenge{Realm: Realm, Nonce: c.Nonce, Algorithm: alg, QOP: []string{"auth"}},
		digest.Options{Method: r.Method, URI: c.URI, Count: c.Nc, Cnonce: c.Cnonce, Username: c.Username, Password: pass})
	if err != nil || subtle.ConstantTimeCompare([]byte(want.Response), []byte(c.Response)) != 1 || cred == nil {
		return fail("wrong username or password.")
	}
	// The hash is right: from here on the client only needs a new nonce.
	stale := func(detail string) (*caller, *authFailure) {
		return nil, &authFailure{detail: "Digest authentication failed: " + detail, stale: true}
	}
	if s.cfg.now().Sub(issued) > s.cfg.nonceTTL {
		return stale("the nonce has expired.")
	}
	s.auth.mu.Lock()
	n := s.auth.nonces[c.Nonce]
	verdict := ncReplay
	if n != nil {
		verdict = n.window.use(uint32(c.Nc))
	}
	s.auth.mu.Unlock()
	switch {
	case n == nil:
		return stale("the nonce is no longer tracked.")
	case verdict == ncTooOld:
		return stale(fmt.Sprintf("nonce count %08x is too far behind; use the new nonce.", c.Nc))
	case verdict == ncReplay:
		return fail("nonce count %08x was already used with this nonce.", c.Nc)
	}
	return &cred.caller, nil
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
	var params []any // of Atlas's token 429
	if fail == behavior.TokenRateLimited || !ok {
		params = []any{r.URL.Path, s.cfg.tokens.Capacity, int(s.cfg.tokens.Period / time.Minute)}
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case fail != "":
		s.write(x, s.injected(fail, h, retryAfter, params...))
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
