package atlastest

import (
	"crypto/rand"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
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
	org               *org                   // the organization; its keys are guarded by mu
	keys, accounts    map[string]*credential // by public key and by client id; read-only after New
	auth              authState

	mu     sync.Mutex // guards org.keys, lastID and the access lists
	lastID int
	logMu  sync.Mutex
	log    []Request
}

type org struct {
	id            string
	keys          map[string]bool
	limiter       *rate.Limiter
	owner, member Principal
}

// principal is an owner or member as the server knows it.
type principal struct {
	name   string         // "owner" or "member", as Request.Principal names it
	roles  []string       // compared with the spec's x-rolesRequirements
	access []netip.Prefix // guarded by Server.mu; empty: every address is allowed
}

// credential is an API key's digest password, good while its key lives, or
// a service account's secret and token bucket.
type credential struct {
	who           *principal
	keyID, secret string
	limiter       *rate.Limiter
}

// Principal is the organization's owner or member: an API key for Digest
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
	secret := authedit.Secret(p.ClientSecret)
	return authedit.ServiceAccount{ClientID: p.ClientID, ClientSecret: secret}
}

// Option configures a Server. Options panic on invalid values.
type Option func(*config)

type config struct {
	seedKeys    int
	ops, tokens contract.Budget // the organization's bucket, each service account's token requests
	logLimit    int             // 0: keep every request
	logHook     func(Request)
	now         func() time.Time
}

func check(ok bool, format string, args ...any) {
	if !ok {
		panic(fmt.Sprintf("atlastest: "+format, args...))
	}
}

// WithSeedKeys adds n keys to the organization. A million keys take about
// a second.
func WithSeedKeys(n int) Option {
	check(n >= 0, "WithSeedKeys(%d): n must be >= 0", n)
	return func(c *config) { c.seedKeys += n }
}

// WithRateLimit sets the organization's bucket: it holds capacity requests
// and regains refill of them per period. The default is the spec's: 500,
// as recorded, and 250 a minute, which no evidence gives.
// per must be whole seconds, as Atlas's 429 counts in seconds.
func WithRateLimit(capacity, refill int, per time.Duration) Option {
	check(capacity > 0 && refill > 0 && per >= time.Second && per%time.Second == 0,
		"WithRateLimit(%d, %d, %v): counts must be positive, per whole seconds",
		capacity, refill, per)
	b := contract.Budget{Capacity: capacity, Refill: refill, Period: per}
	return func(c *config) { c.ops = b }
}

// WithTokenRateLimit lets each service account make n token requests per
// period (default: the spec's, as Atlas: 50 a minute), refilled evenly.
// per must be whole minutes, as Atlas's 429 counts in minutes.
func WithTokenRateLimit(n int, per time.Duration) Option {
	check(n > 0 && per >= time.Minute && per%time.Minute == 0,
		"WithTokenRateLimit(%d, %v): n must be positive and per whole minutes", n, per)
	return func(c *config) { c.tokens = contract.Budget{Capacity: n, Refill: n, Period: per} }
}

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

// WithLogHook calls f with each request as it enters the log, in the order
// the requests are answered, so that a program can stream the log (smoke
// serve -v does). Calls never overlap; a slow f slows the server.
func WithLogHook(f func(Request)) Option {
	check(f != nil, "WithLogHook(nil)")
	return func(c *config) { c.logHook = f }
}

