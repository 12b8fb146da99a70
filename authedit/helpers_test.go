package authedit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/atlascontract/deleteorgapikey/authedit"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// Valid ids for the operation (lowercase hex, 24 digits).
const (
	orgID = "4888442a3354817a7320eb61"
	keyID = "32b6e34b3d91647abb20e7b8"
)

// tokenServer is a small counting stand-in for the service-account side of
// Atlas: it issues tok-1, tok-2, ... and answers API calls with whatever
// status api returns for the presented Authorization header.
type tokenServer struct {
	URL        string
	ID, Secret string
	ExpiresIn  int           // seconds; 0 means 3600
	Hold       chan struct{} // if set, a token request is answered once it yields
	Pipe       bool          // serve in memory, for a synctest bubble (see pipeServer)
	pipe       *pipeServer

	tokens  atomic.Int32 // token requests seen
	api     atomic.Int32 // API requests seen
	mu      sync.Mutex
	revoked []string
	apiAuth []string
	// API decides the status of an API request; nil: 204 when the token is
	// the newest one issued, else 401.
	API func(auth string) int
}

// newTokenServer starts the server after configure (if any) has set its
// fields; wrap (if any) wraps its handler. Fields must not change later,
// except through setSecret.
func newTokenServer(t *testing.T, configure func(*tokenServer), wrap ...func(http.Handler) http.Handler) *tokenServer {
	t.Helper()
	s := &tokenServer{ID: "sa-client-id", Secret: "sa-very-secret-value"}
	if configure != nil {
		configure(s)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+contract.TokenPath(), func(w http.ResponseWriter, r *http.Request) {
		n := s.tokens.Add(1)
		if s.Hold != nil {
			<-s.Hold
		}
		id, secret, ok := r.BasicAuth()
		if !ok || id != s.ID || secret != s.secret() || r.FormValue("grant_type") != "client_credentials" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = fmt.Fprintf(w, `{"error":"invalid_client","error_description":"bad client credentials","echo":%q}`, r.Header.Get("Authorization"))
			return
		}
		exp := s.ExpiresIn
		if exp == 0 {
			exp = 3600
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"access_token": fmt.Sprintf("tok-%d", n), "token_type": "bearer", "expires_in": exp,
		})
	})
	mux.HandleFunc("POST "+contract.RevokePath(), func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		if !ok || id != s.ID || secret != s.secret() {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		s.mu.Lock()
		s.revoked = append(s.revoked, r.FormValue("token"))
		s.mu.Unlock()
	})
	mux.HandleFunc("/api/atlas/v2/", func(w http.ResponseWriter, r *http.Request) {
		s.api.Add(1)
		auth := r.Header.Get("Authorization")
		s.mu.Lock()
		s.apiAuth = append(s.apiAuth, auth)
		s.mu.Unlock()
		status := http.StatusNoContent
		if s.API != nil {
			status = s.API(auth)
		} else if auth != fmt.Sprintf("Bearer tok-%d", s.tokens.Load()) {
			status = http.StatusUnauthorized
		}
		if status == http.StatusNoContent {
			w.WriteHeader(status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = fmt.Fprintf(w, `{"error":%d,"errorCode":"TEST_%d"}`, status, status)
	})
	var h http.Handler = mux
	for _, w := range wrap {
		h = w(h)
	}
	if s.Pipe {
		s.pipe = newPipeServer(t, h)
		s.URL = s.pipe.URL
		return s
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// opts are the client options that reach the server.
func (s *tokenServer) opts() []authedit.Option {
	if s.pipe != nil {
		return []authedit.Option{authedit.WithTransport(s.pipe.tr)}
	}
	return nil
}

// account is the service account the server issues tokens to.
func (s *tokenServer) account() authedit.ServiceAccount {
	return authedit.ServiceAccount{ClientID: s.ID, ClientSecret: authedit.Secret(s.secret())}
}

func (s *tokenServer) secret() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Secret
}

func (s *tokenServer) setSecret(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Secret = v
}

// revokedTokens returns the tokens revoked so far.
func (s *tokenServer) revokedTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.revoked)
}

// authSeen returns the Authorization headers of API requests so far.
func (s *tokenServer) authSeen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.apiAuth)
}

// countingServer counts every request and answers 204.
func countingServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// newHeaderServer sends the headers of each request to seen and answers 204.
func newHeaderServer(t *testing.T, seen chan<- http.Header) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case seen <- r.Header.Clone():
		default:
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// closeResp returns a function that fails the test on err and otherwise
// closes the response: an unclosed body keeps the http.Client's timeout
// goroutine alive until the timeout, which goleak reports.
func closeResp(t *testing.T) func(*http.Response, error) {
	t.Helper()
	return func(resp *http.Response, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
}

// The Atlas CLI's environment variables.
const (
	envClientID     = "MONGODB_ATLAS_CLIENT_ID"
	envClientSecret = "MONGODB_ATLAS_CLIENT_SECRET"
	envPublicKey    = "MONGODB_ATLAS_PUBLIC_API_KEY"
	envPrivateKey   = "MONGODB_ATLAS_PRIVATE_API_KEY"
	envBaseURL      = "MONGODB_ATLAS_OPS_MANAGER_URL"
)

// scheme names the kind of creds, for test names and messages.
func scheme(creds authedit.Credentials) string {
	return strings.TrimPrefix(fmt.Sprintf("%T", creds), "authedit.")
}

// pipeServer serves a handler over in-memory connections (net.Pipe) to a
// client transport of its own: real net/http on both ends, without
// sockets. Inside a testing/synctest bubble time then passes only when every
// goroutine waits, and a goroutine waiting on the pipe counts as waiting,
// which one on a socket never does: retry waits, timeouts and token
// lifetimes cost no wall-clock time and hold no timing bets.
type pipeServer struct {
	URL   string          // a loopback URL, so that the cleartext guard lets it be
	tr    *http.Transport // dials the server
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeServer(t *testing.T, h http.Handler) *pipeServer {
	p := &pipeServer{URL: "http://127.0.0.1:9", conns: make(chan net.Conn), done: make(chan struct{})}
	p.tr = &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		c, s := net.Pipe()
		select {
		case p.conns <- s:
			return c, nil
		case <-p.done:
			return nil, net.ErrClosed
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(p) }()
	t.Cleanup(func() {
		p.tr.CloseIdleConnections()
		_ = srv.Close()
	})
	return p
}

func (p *pipeServer) Accept() (net.Conn, error) {
	select {
	case c := <-p.conns:
		return c, nil
	case <-p.done:
		return nil, net.ErrClosed
	}
}

func (p *pipeServer) Close() error {
	p.once.Do(func() { close(p.done) })
	return nil
}

func (p *pipeServer) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9} }
