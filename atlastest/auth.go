package atlastest

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/icholy/digest"

	"github.com/atlascontract/deleteorgapikey/internal/behavior"
)

// Realm is the digest and Bearer realm, the one Atlas uses.
const Realm = "MMS Public API"

// maxNonces bounds the nonces tracked for nc replay protection. Every 401
// issues one; beyond the bound the oldest are forgotten, and a request still
// using a forgotten nonce is answered stale=true so the client takes a new one.
const maxNonces = 1 << 16

// maxTokens bounds the live service-account tokens: past it the oldest is
// dropped (and then answered 401), so token requests cannot grow memory.
const maxTokens = 1 << 16

// ncWindow is replay protection for one nonce: the highest nc seen and a
// ring of the ncWindowSize nc values at and below it, so requests sharing a
// nonce may arrive out of order (many in flight on a loaded machine) but
// none twice. 1024 bits cost 128 bytes a nonce.
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

func (w *ncWindow) bit(nc uint32) (word int, mask uint64) {
	i := nc % ncWindowSize
	return int(i / 64), 1 << (i % 64)
}

func (w *ncWindow) use(nc uint32) ncVerdict {
	if nc == 0 {
		return ncReplay
	}
	if nc > w.max {
		if nc-w.max >= ncWindowSize {
			w.seen = [ncWindowSize / 64]uint64{}
		} else {
			for v := w.max + 1; v < nc; v++ { // slots now standing for unseen values
				word, mask := w.bit(v)
				w.seen[word] &^= mask
			}
		}
		w.max = nc
		word, mask := w.bit(nc)
		w.seen[word] |= mask
		return ncFresh
	}
	if w.max-nc >= ncWindowSize {
		return ncTooOld
	}
	word, mask := w.bit(nc)
	if w.seen[word]&mask != 0 {
		return ncReplay
	}
	w.seen[word] |= mask
	return ncFresh
}

// expiryQueue holds keys in the order they expire (their TTL is fixed), so
// purging is amortized O(1) per entry and never scans a map.
type expiryQueue[K comparable] struct {
	items []expiring[K]
	head  int
}

type expiring[K comparable] struct {
	key K
	at  time.Time
}

func (q *expiryQueue[K]) push(k K, at time.Time) { q.items = append(q.items, expiring[K]{k, at}) }

// purge drops entries expired at now, and more while over says the store is
// too big, calling drop for each.
func (q *expiryQueue[K]) purge(now time.Time, over func() bool, drop func(K)) {
	for q.head < len(q.items) && (!q.items[q.head].at.After(now) || over()) {
		drop(q.items[q.head].key)
		q.items[q.head] = expiring[K]{}
		q.head++
	}
	if q.head > 1024 && q.head*2 > len(q.items) {
		q.items = append(q.items[:0], q.items[q.head:]...)
		q.head = 0
	}
}

// prune drops the entries of keys no longer live (revoked before they
// expired) once they outnumber the live ones: issue-and-revoke churn then
// keeps the queue within about twice the live keys, at amortized O(1).
func (q *expiryQueue[K]) prune(live int, isLive func(K) bool) {
	if len(q.items)-q.head < 2*live+64 {
		return
	}
	kept := q.items[:0]
	for _, e := range q.items[q.head:] {
		if isLive(e.key) {
			kept = append(kept, e)
		}
	}
	clear(q.items[len(kept):])
	q.items, q.head = kept, 0
}

type token struct {
	account *serviceAccount
	expires time.Time
}

type authState struct {
	nonceKey [32]byte // HMAC key: nonces carry their issue time, authenticated

	mu     sync.Mutex
	nonces map[string]*ncWindow
	nonceQ expiryQueue[string]
	tokens map[[32]byte]*token // by SHA-256 of the token: lookups leak no timing about the secret
	tokenQ expiryQueue[[32]byte]
}

func (a *authState) init() {
	_, _ = rand.Read(a.nonceKey[:])
	a.nonces = map[string]*ncWindow{}
	a.tokens = map[[32]byte]*token{}
}

func hashFor(alg string) func() hash.Hash {
	switch alg {
	case "SHA-256":
		return sha256.New
	case "MD5":
		return md5.New
	}
	return nil
}

func hexHash(newHash func() hash.Hash, parts ...string) string {
	h := newHash()
	h.Write([]byte(strings.Join(parts, ":")))
	return hex.EncodeToString(h.Sum(nil))
}

