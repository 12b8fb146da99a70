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

	"golang.org/x/time/rate"

	"github.com/atlascontract/deleteorgapikey/internal/behavior"
)

// Server is a reference Atlas server. The zero value is not usable: build one
// with NewServer (listening on loopback) or New (not listening; serve
// Handler yourself). All methods are safe for concurrent use.
type Server struct {
	// URL is the base URL, http://127.0.0.1:port with no trailing slash,
	// once the server is started; empty for a Server from New.
	URL string

	cfg     config
	handler http.Handler
	ts      *httptest.Server

	// Set up by New, read-only afterwards (the maps inside orgs and
	// projects excepted).
	orgs     map[string]*org
	def      *org // the default organization
	owner    Principal
	member   Principal
	reserved [2]string // the owner's and the member's key, left out of Keys
	projects map[string]*project
	accounts map[string]*serviceAccount

	// mu guards the mutable state: the orgs' key maps, the projects' key
	// sets, the digest credentials and the id generator. A delete holds it once.
	mu        sync.Mutex
	creds     map[string]*credential // by public key
	credByKey map[string]string      // key id -> public key, for keys with credentials
	ids       *idGen

	auth              authState
	op, token, revoke *Faults
	rows              map[behavior.Situation]behavior.Answer // internal/behavior's table

	logMu sync.Mutex
	log   []Request
}

// An org's keys and its projects' keys are sets of ids: a key's projects
// are found through its org's few projects, so a key costs its id in a
// map or two and nothing the garbage collector must chase.
type org struct {
	id       string
	keys     map[string]struct{} // guarded by Server.mu
	projects []*project          // set up by New
	limiter  *rate.Limiter
}

type project struct {
	id   string
	org  *org
	keys map[string]struct{} // guarded by Server.mu
}

type credential struct {
	org     *org
	private string
	owner   bool
}

type serviceAccount struct {
	clientID string
	secret   string
	org      *org
	owner    bool
	limiter  *rate.Limiter // its token requests
}

// defaultKeys is how many deletable keys the default organization has
// before WithSeedKeys.
const defaultKeys = 5

// New builds a Server without listening: serve [Server.Handler] on an
// address of your choice, or call [Server.Start].
func New(opts ...Option) *Server {
	cfg := defaultConfig()
	for _, opt := range opts {
		opt(&cfg)
	}
	s := &Server{
		cfg:       cfg,
		orgs:      map[string]*org{},
		projects:  map[string]*project{},
		accounts:  map[string]*serviceAccount{},
		creds:     map[string]*credential{},
		credByKey: map[string]string{},
		rows:      map[behavior.Situation]behavior.Answer{},
	}
	s.auth.init()
	for _, a := range behavior.Table() {
		s.rows[a.Situation] = a
	}
	s.op = newFaults("the operation", cfg.ops, operationStatuses())
	tokenStatuses := map[int]behavior.Situation{}
	for _, sit := range []behavior.Situation{behavior.TokenRateLimited, behavior.ServerError} {
		tokenStatuses[s.rows[sit].Status] = sit
	}
	s.token = newFaults("the token endpoint", cfg.tokens, tokenStatuses)
	s.revoke = newFaults("the revocation endpoint", cfg.tokens, tokenStatuses)
	s.ids = newIDGen(cfg.seed)
	s.seedDefault(s.ids)
	for _, o := range cfg.orgs {
		s.seedOrg(s.ids, o)
	}
	s.handler = s.newHandler()
	return s
}

// NewServer starts a Server on a loopback port; Close it when done.
func NewServer(opts ...Option) *Server {
	s := New(opts...)
	s.Start()
	return s
}

// NewTestServer starts a Server on a loopback port for the test t, and
// closes it when t and its subtests end (t.Cleanup).
func NewTestServer(t testing.TB, opts ...Option) *Server {
	s := NewServer(opts...)
	t.Cleanup(s.Close)
	return s
}

// Start listens on a loopback port and sets URL. It panics if the server
// was already started.
func (s *Server) Start() {
	if s.ts != nil {
		panic("atlastest: Server started twice")
	}
	s.ts = httptest.NewUnstartedServer(s.handler)
	s.ts.Start()
	s.URL = s.ts.URL
}

// Close shuts a started server down and waits for outstanding requests.
// Closing a server from New that was never started does nothing.
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

// Owner holds the default organization's Organization Owner credentials: an
// API key (digest) and a service account (client credentials).
func (s *Server) Owner() Principal { return s.owner }

// Member holds credentials of the default organization without the
// Organization Owner role: its calls are answered 403.
func (s *Server) Member() Principal { return s.member }

// Keys lists the default organization's keys, sorted, except the Owner's and
// the Member's own keys: the keys a test is meant to delete.
func (s *Server) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.def.keys))
	for k := range s.def.keys {
		if k != s.reserved[0] && k != s.reserved[1] {
			ids = append(ids, k)
		}
	}
	slices.Sort(ids)
	return ids
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
// returns its id: one more key to delete, made while the server runs. Its
// id comes from the same generator as the seeded ones.
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

// keyOrg is the organization holding a key, nil for none; callers hold mu.
func (s *Server) keyOrg(keyID string) *org {
	for _, o := range s.orgs { // a handful of orgs, never the keys
		if _, ok := o.keys[keyID]; ok {
			return o
		}
	}
	return nil
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

// ProjectKeys lists the keys assigned to a project, sorted.
func (s *Server) ProjectKeys(projectID string) []string {
	p := s.projects[projectID]
	if p == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(p.keys))
}

// OrgProjects lists an organization's projects, sorted.
func (s *Server) OrgProjects(orgID string) []string {
	var ids []string
	for _, p := range s.projects {
		if p.org.id == orgID {
			ids = append(ids, p.id)
		}
	}
	slices.Sort(ids)
	return ids
}

