package atlastest

import (
	"crypto/rand"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/atlascontract/deleteorgapikey/authedit"
	"github.com/atlascontract/deleteorgapikey/internal/behavior"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// Server is a reference Atlas server. All methods are safe for concurrent use.
type Server struct {
	// URL is the base URL, http://127.0.0.1:port with no trailing slash;
	// empty for a Server from New.
	URL string

	cfg               config
	handler           http.Handler
	ts                *httptest.Server
	rows              map[behavior.Situation]behavior.Answer // internal/behavior's table
	op, token, revoke *Faults
	auth              authState
	orgs              map[string]*org // read-only after New, as are def, keys and accounts
	def               *org            // the default organization
	keys, accounts    map[string]*credential

	mu     sync.Mutex // guards the organizations' keys and lastID
	lastID int
	logMu  sync.Mutex
	log    []Request
}

type org struct {
	id            string
	keys          map[string]uint8 // bit i: the key is in projects[i]
	projects      [3]string
	limiter       *rate.Limiter
	owner, member Principal
}

// credential is an API key's digest password, good while its key lives, or
// a service account's secret and token bucket.
type credential struct {
	caller
	keyID, secret string
	limiter       *rate.Limiter
}

// Principal is an organization's owner or member: an API key for Digest
// and a service account for Bearer tokens.
type Principal struct {
	KeyID        string `json:"keyId"` // the API key's id, deletable like any other key
	PublicKey    string `json:"publicKey"`
	PrivateKey   string `json:"privateKey"`
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
}

// APIKey is the principal's API key as authedit takes it (HTTP Digest).
func (p Principal) APIKey() authedit.APIKey {
	return authedit.APIKey{PublicKey: p.PublicKey, PrivateKey: authedit.Secret(p.PrivateKey)}
}

// ServiceAccount is the principal's service account as authedit takes it
// (OAuth2 client credentials).
func (p Principal) ServiceAccount() authedit.ServiceAccount {
	return authedit.ServiceAccount{ClientID: p.ClientID, ClientSecret: authedit.Secret(p.ClientSecret)}
}

// Option configures a Server. Options panic on invalid values.
type Option func(*config)

type config struct {
	orgs, seedKeys  int             // more than one organization only in this package's tests
	ops, tokens     contract.Budget // each organization's bucket, each service account's token requests
	nonceTTL        time.Duration
	algs            []string
	logLimit        int // 0: keep every request
	bearerChallenge bool
	now             func() time.Time
}

func check(ok bool, format string, args ...any) {
	if !ok {
		panic(fmt.Sprintf("atlastest: "+format, args...))
	}
}

// WithSeedKeys adds n keys to the default organization, spread over its
// projects like the default ones. A million keys take about a second.
func WithSeedKeys(n int) Option {
	check(n >= 0, "WithSeedKeys(%d): n must be >= 0", n)
	return func(c *config) { c.seedKeys += n }
}

// WithRateLimit sets every organization's bucket: it holds capacity requests
// and regains refill of them per period (default: the spec's, as Atlas:
// 500, and 250 a minute).
func WithRateLimit(capacity, refill int, per time.Duration) Option {
	check(capacity > 0 && refill > 0 && per > 0, "WithRateLimit(%d, %d, %v): all must be positive", capacity, refill, per)
	return func(c *config) { c.ops = contract.Budget{Capacity: capacity, Refill: refill, Period: per} }
}

// WithTokenRateLimit lets each service account make n token requests per
// period (default: the spec's, as Atlas: 50 a minute), refilled evenly.
// per must be whole minutes, as Atlas's 429 counts in minutes.
func WithTokenRateLimit(n int, per time.Duration) Option {
	check(n > 0 && per >= time.Minute && per%time.Minute == 0, "WithTokenRateLimit(%d, %v): n must be positive and per whole minutes", n, per)
	return func(c *config) { c.tokens = contract.Budget{Capacity: n, Refill: n, Period: per} }
}

// WithNonceTTL sets how long a digest nonce is good for (default 5 min);
// after that it gets a challenge with stale=true.
func WithNonceTTL(d time.Duration) Option {
	check(d > 0, "WithNonceTTL(%v): must be positive", d)
	return func(c *config) { c.nonceTTL = d }
}

// WithDigestAlgorithms chooses the digest algorithms offered and accepted,
// one challenge each, in the order given: "SHA-256", "MD5" (default: MD5
// alone, as Atlas).
func WithDigestAlgorithms(algs ...string) Option {
	check(len(algs) > 0, "WithDigestAlgorithms needs at least one algorithm")
	algs = slices.Clone(algs)
	for i, a := range algs {
		algs[i] = strings.ToUpper(a)
		check(algs[i] == "SHA-256" || algs[i] == "MD5", "WithDigestAlgorithms: %q is not SHA-256 or MD5", a)
	}
	return func(c *config) { c.algs = algs }
}

// WithBearerChallenge adds a Bearer challenge (RFC 6750) to every 401. Atlas
// sends none, and authedit needs none: any 401 refuses its token.
func WithBearerChallenge() Option { return func(c *config) { c.bearerChallenge = true } }

// WithClock replaces time.Now for what expires or refills (nonces, tokens,
// rate limits), so that a test moves time instead of waiting.
func WithClock(now func() time.Time) Option {
	check(now != nil, "WithClock(nil)")
	return func(c *config) { c.now = now }
}

// WithLogLimit keeps only the last n requests in the log (default: all).
func WithLogLimit(n int) Option {
	check(n > 0, "WithLogLimit(%d): n must be positive", n)
	return func(c *config) { c.logLimit = n }
}

// New builds a Server without listening: serve [Server.Handler] yourself.
func New(opts ...Option) *Server {
	cfg := config{orgs: 1, ops: contract.OperationBudget(), tokens: contract.TokenBudget(),
		nonceTTL: 5 * time.Minute, algs: []string{"MD5"}, now: time.Now} // Atlas offers one MD5 challenge (recorded)
	for _, opt := range opts {
		opt(&cfg)
	}
	s := &Server{cfg: cfg, rows: map[behavior.Situation]behavior.Answer{}, orgs: map[string]*org{},
		keys: map[string]*credential{}, accounts: map[string]*credential{}}
	for _, a := range behavior.Table() {
		s.rows[a.Situation] = a
	}
	oauth := map[int]behavior.Situation{s.rows[behavior.TokenRateLimited].Status: behavior.TokenRateLimited,
		s.rows[behavior.ServerError].Status: behavior.ServerError}
	s.op = &Faults{where: "the operation", statuses: operationStatuses(), budget: cfg.ops, retryAfter: -1}
	s.token = &Faults{where: "the token endpoint", statuses: oauth, budget: cfg.tokens, retryAfter: -1}
	s.revoke = &Faults{where: "the revocation endpoint", statuses: oauth, budget: cfg.tokens, retryAfter: -1}
	_, _ = rand.Read(s.auth.nonceKey[:])
	s.auth.nonces, s.auth.tokens = map[string]*issued{}, map[string]*issued{}
	s.def = s.seedOrg(5 + cfg.seedKeys) // five keys to delete, and WithSeedKeys'
	for range cfg.orgs - 1 {
		s.seedOrg(5)
	}
	s.handler = s.newHandler()
	return s
}

// NewServer starts a Server on a loopback port; Close it when done.
func NewServer(opts ...Option) *Server {
	s := New(opts...)
	s.ts = httptest.NewServer(s.handler)
	s.URL = s.ts.URL
	return s
}

// NewTestServer starts a Server on a loopback port for the test t and
// closes it when t and its subtests end.
func NewTestServer(t testing.TB, opts ...Option) *Server {
	s := NewServer(opts...)
	t.Cleanup(s.Close)
	return s
}

// Close shuts a started server down and waits for outstanding requests;
// for a Server from New it does nothing.
func (s *Server) Close() {
	if s.ts != nil {
		s.ts.Close()
	}
}

// Handler serves the whole API: the operation, the token and the
// revocation endpoints.
func (s *Server) Handler() http.Handler { return s.handler }

// OrgID is the default organization's id.
func (s *Server) OrgID() string { return s.def.id }

// Owner is the default organization's Organization Owner.
func (s *Server) Owner() Principal { return s.def.owner }

// Member belongs to the default organization without the Organization
// Owner role: its deletes are answered 403.
func (s *Server) Member() Principal { return s.def.member }

// Keys lists the default organization's keys, sorted, but for the Owner's
// and the Member's: the keys a test is meant to delete.
func (s *Server) Keys() []string {
	return slices.DeleteFunc(s.OrgKeys(s.def.id), func(k string) bool { return k == s.def.owner.KeyID || k == s.def.member.KeyID })
}

// OrgKeys lists every key of an organization, sorted; nil for an unknown one.
func (s *Server) OrgKeys(orgID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o := s.orgs[orgID]; o != nil {
		return slices.Sorted(maps.Keys(o.keys))
	}
	return nil
}

// AddKey adds a key to the default organization, in no project, and
// returns its id (from the same deterministic sequence as the others).
func (s *Server) AddKey() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	kid := s.newIDs(1)[0]
	s.def.keys[kid] = 0
	return kid
}