// caller is who an authenticated request acts for.
type caller struct {
	org   *org
	owner bool
}

// authFailure says why a request is not authenticated and which challenges
// to answer with; build it with refuse.
type authFailure struct {
	detail   string
	stale    bool // the digest challenges say stale=true
	badToken bool // a Bearer token was refused
}

// refuse is the failure for detail. Every 401 recorded from Atlas carries
// its one digest challenge and nothing else, so every 401 here does, whatever
// was wrong; a Bearer challenge is added only WithBearerChallenge,
// with error="invalid_token" when a token was refused.
func (s *Server) refuse(detail string, stale, badToken bool) *authFailure {
	return &authFailure{detail: detail, stale: stale, badToken: badToken}
}

// unauthorized is Atlas's 401 with the challenges f asks for.
func (s *Server) unauthorized(f *authFailure) answer {
	h := http.Header{behavior.WWWAuthenticate: s.digestChallenges(f.stale)}
	if s.cfg.bearerChallenge {
		c := fmt.Sprintf("Bearer realm=%q", Realm)
		if f.badToken {
			c += fmt.Sprintf(", error=\"invalid_token\", error_description=%q", f.detail)
		}
		h.Add(behavior.WWWAuthenticate, c)
	}
	return s.answer(behavior.Unauthenticated, h)
}

// WithBearerChallenge adds a Bearer challenge (RFC 6750) to every 401 after
// the digest one. Atlas sends none, and token clients need none: authedit
// takes any 401 on its token as a refused token and fetches a new one.
func WithBearerChallenge() Option { return func(c *config) { c.bearerChallenge = true } }

// WithClock replaces time.Now for everything in the server that expires or
// refills: nonces, tokens, the organizations' buckets and the token
// endpoint's limit, so a test can move time on instead of waiting.
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now == nil {
			panic("atlastest: WithClock(nil)")
		}
		c.now = now
	}
}

func (s *Server) authenticate(r *http.Request) (*caller, *authFailure) {
	hs := r.Header.Values("Authorization")
	if len(hs) == 0 {
		return nil, s.refuse("This request requires authentication: HTTP Digest with an API key, or a service account's Bearer token.", false, false)
	}
	if len(hs) > 1 {
		return nil, s.refuse("More than one Authorization header.", false, false)
	}
	scheme, rest, _ := strings.Cut(hs[0], " ")
	switch strings.ToLower(scheme) {
	case "digest":
		return s.verifyDigest(r, hs[0])
	case "bearer":
		return s.verifyBearer(strings.TrimSpace(rest))
	}
	return nil, s.refuse(fmt.Sprintf("Authorization scheme %.20q is not accepted: use Digest or Bearer.", scheme), false, false)
}

func (s *Server) verifyBearer(tok string) (*caller, *authFailure) {
	fail := func(detail string) (*caller, *authFailure) {
		return nil, s.refuse(detail, false, true)
	}
	sum := sha256.Sum256([]byte(tok))
	now := s.cfg.now()
	s.auth.mu.Lock()
	t := s.auth.tokens[sum]
	if t != nil && !now.Before(t.expires) {
		delete(s.auth.tokens, sum)
		s.auth.mu.Unlock()
		return fail("The access token has expired.")
	}
	s.auth.mu.Unlock()
	if t == nil {
		return fail("The access token is unknown or revoked.")
	}
	return &caller{org: t.account.org, owner: t.account.owner}, nil
}

// Nonces are base64 of 24 bytes, 32 characters like Atlas's: the issue
// time in unix nanos (8 bytes), 4 random bytes, and an HMAC-SHA-256 of
// both cut to 12 bytes, so that the server can tell its own nonces and
// their age without storing them.
const (
	nonceData = 12
	nonceLen  = 24
)

// newNonce issues a nonce and starts tracking its nc values.
func (s *Server) newNonce() string {
	now := s.cfg.now()
	var b [nonceLen]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixNano()))
	_, _ = rand.Read(b[8:nonceData])
	mac := hmac.New(sha256.New, s.auth.nonceKey[:])
	mac.Write(b[:nonceData])
	copy(b[nonceData:], mac.Sum(nil))
	n := base64.StdEncoding.EncodeToString(b[:])

	a := &s.auth
	a.mu.Lock()
	defer a.mu.Unlock()
	a.nonceQ.purge(now, func() bool { return len(a.nonces) >= maxNonces }, func(k string) { delete(a.nonces, k) })
	a.nonces[n] = &ncWindow{}
	a.nonceQ.push(n, now.Add(s.cfg.nonceTTL))
	return n
}

