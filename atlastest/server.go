package atlastest

import (
	"crypto/rand"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
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

	// Set up by New, read-only afterwards but for the key sets.
	orgs     map[string]*org
	def      *org                // the default organization
	accounts map[string]*account // service accounts, by client id

	// mu guards the key sets, the digest credentials and the id generator.
	mu    sync.Mutex
	creds map[string]*credential // by public key
	ids   *idGen

	logMu sync.Mutex
	log   []Request
}

// Keys are ids in sets: a key's projects are found through its org's three,
// so a key costs its id in a map or two and nothing the GC must chase.
type org struct {
	id            string
	keys          map[string]struct{}
	projects      []*project
	limiter       *rate.Limiter
	owner, member Principal
}

type project struct {
	id   string
	keys map[string]struct{}
}

// credential is an API key's digest password; it retires with its key.
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
	cfg := config{
		orgs:     1,
		ops:      contract.OperationBudget(),
		tokens:   contract.TokenBudget(),
		nonceTTL: 5 * time.Minute,
		algs:     []string{"MD5"}, // Atlas offers one MD5 challenge (recorded)
		now:      time.Now,
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	s := &Server{
		cfg:      cfg,
		rows:     map[behavior.Situation]behavior.Answer{},
		orgs:     map[string]*org{},
		accounts: map[string]*account{},
		creds:    map[string]*credential{},
		ids:      newIDGen(),
	}
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
// returns its id (from the same deterministic generator as the others).
func (s *Server) AddKey() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	kid := s.ids.next(s.idTaken)
	s.def.keys[kid] = struct{}{}
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
	for _, p := range o.projects {
		if _, ok := p.keys[keyID]; ok {
			ids = append(ids, p.id)
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

// deleteKey removes a key from its organization and its projects, and
// retires its digest credentials, in one critical section.
func (s *Server) deleteKey(o *org, kid string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := o.keys[kid]; !ok {
		return false
	}
	delete(o.keys, kid)
	for _, p := range o.projects {
		delete(p.keys, kid)
	}
	for pub, c := range s.creds { // two an organization
		if c.keyID == kid {
			delete(s.creds, pub)
		}
	}
	return true
}

func (s *Server) idTaken(v string) bool {
	for _, o := range s.orgs {
		for _, p := range o.projects {
			if p.id == v {
				return true
			}
		}
	}
	return s.orgs[v] != nil || s.keyOrg(v) != nil
}

// defaultKeys is how many keys to delete the default organization has
// without WithSeedKeys.
const defaultKeys = 5

// seedOrg adds an organization with three projects, an owner and a member
// (each an API key and a service account) and n keys to delete: key i is in
// project i%3, and even keys in project (i+1)%3 too.
func (s *Server) seedOrg(n int) *org {
	g := s.ids
	o := &org{id: g.next(s.idTaken), keys: make(map[string]struct{}, n+2), limiter: newLimiter(s.cfg.ops)}
	s.orgs[o.id] = o
	for range 3 {
		o.projects = append(o.projects, &project{id: g.next(s.idTaken), keys: make(map[string]struct{}, n/2+1)})
	}
	for i, p := range []*Principal{&o.owner, &o.member} {
		*p = Principal{KeyID: g.next(s.idTaken), PublicKey: g.letters(8), PrivateKey: privateKey(),
			ClientID: "mdb_sa_id_" + g.next(s.idTaken), ClientSecret: "mdb_sa_sk_" + rand.Text()}
		c := caller{org: o, owner: i == 0}
		o.keys[p.KeyID] = struct{}{}
		s.creds[p.PublicKey] = &credential{caller: c, keyID: p.KeyID, private: p.PrivateKey}
		s.accounts[p.ClientID] = &account{caller: c, secret: p.ClientSecret, limiter: newLimiter(s.cfg.tokens)}
	}
	for i, kid := range g.block(n) {
		if s.idTaken(kid) {
			kid = g.next(s.idTaken)
		}
		o.keys[kid] = struct{}{}
		o.projects[i%3].keys[kid] = struct{}{}
		if i%2 == 0 {
			o.projects[(i+1)%3].keys[kid] = struct{}{}
		}
	}
	return o
}

// privateKey returns a random UUID, the shape of an Atlas private key.
func privateKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