// HasKey reports whether any organization has the key: false once it is
// deleted, or if it never existed.
func (s *Server) HasKey(keyID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keyOrg(keyID) != nil
}

// KeyProjects lists the projects a key is assigned to, sorted; nil once the
// key is deleted or if it never existed.
func (s *Server) KeyProjects(keyID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.keyOrg(keyID)
	if o == nil {
		return nil
	}
	ids := []string{}
	for i, p := range o.projects {
		if o.keys[keyID]&(1<<i) != 0 {
			ids = append(ids, p) // sorted: ids grow
		}
	}
	return ids
}

// keyOrg is the organization holding a key, nil for none; callers hold mu.
func (s *Server) keyOrg(keyID string) *org {
	for _, o := range s.orgs {
		if _, ok := o.keys[keyID]; ok {
			return o
		}
	}
	return nil
}

// deleteKey removes a key, and so its projects' and its digest credentials.
func (s *Server) deleteKey(o *org, kid string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := o.keys[kid]
	delete(o.keys, kid)
	return ok
}

// newIDs returns the next n ids, cut from one string: a million seeded keys
// are then one object for the GC to mark, so a delete costs at 10^6 keys
// what it costs at 10^3 (BenchmarkDelete). Callers hold mu, or own s.
func (s *Server) newIDs(n int) []string {
	raw := make([]byte, 0, 24*n)
	for range n {
		s.lastID++
		raw = fmt.Appendf(raw, "66aa%020x", s.lastID)
	}
	all, ids := string(raw), make([]string, n)
	for i := range ids {
		ids[i] = all[24*i : 24*(i+1)]
	}
	return ids
}