// New builds a Server without listening: serve [Server.Handler] yourself.
func New(opts ...Option) *Server {
	cfg := config{ops: contract.OperationBudget(), tokens: contract.TokenBudget(), now: time.Now}
	for _, opt := range opts {
		opt(&cfg)
	}
	s := &Server{cfg: cfg, rows: map[behavior.Situation]behavior.Answer{},
		keys: map[string]*credential{}, accounts: map[string]*credential{}}
	for _, a := range behavior.Table() {
		s.rows[a.Situation] = a
	}
	s.op = &Faults{where: "the operation", statuses: operationStatuses(), budget: cfg.ops,
		retryAfter: -1}
	oauth := map[int]behavior.Situation{
		http.StatusTooManyRequests:     behavior.TokenRateLimited,
		http.StatusInternalServerError: behavior.ServerError,
	}
	s.token = &Faults{where: "the token endpoint", budget: cfg.tokens, retryAfter: -1,
		statuses: oauth}
	s.revoke = &Faults{where: "the revocation endpoint", budget: cfg.tokens, retryAfter: -1,
		statuses: oauth}
	s.auth.nonces, s.auth.tokens = map[string]*issued{}, map[string]*issued{}
	s.seed(5 + cfg.seedKeys) // five keys to delete, and WithSeedKeys'
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

// OrgID is the organization's id.
func (s *Server) OrgID() string { return s.org.id }

// Owner is the organization's Organization Owner.
func (s *Server) Owner() Principal { return s.org.owner }

// Member belongs to the organization without the Organization Owner role:
// its deletes are answered 401 USER_UNAUTHORIZED, as Atlas answers them.
func (s *Server) Member() Principal { return s.org.member }

// SetAccessList gives p's API key and service account an IP access list,
// in CIDR notation or as single addresses. From then on, a request p
// makes from any other address, loopback included, is answered 403
// IP_ADDRESS_NOT_ON_ACCESS_LIST naming that address, after the
// organization and before the role are checked. Token requests are not
// checked, as on Atlas. No cidrs removes the list. A malformed entry, or
// a Principal not of this server, panics.
func (s *Server) SetAccessList(p Principal, cidrs ...string) {
	cred := s.keys[p.PublicKey]
	check(cred != nil && cred.keyID == p.KeyID,
		"SetAccessList: %s is not a principal of this server", p.KeyID)
	var list []netip.Prefix
	for _, c := range cidrs {
		prefix, err := netip.ParsePrefix(c)
		if addr, aerr := netip.ParseAddr(c); aerr == nil {
			prefix, err = addr.Prefix(addr.BitLen())
		}
		check(err == nil, "SetAccessList: %q is not an address or CIDR block: %v", c, err)
		list = append(list, prefix)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cred.who.access = list
}

// allows reports whether who may make requests from ip.
func (s *Server) allows(who *principal, ip netip.Addr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := func(p netip.Prefix) bool { return p.Contains(ip) }
	return len(who.access) == 0 || slices.ContainsFunc(who.access, in)
}

// Keys lists the organization's keys, sorted, but for the Owner's and the
// Member's: the keys a test is meant to delete.
func (s *Server) Keys() []string {
	return slices.DeleteFunc(s.OrgKeys(s.org.id), func(k string) bool {
		return k == s.org.owner.KeyID || k == s.org.member.KeyID
	})
}

// OrgKeys lists every key of the organization orgID, the Owner's and the
// Member's included, sorted; nil for an unknown organization.
func (s *Server) OrgKeys(orgID string) []string {
	if orgID != s.org.id {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.org.keys))
}

// AddKey adds a key to the organization and returns its id
// (from the same deterministic sequence as the others).
func (s *Server) AddKey() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	kid := s.newIDs(1)[0]
	s.org.keys[kid] = true
	return kid
}

// HasKey reports whether the organization has the key: false once it is
// deleted, or if it never existed.
func (s *Server) HasKey(keyID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.org.keys[keyID]
}

// deleteKey removes a key, and so its digest credentials.
func (s *Server) deleteKey(keyID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ok := s.org.keys[keyID]
	delete(s.org.keys, keyID)
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

// seed makes the organization: an owner and a member (each an API key and
// a service account) and n keys to delete.
func (s *Server) seed(n int) {
	ids := s.newIDs(5 + n)
	o := &org{id: ids[0], keys: make(map[string]bool, n+2), limiter: newLimiter(s.cfg.ops)}
	s.org = o
	owner := &principal{name: "owner", roles: contract.RequiredRoles()}
	member := &principal{name: "member", roles: []string{"Organization Member"}}
	for i, who := range []*principal{owner, member} {
		kid, b := ids[1+2*i], make([]byte, 16)
		_, _ = rand.Read(b) // crypto/rand.Read never fails
		p := Principal{KeyID: kid, ClientID: "mdb_sa_id_" + ids[2+2*i],
			ClientSecret: "mdb_sa_sk_" + rand.Text(),
			// 8 letters and a UUID, as Atlas's
			PublicKey:  strings.Map(func(r rune) rune { return 'a' + r%32 }, kid[16:]),
			PrivateKey: fmt.Sprintf("%x-%x-%x-%x-%x", b[:4], b[4:6], b[6:8], b[8:10], b[10:])}
		o.keys[kid] = true
		s.keys[p.PublicKey] = &credential{who: who, keyID: kid, secret: p.PrivateKey}
		s.accounts[p.ClientID] = &credential{who: who, secret: p.ClientSecret,
			limiter: newLimiter(s.cfg.tokens)}
		*[]*Principal{&o.owner, &o.member}[i] = p
	}
	for _, kid := range ids[5:] {
		o.keys[kid] = true
	}
}

// Request is one request the server received, in the order answered.
type Request struct {
	Method string
	Path   string // escaped path, cut to 256 bytes
	Query  string // raw query, cut to 256 bytes
	Auth   string // Authorization scheme in lower case, e.g. "digest", "bearer", "basic"; or "none"
	// Principal is who the request authenticated as, "owner" or "member"
	// (at the token and revocation endpoints, the service account's
	// principal); "" when it did not authenticate.
	Principal string
	Status    int  // status sent; for a dropped request the one it would have had; 0 if aborted
	Dropped   bool // DropNext closed the connection instead of answering
	// TokenIssued: the request minted an access token, even if DropNext
	// then lost the answer.
	TokenIssued bool
	// AuthError says why a 401 was sent, which Atlas's answer does not:
	// e.g. "Digest authentication failed: uri does not match the request."
	AuthError string
}

// clip cuts s to n bytes: no request makes a log entry or answer large.
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func (s *Server) record(r Request) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	if s.cfg.logHook != nil {
		s.cfg.logHook(r)
	}
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
