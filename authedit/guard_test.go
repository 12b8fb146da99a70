package authedit_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/atlascontract/deleteorgapikey/authedit"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// dialRecorder is a base transport that records every address it dials.
type dialRecorder struct {
	mu    sync.Mutex
	addrs []string
}

func (d *dialRecorder) transport() *http.Transport {
	return &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		d.mu.Lock()
		d.addrs = append(d.addrs, addr)
		d.mu.Unlock()
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
}

func (d *dialRecorder) dialed() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.addrs...)
}

var allCreds = []authedit.Credentials{
	authedit.ServiceAccount{ClientID: "id", ClientSecret: "secret"},
	authedit.APIKey{PublicKey: "pub", PrivateKey: "priv"},
}

func TestCleartextRefusedAtConstruction(t *testing.T) {
	refused := []string{
		"http://cloud.mongodb.com",
		"http://10.0.0.1:8080",
		"http://[::2]",
		"http://127.0.0.1.nip.io",
		"http://localhost.example.com",
		"HTTP://example.com/base",
	}
	allowed := []string{
		"https://cloud.mongodb.com",
		"http://127.0.0.1:1",
		"http://127.9.8.7",
		"http://[::1]:80",
		"http://localhost:8080",
		"http://LOCALHOST",
	}
	for _, creds := range allCreds {
		for _, u := range refused {
			_, err := authedit.NewClient(u, creds)
			var ce *authedit.CleartextError
			if !errors.As(err, &ce) {
				t.Errorf("NewClient(%q, %s) err = %v, want *CleartextError", u, scheme(creds), err)
			}
			if _, err := authedit.NewTransport(u, creds); !errors.As(err, &ce) {
				t.Errorf("NewTransport(%q) err = %v, want *CleartextError", u, err)
			}
			if _, err := authedit.NewClient(u, creds, authedit.WithInsecureHTTP()); err != nil {
				t.Errorf("NewClient(%q, WithInsecureHTTP) = %v, want opt-in honoured", u, err)
			}
		}
		for _, u := range allowed {
			if _, err := authedit.NewClient(u, creds); err != nil {
				t.Errorf("NewClient(%q) = %v, want allowed", u, err)
			}
		}
	}
}

func TestBadConstructorInput(t *testing.T) {
	for _, u := range []string{"", "cloud.mongodb.com", "ftp://cloud.mongodb.com", "https://user:pw@cloud.mongodb.com", "https://cloud.mongodb.com/?a=b", "https://"} {
		if _, err := authedit.NewClient(u, allCreds[0]); err == nil {
			t.Errorf("NewClient(%q) accepted", u)
		}
	}
	var ce *authedit.CredentialsError
	for _, creds := range []authedit.Credentials{nil, (*authedit.ServiceAccount)(nil), (*authedit.APIKey)(nil), authedit.ServiceAccount{ClientID: "id"}, authedit.ServiceAccount{ClientSecret: "s"}, authedit.APIKey{PublicKey: "p"}, authedit.APIKey{PrivateKey: "p"}} {
		if _, err := authedit.NewClient("https://cloud.mongodb.com", creds); !errors.As(err, &ce) {
			t.Errorf("NewClient(%v) err = %v, want *CredentialsError", creds, err)
		}
	}
}

// followRedirects sends the operation's DELETE to base through tr in an
// http.Client that follows redirects, as a caller's own client may (a
// Client follows none).
func followRedirects(t *testing.T, base string, tr http.RoundTripper) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodDelete, base+"/api/atlas/v2/orgs/"+orgID+"/apiKeys/"+keyID, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err == nil {
		_ = resp.Body.Close()
	}
	return resp, err
}

// A redirect from a loopback server to cleartext elsewhere is refused in
// the transport, before any dial.
func TestCleartextRedirectRefusedWithoutDial(t *testing.T) {
	for _, creds := range allCreds {
		t.Run(scheme(creds), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == contract.TokenPath() {
					w.Header().Set("Content-Type", "application/json")
					_, _ = w.Write([]byte(`{"access_token":"t","token_type":"bearer","expires_in":3600}`))
					return
				}
				http.Redirect(w, r, "http://192.0.2.1:9"+r.URL.Path, http.StatusTemporaryRedirect)
			}))
			defer srv.Close()
			var rec dialRecorder
			tr, err := authedit.NewTransport(srv.URL, creds, authedit.WithTransport(rec.transport()))
			if err != nil {
				t.Fatal(err)
			}
			_, err = followRedirects(t, srv.URL, tr)
			var ce *authedit.CleartextError
			if !errors.As(err, &ce) || ce.Host != "192.0.2.1:9" {
				t.Fatalf("err = %v, want *CleartextError for 192.0.2.1:9", err)
			}
			for _, a := range rec.dialed() {
				if a != srv.Listener.Addr().String() {
					t.Errorf("dialed %s; only the loopback server may be dialed", a)
				}
			}
			if len(rec.dialed()) == 0 {
				t.Error("the loopback server was never dialed; the test proves nothing")
			}
		})
	}
}

// With the opt-in the same redirect is followed (and so dialed) by a
// client that follows redirects.
func TestInsecureOptInDials(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://192.0.2.1:9"+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	var rec dialRecorder
	tr := rec.transport()
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		rec.mu.Lock()
		rec.addrs = append(rec.addrs, addr)
		rec.mu.Unlock()
		if addr == "192.0.2.1:9" {
			return nil, errors.New("test: not dialing out")
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	at, err := authedit.NewTransport(srv.URL, allCreds[1], authedit.WithTransport(tr), authedit.WithInsecureHTTP())
	if err != nil {
		t.Fatal(err)
	}
	_, err = followRedirects(t, srv.URL, at)
	var ce *authedit.CleartextError
	if err == nil || errors.As(err, &ce) {
		t.Fatalf("err = %v, want the dial error, not a refusal", err)
	}
	if d := rec.dialed(); len(d) != 2 || d[1] != "192.0.2.1:9" {
		t.Errorf("dialed %v, want the loopback server then 192.0.2.1:9", d)
	}
}

// Credentials stay with the base URL's origin: a redirect to another
// server, followed by the caller's own client, carries no Authorization.
func TestNoCredentialsAcrossOrigins(t *testing.T) {
	seen := make(chan http.Header, 1)
	other := newHeaderServer(t, seen)
	s := newTokenServer(t, nil, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != contract.TokenPath() {
				http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	tr, err := authedit.NewTransport(s.URL, s.account())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := followRedirects(t, s.URL, tr)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("err %v resp %v", err, resp)
	}
	if h := <-seen; h.Get("Authorization") != "" {
		t.Errorf("other origin received Authorization %q", h.Get("Authorization"))
	}
	if n := s.tokens.Load(); n != 1 {
		t.Errorf("token requests = %d, want 1 (the request to the base origin was authenticated)", n)
	}
}