// seedOrg adds an organization with three projects, an owner and a member
// (each an API key and a service account) and n keys to delete: key i is in
// project i%3, and even keys in project (i+1)%3 too.
func (s *Server) seedOrg(n int) *org {
	ids := s.newIDs(8 + n)
	o := &org{id: ids[0], projects: [3]string(ids[1:4]), keys: make(map[string]uint8, n+2), limiter: newLimiter(s.cfg.ops)}
	s.orgs[o.id] = o
	for i, p := range []*Principal{&o.owner, &o.member} {
		kid, b := ids[4+2*i], make([]byte, 16)
		_, _ = rand.Read(b) // crypto/rand.Read never fails
		*p = Principal{KeyID: kid, ClientID: "mdb_sa_id_" + ids[5+2*i], ClientSecret: "mdb_sa_sk_" + rand.Text(),
			PublicKey:  strings.Map(func(r rune) rune { return 'a' + r%32 }, kid[16:]),        // 8 letters and
			PrivateKey: fmt.Sprintf("%x-%x-%x-%x-%x", b[:4], b[4:6], b[6:8], b[8:10], b[10:])} // a UUID, as Atlas's
		c := caller{org: o, owner: i == 0}
		o.keys[kid] = 0
		s.keys[p.PublicKey] = &credential{caller: c, keyID: kid, secret: p.PrivateKey}
		s.accounts[p.ClientID] = &credential{caller: c, secret: p.ClientSecret, limiter: newLimiter(s.cfg.tokens)}
	}
	for i, kid := range ids[8:] {
		o.keys[kid] = 1<<(i%3) | uint8(1-i%2)<<((i+1)%3)
	}
	return o
}

// Request is one request the server received, in the order answered.
type Request struct {
	Method  string
	Path    string // escaped path, cut to 256 bytes
	Query   string // raw query, cut to 256 bytes
	Auth    string // Authorization scheme: "digest", "bearer", "basic", "none" or "other"
	Status  int    // status sent; for a dropped request the one it would have had; 0 if aborted
	Dropped bool   // DropNext closed the connection instead of answering
	// Principal is who the request authenticated as: "owner" or "member"
	// (at the token and revocation endpoints, the service account's
	// principal); "" when it did not authenticate.
	Principal string
	// TokenIssued is true when the request minted an access token, even
	// if DropNext then lost the answer.
	TokenIssued bool
	// AuthError says why a 401 was sent, which Atlas's answer does not:
	// e.g. "Digest authentication failed: uri does not match the request."
	AuthError string
}

// clip cuts s to n bytes: no hostile request makes a log entry or answer large.
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func (s *Server) record(r Request) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	s.log = append(s.log, r)
	if n := s.cfg.logLimit; n > 0 && len(s.log) > n {
		s.log = s.log[len(s.log)-n:] // append reallocates, copying only these
	}
}

// Requests returns the requests received since New or ResetRequests, token
// and revocation requests included (the last n only WithLogLimit(n)).
func (s *Server) Requests() []Request {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return slices.Clone(s.log)
}

// ResetRequests forgets the requests received so far.
func (s *Server) ResetRequests() {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	s.log = nil
}

// CountRequests counts the requests received so far for which match is true.
func (s *Server) CountRequests(match func(Request) bool) int {
	return len(slices.DeleteFunc(s.Requests(), func(r Request) bool { return !match(r) }))
}