// deleteKey removes a key from its organization and from every project it
// is assigned to, and retires its credentials, in one critical section.
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
	if pub, ok := s.credByKey[kid]; ok {
		delete(s.creds, pub)
		delete(s.credByKey, kid)
	}
	return true
}

// --- seeding (New, and AddKey under mu) ---

func (s *Server) idTaken(v string) bool {
	_, isOrg := s.orgs[v]
	_, isProject := s.projects[v]
	return isOrg || isProject || s.keyOrg(v) != nil
}

func (s *Server) newOrg(oid string, keys int) *org {
	o := &org{id: oid, keys: make(map[string]struct{}, keys), limiter: newLimiter(s.cfg.ops)}
	s.orgs[oid] = o
	return o
}

func (s *Server) newProject(o *org, pid string, keys int) *project {
	p := &project{id: pid, org: o, keys: make(map[string]struct{}, keys)}
	s.projects[pid] = p
	o.projects = append(o.projects, p)
	return p
}

func (s *Server) addKey(o *org, kid string, projects ...*project) {
	o.keys[kid] = struct{}{}
	for _, p := range projects {
		p.keys[kid] = struct{}{}
	}
}

func (s *Server) addCredential(kid, pub string, c *credential) {
	if pub == "" || c.private == "" {
		panic(fmt.Sprintf("atlastest: key %s: PublicKey and PrivateKey go together", kid))
	}
	if _, dup := s.creds[pub]; dup {
		panic(fmt.Sprintf("atlastest: public key %q used twice", pub))
	}
	s.creds[pub] = c
	s.credByKey[kid] = pub
}

func (s *Server) addAccount(o *org, sa Account) {
	if sa.ClientID == "" || sa.ClientSecret == "" {
		panic(fmt.Sprintf("atlastest: service account %q: ClientID and ClientSecret are required", sa.ClientID))
	}
	if _, dup := s.accounts[sa.ClientID]; dup {
		panic(fmt.Sprintf("atlastest: client id %q used twice", sa.ClientID))
	}
	s.accounts[sa.ClientID] = &serviceAccount{clientID: sa.ClientID, secret: sa.ClientSecret, org: o, owner: sa.Owner, limiter: newLimiter(s.cfg.tokens)}
}

// seedDefault builds the default organization: three projects, the owner
// and member credentials, and defaultKeys+WithSeedKeys deletable keys. Key i
// is in project i%3, and even keys also in project (i+1)%3.
func (s *Server) seedDefault(g *idGen) {
	n := defaultKeys + s.cfg.seedKeys
	o := s.newOrg(g.next(s.idTaken), n+2)
	s.def = o
	var ps [3]*project
	for i := range ps {
		ps[i] = s.newProject(o, g.next(s.idTaken), n/2+1)
	}
	for i, c := range []*Principal{&s.owner, &s.member} {
		kid := g.next(s.idTaken)
		*c = Principal{
			KeyID:        kid,
			PublicKey:    g.letters(8),
			PrivateKey:   privateKey(),
			ClientID:     "mdb_sa_id_" + g.next(s.idTaken),
			ClientSecret: "mdb_sa_sk_" + rand.Text(),
		}
		owner := i == 0
		s.reserved[i] = kid
		s.addCredential(kid, c.PublicKey, &credential{org: o, private: c.PrivateKey, owner: owner})
		s.addKey(o, kid)
		s.addAccount(o, Account{ClientID: c.ClientID, ClientSecret: c.ClientSecret, Owner: owner})
	}
	for i, kid := range g.block(n) {
		if s.idTaken(kid) {
			kid = g.next(s.idTaken)
		}
		if i%2 == 0 {
			s.addKey(o, kid, ps[i%3], ps[(i+1)%3])
		} else {
			s.addKey(o, kid, ps[i%3])
		}
	}
}

func (s *Server) seedOrg(g *idGen, spec Org) {
	oid := spec.ID
	if !validID(oid) {
		panic(fmt.Sprintf("atlastest: WithOrg: org id %q is not 24 lowercase hex digits", spec.ID))
	}
	if s.idTaken(oid) {
		panic(fmt.Sprintf("atlastest: WithOrg: id %s used twice", oid))
	}
	o := s.newOrg(oid, len(spec.Keys))
	for _, k := range spec.Keys {
		kid := k.ID
		if kid == "" {
			kid = g.next(s.idTaken)
		} else if !validID(kid) || s.idTaken(kid) {
			panic(fmt.Sprintf("atlastest: WithOrg %s: key id %q is malformed or used twice", oid, k.ID))
		}
		var assigned []*project
		for _, pid := range k.Projects {
			p := s.projects[pid]
			switch {
			case !validID(pid):
				panic(fmt.Sprintf("atlastest: WithOrg %s: project id %q is not 24 lowercase hex digits", oid, pid))
			case p == nil && s.idTaken(pid):
				panic(fmt.Sprintf("atlastest: WithOrg %s: project id %s is already an org or key id", oid, pid))
			case p == nil:
				p = s.newProject(o, pid, 0)
			case p.org != o:
				panic(fmt.Sprintf("atlastest: WithOrg %s: project %s belongs to another org", oid, pid))
			}
			assigned = append(assigned, p)
		}
		if k.PublicKey != "" || k.PrivateKey != "" {
			s.addCredential(kid, k.PublicKey, &credential{org: o, private: k.PrivateKey, owner: k.Owner})
		}
		s.addKey(o, kid, assigned...)
	}
	for _, sa := range spec.Accounts {
		s.addAccount(o, sa)
	}
}

// privateKey returns a random UUID, the shape of an Atlas private key.
func privateKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