// nonceIssued authenticates a nonce and returns when it was issued.
func (s *Server) nonceIssued(n string) (time.Time, bool) {
	b, err := base64.StdEncoding.DecodeString(n)
	if err != nil || len(b) != nonceLen {
		return time.Time{}, false
	}
	mac := hmac.New(sha256.New, s.auth.nonceKey[:])
	mac.Write(b[:nonceData])
	if !hmac.Equal(mac.Sum(nil)[:nonceLen-nonceData], b[nonceData:]) {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(b[:8]))), true
}

// digestChallenges returns one WWW-Authenticate value per algorithm, all
// sharing one fresh nonce, worded as Atlas words its one MD5 challenge
// (recorded, testdata/atlas/unauthenticated.http): the same parameters in
// the same order, an empty domain, stale written out, no opaque.
func (s *Server) digestChallenges(stale bool) []string {
	nonce := s.newNonce()
	out := make([]string, 0, len(s.cfg.algs))
	for _, alg := range s.cfg.algs {
		out = append(out, fmt.Sprintf(`Digest realm=%q, domain="", nonce=%q, algorithm=%s, qop="auth", stale=%t`, Realm, nonce, alg, stale))
	}
	return out
}

// verifyDigest checks RFC 7616 credentials with qop=auth: realm,
// algorithm, uri, nonce authenticity, the response hash, nonce age and the
// nc value's freshness, in that order. No opaque is issued (Atlas sends
// none), so none is checked.
func (s *Server) verifyDigest(r *http.Request, header string) (*caller, *authFailure) {
	fail := func(format string, args ...any) (*caller, *authFailure) {
		return nil, s.refuse("Digest authentication failed: "+fmt.Sprintf(format, args...), false, false)
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
	offered := false
	for _, a := range s.cfg.algs {
		offered = offered || a == alg
	}
	if !offered {
		return fail("algorithm %.20q is not offered.", c.Algorithm)
	}
	if c.QOP != "auth" || c.Cnonce == "" || c.Nc <= 0 || c.Userhash {
		return fail("qop must be auth, with cnonce and nc.")
	}
	if c.URI != r.RequestURI && c.URI != r.URL.RequestURI() {
		return fail("uri does not match the request.")
	}
	issued, ok := s.nonceIssued(c.Nonce)
	if !ok {
		return fail("nonce was not issued by this server.")
	}

	s.mu.Lock()
	cred := s.creds[c.Username]
	var pass string
	var p *caller
	if cred != nil {
		pass, p = cred.private, &caller{org: cred.org, owner: cred.owner}
	}
	s.mu.Unlock()
	h := hashFor(alg)
	ha1 := hexHash(h, c.Username, c.Realm, pass)
	ha2 := hexHash(h, r.Method, c.URI)
	want := hexHash(h, ha1, c.Nonce, fmt.Sprintf("%08x", c.Nc), c.Cnonce, c.QOP, ha2)
	if subtle.ConstantTimeCompare([]byte(want), []byte(c.Response)) != 1 || cred == nil {
		return fail("wrong username or password.")
	}
	// The hash is right: from here on the client only needs a new nonce.
	if s.cfg.now().Sub(issued) > s.cfg.nonceTTL {
		return nil, s.refuse("Digest authentication failed: the nonce has expired.", true, false)
	}
	s.auth.mu.Lock()
	w := s.auth.nonces[c.Nonce]
	verdict := ncReplay
	if w != nil {
		verdict = w.use(uint32(c.Nc))
	}
	s.auth.mu.Unlock()
	switch {
	case w == nil:
		return nil, s.refuse("Digest authentication failed: the nonce is no longer tracked.", true, false)
	case verdict == ncTooOld:
		return nil, s.refuse(fmt.Sprintf("Digest authentication failed: nonce count %08x is too far behind; use the new nonce.", c.Nc), true, false)
	case verdict == ncReplay:
		return fail("nonce count %08x was already used with this nonce.", c.Nc)
	}
	return p, nil
}
