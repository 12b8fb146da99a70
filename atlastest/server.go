package atlastest

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"
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

	// Set up by New, read-only afterwards.
	orgs      map[id]*org
	def       *org // the default organization
	owner     Principal
	member    Principal
	reserved  [2]id // the owner's and the member's key, left out of Keys
	projects  []*project
	projIndex map[id]uint32
	arena     []uint32 // project indices of every key; keyRec points into it
	accounts  map[string]*serviceAccount

	// mu guards the mutable state: the orgs' key maps, the projects' key
	// sets, the digest credentials and the id generator. A delete holds it once.
	mu        sync.Mutex
	creds     map[string]*credential // by public key
	credByKey map[id]string          // key id -> public key, for keys with credentials
	ids       *idGen

	auth   authState
	faults faults

	logMu sync.Mutex
	log   []Request
}

type org struct {
	id      id
	keys    map[id]keyRec // guarded by Server.mu
	limiter *rate.Limiter
}

// keyRec is a key's whole record, 8 bytes: its projects are
// arena[off:off+n]. The org holding the map is the key's org.
type keyRec struct {
	off  uint32
	n    uint16
	cred bool // has digest credentials in Server.creds
}

type project struct {
	id   id
	org  *org
	keys map[id]struct{} // guarded by Server.mu
}

type credential struct {
	keyID   id
	org     *org
	private string
	owner   bool
}

type serviceAccount struct {
	clientID string
	secret   string
	org      *org
	owner    bool
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
		orgs:      map[id]*org{},
		projIndex: map[id]uint32{},
		accounts:  map[string]*serviceAccount{},
		creds:     map[string]*credential{},
		credByKey: map[id]string{},
	}
	s.auth.init()
	s.faults.retryAfter = -1 // derived from the rate settings
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
func (s *Server) OrgID() string { return s.def.id.String() }

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
	ids := make([]id, 0, len(s.def.keys))
	for k := range s.def.keys {
		if k != s.reserved[0] && k != s.reserved[1] {
			ids = append(ids, k)
		}
	}
	s.mu.Unlock()
	return sortedStrings(ids)
}

// OrgKeys lists every key of an organization, sorted; nil for an unknown one.
func (s *Server) OrgKeys(orgID string) []string {
	oid, ok := parseID(orgID)
	o := s.orgs[oid]
	if !ok || o == nil {
		return nil
	}
	s.mu.Lock()
	ids := make([]id, 0, len(o.keys))
	for k := range o.keys {
		ids = append(ids, k)
	}
	s.mu.Unlock()
	return sortedStrings(ids)
}

// AddKey adds a key to the default organization, in no project, and
// returns its id: one more key to delete, made while the server runs. Its
// id comes from the same generator as the seeded ones.
func (s *Server) AddKey() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	kid := s.ids.next(s.idTaken)
	s.addKey(s.def, kid, nil, false)
	return kid.String()
}

// HasKey reports whether any organization has the key: false once it is
// deleted, or if it never existed.
func (s *Server) HasKey(keyID string) bool {
	kid, ok := parseID(keyID)
	if !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.orgs { // a handful of orgs, never the keys
		if _, ok := o.keys[kid]; ok {
			return true
		}
	}
	return false
}

// KeyProjects lists the projects a key is assigned to, sorted; nil once the
// key is deleted or if it never existed.
func (s *Server) KeyProjects(keyID string) []string {
	kid, ok := parseID(keyID)
	if !ok {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.orgs { // a handful of orgs, never the keys
		if rec, ok := o.keys[kid]; ok {
			ids := []id{}
			for _, p := range s.arena[rec.off : rec.off+uint32(rec.n)] {
				ids = append(ids, s.projects[p].id)
			}
			return sortedStrings(ids)
		}
	}
	return nil
}

// ProjectKeys lists the keys assigned to a project, sorted.
func (s *Server) ProjectKeys(projectID string) []string {
	pid, ok := parseID(projectID)
	i, known := s.projIndex[pid]
	if !ok || !known {
		return nil
	}
	p := s.projects[i]
	s.mu.Lock()
	ids := make([]id, 0, len(p.keys))
	for k := range p.keys {
		ids = append(ids, k)
	}
	s.mu.Unlock()
	return sortedStrings(ids)
}

// OrgProjects lists an organization's projects, sorted.
func (s *Server) OrgProjects(orgID string) []string {
	oid, ok := parseID(orgID)
	if !ok {
		return nil
	}
	var ids []id
	for _, p := range s.projects {
		if p.org.id == oid {
			ids = append(ids, p.id)
		}
	}
	return sortedStrings(ids)
}

// deleteKey removes a key from its organization and from every project it
// is assigned to, and retires its credentials, in one critical section.
func (s *Server) deleteKey(o *org, kid id) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := o.keys[kid]
	if !ok {
		return false
	}
	delete(o.keys, kid)
	for _, p := range s.arena[rec.off : rec.off+uint32(rec.n)] {
		delete(s.projects[p].keys, kid)
	}
	if rec.cred {
		delete(s.creds, s.credByKey[kid])
		delete(s.credByKey, kid)
	}
	return true
}

// --- seeding (New, and AddKey under mu) ---

func (s *Server) idTaken(v id) bool {
	if _, ok := s.orgs[v]; ok {
		return true
	}
	if _, ok := s.projIndex[v]; ok {
		return true
	}
	for _, o := range s.orgs {
		if _, ok := o.keys[v]; ok {
			return true
		}
	}
	return false
}

