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

	// Read-only after New.
	orgs     map[string]*org
	def      *org                   // the default organization
	accounts map[string]*account    // service accounts, by client id
	creds    map[string]*credential // API keys, by public key

	mu     sync.Mutex // guards the organizations' keys and lastID
	lastID int

	logMu sync.Mutex
	log   []Request
}

type org struct {
	id            string
	keys          map[string]uint8 // bit i: the key is in projects[i]
	projects      [3]string
	limiter       *rate.Limiter
	owner, member Principal
}

// credential is an API key's digest password, good while its key lives.
type credential struct {
	caller
	keyID, private string
}

type account struct {
	caller
	secret  string
	limiter *rate.Limiter // its token requests
}

// New builds a Server without listening: serve [Server.Handler] yourself.
func New(opts ...Option) *Server {
	cfg := config{orgs: 1, ops: contract.OperationBudget(), tokens: contract.TokenBudget(),
		nonceTTL: 5 * time.Minute, algs: []string{"MD5"}, now: time.Now} // Atlas offers one MD5 challenge (recorded)
	for _, opt := range opts {
		opt(&cfg)
	}
	s := &Server{cfg: cfg, rows: map[behavior.Situation]behavior.Answer{}, orgs: map[string]*org{},
		accounts: map[string]*account{}, creds: map[string]*credential{}}
	for _, a := range behavior.Table() {
		s.rows[a.Situation] = a
	}
	oauth := map[int]behavior.Situation{}
	for _, sit := range []behavior.Situation{behavior.TokenRateLimited, behavior.ServerError} {
		oauth[s.rows[sit].Status] = sit
	}
	s.op = &Faults{where: "the operation", statuses: operationStatuses(), budget: cfg.ops, retryAfter: -1}
	s.token = &Faults{where: "the token endpoint", statuses: oauth, budget: cfg.tokens, retryAfter: -1}
	s.revoke = &Faults{where: "the revocation endpoint", statuses: oauth, budget: cfg.tokens, retryAfter: -1}
	_, _ = rand.Read(s.auth.nonceKey[:])
	s.auth.nonces, s.auth.tokens = map[string]*nonceState{}, map[[32]byte]*token{}
	s.def = s.seedOrg(defaultKeys + cfg.seedKeys)
	for range cfg.orgs - 1 {
		s.seedOrg(defaultKeys)
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
	o := s.orgs[orgID]
	if o == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(o.keys))
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
			ids = append(ids, p)
		}
	}
	slices.Sort(ids)
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

// deleteKey removes a key from its organization, its projects and, with
// it, its digest credentials.
func (s *Server) deleteKey(o *org, kid string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := o.keys[kid]
	delete(o.keys, kid)
	return ok
}

// newIDs returns n ids that follow the last (deterministic: the same on
// every run), cut from one string: a million seeded keys are then one
// object for the GC to mark, which keeps a delete at 10^6 keys as cheap as
// at 10^3 (BenchmarkDelete). Callers hold mu, or own s.
func (s *Server) newIDs(n int) []string {
	const size = 24
	raw := make([]byte, 0, size*n)
	for range n {
		s.lastID++
		raw = fmt.Appendf(raw, "66aa%020x", s.lastID)
	}
	all, ids := string(raw), make([]string, n)
	for i := range ids {
		ids[i] = all[size*i : size*(i+1)]
	}
	return ids
}

// defaultKeys is how many keys to delete the default organization has
// without WithSeedKeys.
const defaultKeys = 5

// seedOrg adds an organization with three projects, an owner and a member
// (each an API key and a service account) and n keys to delete: key i is in
// project i%3, and even keys in project (i+1)%3 too.
func (s *Server) seedOrg(n int) *org {
	ids := s.newIDs(8 + n)
	o := &org{id: ids[0], projects: [3]string(ids[1:4]), keys: make(map[string]uint8, n+2), limiter: newLimiter(s.cfg.ops)}
	s.orgs[o.id] = o
	for i, p := range []*Principal{&o.owner, &o.member} {
		kid := ids[4+2*i]
		*p = Principal{KeyID: kid, PublicKey: strings.Map(letter, kid[16:]), PrivateKey: privateKey(),
			ClientID: "mdb_sa_id_" + ids[5+2*i], ClientSecret: "mdb_sa_sk_" + rand.Text()}
		c := caller{org: o, owner: i == 0}
		o.keys[kid] = 0
		s.creds[p.PublicKey] = &credential{caller: c, keyID: kid, private: p.PrivateKey}
		s.accounts[p.ClientID] = &account{caller: c, secret: p.ClientSecret, limiter: newLimiter(s.cfg.tokens)}
	}
	for i, kid := range ids[8:] {
		o.keys[kid] = 1 << (i % 3)
		if i%2 == 0 {
			o.keys[kid] |= 1 << ((i + 1) % 3)
		}
	}
	return o
}

// letter maps a hex digit to a lowercase letter: public keys are ids in
// letters, as Atlas's are eight letters.
func letter(r rune) rune {
	if r <= '9' {
		return 'a' + r - '0'
	}
	return 'k' + r - 'a'
}

// privateKey returns a random UUID, the shape of an Atlas private key.
func privateKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