func (s *Server) newOrg(oid id, keys int) *org {
	lim := rate.NewLimiter(rate.Every(s.cfg.per/time.Duration(s.cfg.refill)), s.cfg.capacity)
	o := &org{id: oid, keys: make(map[id]keyRec, keys), limiter: lim}
	s.orgs[oid] = o
	return o
}

func (s *Server) newProject(o *org, pid id, keys int) uint32 {
	s.projIndex[pid] = uint32(len(s.projects))
	s.projects = append(s.projects, &project{id: pid, org: o, keys: make(map[id]struct{}, keys)})
	return uint32(len(s.projects) - 1)
}

func (s *Server) addKey(o *org, kid id, projects []uint32, hasCred bool) {
	rec := keyRec{off: uint32(len(s.arena)), n: uint16(len(projects)), cred: hasCred}
	s.arena = append(s.arena, projects...)
	o.keys[kid] = rec
	for _, p := range projects {
		s.projects[p].keys[kid] = struct{}{}
	}
}

func (s *Server) addCredential(pub string, c *credential) {
	if pub == "" || c.private == "" {
		panic(fmt.Sprintf("atlastest: key %s: PublicKey and PrivateKey go together", c.keyID))
	}
	if _, dup := s.creds[pub]; dup {
		panic(fmt.Sprintf("atlastest: public key %q used twice", pub))
	}
	s.creds[pub] = c
	s.credByKey[c.keyID] = pub
}

func (s *Server) addAccount(o *org, sa Account) {
	if sa.ClientID == "" || sa.ClientSecret == "" {
		panic(fmt.Sprintf("atlastest: service account %q: ClientID and ClientSecret are required", sa.ClientID))
	}
	if _, dup := s.accounts[sa.ClientID]; dup {
		panic(fmt.Sprintf("atlastest: client id %q used twice", sa.ClientID))
	}
	s.accounts[sa.ClientID] = &serviceAccount{clientID: sa.ClientID, secret: sa.ClientSecret, org: o, owner: sa.Owner}
}

// seedDefault builds the default organization: three projects, the owner
// and member credentials, and defaultKeys+WithSeedKeys deletable keys. Key i
// is in project i%3, and even keys also in project (i+1)%3.
func (s *Server) seedDefault(g *idGen) {
	n := defaultKeys + s.cfg.seedKeys
	o := s.newOrg(g.next(s.idTaken), n+2)
	s.def = o
	var ps [3]uint32
	for i := range ps {
		ps[i] = s.newProject(o, g.next(s.idTaken), n/2+1)
	}
	s.arena = make([]uint32, 0, n*3/2+1)
	for i, c := range []*Principal{&s.owner, &s.member} {
		kid := g.next(s.idTaken)
		*c = Principal{
			KeyID:        kid.String(),
			PublicKey:    g.letters(8),
			PrivateKey:   privateKey(),
			ClientID:     "mdb_sa_id_" + g.next(s.idTaken).String(),
			ClientSecret: "mdb_sa_sk_" + rand.Text(),
		}
		owner := i == 0
		s.reserved[i] = kid
		s.addCredential(c.PublicKey, &credential{keyID: kid, org: o, private: c.PrivateKey, owner: owner})
		s.addKey(o, kid, nil, true)
		s.addAccount(o, Account{ClientID: c.ClientID, ClientSecret: c.ClientSecret, Owner: owner})
	}
	for i := range n {
		assigned := []uint32{ps[i%3], ps[(i+1)%3]}
		if i%2 != 0 {
			assigned = assigned[:1]
		}
		s.addKey(o, g.next(s.idTaken), assigned, false)
	}
}

func (s *Server) seedOrg(g *idGen, spec Org) {
	oid, ok := parseID(spec.ID)
	if !ok {
		panic(fmt.Sprintf("atlastest: WithOrg: org id %q is not 24 lowercase hex digits", spec.ID))
	}
	if s.idTaken(oid) {
		panic(fmt.Sprintf("atlastest: WithOrg: id %s used twice", oid))
	}
	o := s.newOrg(oid, len(spec.Keys))
	for _, k := range spec.Keys {
		var kid id
		if k.ID == "" {
			kid = g.next(s.idTaken)
		} else if kid, ok = parseID(k.ID); !ok || s.idTaken(kid) {
			panic(fmt.Sprintf("atlastest: WithOrg %s: key id %q is malformed or used twice", oid, k.ID))
		}
		var assigned []uint32
		for _, p := range k.Projects {
			pid, ok := parseID(p)
			if !ok {
				panic(fmt.Sprintf("atlastest: WithOrg %s: project id %q is not 24 lowercase hex digits", oid, p))
			}
			i, known := s.projIndex[pid]
			switch {
			case !known && s.idTaken(pid):
				panic(fmt.Sprintf("atlastest: WithOrg %s: project id %s is already an org or key id", oid, pid))
			case !known:
				i = s.newProject(o, pid, 0)
			case s.projects[i].org != o:
				panic(fmt.Sprintf("atlastest: WithOrg %s: project %s belongs to another org", oid, pid))
			}
			if !slices.Contains(assigned, i) {
				assigned = append(assigned, i)
			}
		}
		hasCred := k.PublicKey != "" || k.PrivateKey != ""
		if hasCred {
			s.addCredential(k.PublicKey, &credential{keyID: kid, org: o, private: k.PrivateKey, owner: k.Owner})
		}
		s.addKey(o, kid, assigned, hasCred)
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
