package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/internal/behavior"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// startServe runs smoke serve on a free loopback port with args, until stop
// (or the test's end), and returns its announcement. stop returns serve's
// exit status and what it wrote to stderr.
func startServe(t *testing.T, args ...string) (a announcement, stop func() (int, string)) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	out, w := io.Pipe()
	done := make(chan int, 1)
	var errOut bytes.Buffer
	go func() {
		code := serve(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), nil, w, &errOut)
		_ = w.Close()
		done <- code
	}()
	stop = sync.OnceValues(func() (int, string) { cancel(); return <-done, errOut.String() })
	t.Cleanup(func() {
		if code, errOut := stop(); code != exitPass {
			t.Errorf("serve exit %d: %s", code, errOut)
		}
	})
	if err := json.NewDecoder(out).Decode(&a); err != nil {
		_, errOut := stop()
		t.Fatalf("serve's first line: %v (%s)", err, errOut)
	}
	return a, stop
}

// token is a Bearer token for p from tokenUrl, as a curl or Python user
// gets one; "" when the token endpoint refuses.
func token(t *testing.T, a announcement, p atlastest.Principal) string {
	t.Helper()
	form := strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode())
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, a.TokenURL, form)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(p.ClientID, p.ClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	return tok.AccessToken
}

// keyPath is the operation's path for key in the announced organization.
func keyPath(a announcement, key string) string {
	return "/api/atlas/v2/orgs/" + a.OrgID + "/apiKeys/" + key
}

// remove deletes key with a Bearer token and the announced Accept. The
// caller need not close the body.
func remove(t *testing.T, a announcement, tok, key string) (*http.Response, error) {
	req, _ := http.NewRequestWithContext(t.Context(), "DELETE", a.BaseURL+keyPath(a, key), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", a.Accept)
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		_ = resp.Body.Close()
	}
	return resp, err
}

func TestServeAnnouncesWhatClientsNeed(t *testing.T) {
	a, _ := startServe(t)
	if a.OrgID == "" || a.Owner.PrivateKey == "" || a.Member.ClientSecret == "" ||
		a.TokenURL != a.BaseURL+contract.TokenPath() || a.Accept != contract.AcceptHeader() ||
		a.RevokeURL != a.BaseURL+contract.RevokePath() || a.ControlURL != a.BaseURL+"/__atlastest" {
		t.Fatalf("announcement incomplete: %+v", a)
	}
	// A wildcard address, which -allow-remote allows, is announced as
	// loopback, which this host can dial.
	b, _ := startServe(t, "-addr", ":0", "-allow-remote", "-seed-keys", "3")
	if !strings.HasPrefix(b.BaseURL, "http://127.0.0.1:") || len(b.Keys) != len(a.Keys)+3 {
		t.Errorf("-addr :0 -allow-remote -seed-keys 3: %s and %d keys, %d without -seed-keys",
			b.BaseURL, len(b.Keys), len(a.Keys))
	}
	if c, _ := startServe(t, "-addr", "127.0.0.1:0", "-print-keys", "2"); !slices.Equal(
		c.Keys, a.Keys[:2]) {
		t.Errorf("-print-keys 2 printed %q, want the first two of %q", c.Keys, a.Keys)
	}
	// The member's delete is refused; the owner's succeeds.
	notOwner, _ := behavior.Lookup(behavior.NotOwner)
	for p, want := range map[atlastest.Principal]int{a.Member: notOwner.Status, a.Owner: 204} {
		resp, err := remove(t, a, token(t, a, p), a.Keys[0])
		if err != nil || resp.StatusCode != want {
			t.Errorf("delete with a token of %s: %v, %v, want %d", p.ClientID, resp, err, want)
		}
	}
}

// TestServeRefusesBadFlags: each mistake is named, all at once, and
// nothing listens. An address other hosts can reach needs -allow-remote,
// as the control API asks for no credentials.
func TestServeRefusesBadFlags(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:0": true, "[::1]:0": true,
		"localhost:8080": true, "": false, ":8080": false, "0.0.0.0:0": false, "[::]:0": false,
		"192.0.2.1:80": false, "example.com:80": false} {
		if got := loopback(addr); got != want {
			t.Errorf("loopback(%q) = %v, want %v", addr, got, want)
		}
	}
	var errOut bytes.Buffer
	code := serve(t.Context(), []string{"-addr", ":0", "-rate-period", "1500ms",
		"-seed-keys", "-1", "-print-keys", "-2", "extra"}, nil, io.Discard, &errOut)
	for _, want := range []string{"-allow-remote", "whole seconds", "-seed-keys", "-print-keys",
		"extra"} {
		if code != exitUsage || !strings.Contains(errOut.String(), want) {
			t.Errorf("exit %d, want %d and %q in:\n%s", code, exitUsage, want, &errOut)
		}
	}
}

func TestServeStopsWhenStdinCloses(t *testing.T) {
	stdin, closer := io.Pipe()
	out, w := io.Pipe()
	done := make(chan int, 1)
	args := []string{"-addr", "127.0.0.1:0", "-exit-on-stdin-eof"}
	go func() { done <- serve(t.Context(), args, stdin, w, io.Discard) }()
	if err := json.NewDecoder(out).Decode(new(announcement)); err != nil {
		t.Fatal(err)
	}
	_ = closer.Close()
	if code := <-done; code != exitPass {
		t.Errorf("exit %d after stdin closed, want %d", code, exitPass)
	}
}

// TestStopGivesRequestsInFlightTheirBound: a request in flight when the
// stop begins is answered if it ends within the bound, and cut after it.
func TestStopGivesRequestsInFlightTheirBound(t *testing.T) {
	for _, bound := range []time.Duration{time.Hour, 0} {
		started, release := make(chan struct{}), make(chan struct{})
		hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(started)
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})}
		if bound > 0 {
			hs.RegisterOnShutdown(func() { close(release) }) // it ends once the stop has begun
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = hs.Serve(ln) }()
		answered := make(chan error, 1)
		go func() {
			resp, err := http.Get("http://" + ln.Addr().String())
			if err == nil {
				_ = resp.Body.Close()
			}
			answered <- err
		}()
		<-started
		var errOut bytes.Buffer
		stop(hs, bound, &errOut)
		err = <-answered
		if cut := errOut.String() != ""; cut != (bound == 0) || (err != nil) != cut {
			t.Errorf("bound %v: the request ended with %v; stderr %q", bound, err, errOut.String())
		}
	}
}

// fakeConn is a connection connLimit can close.
type fakeConn struct {
	net.Conn
	closed bool
}

// Close marks c closed.
func (c *fakeConn) Close() error {
	c.closed = true
	return nil
}

// TestConnLimitSparesKeepAliveConnections: at the bound, a flood of new
// connections closes its own oldest ones, never a keep-alive connection;
// without a flood, the keep-alive connection idle longest goes, and when
// every other is busy, the new one.
func TestConnLimitSparesKeepAliveConnections(t *testing.T) {
	lim := &connLimit{max: 4, open: map[net.Conn]connState{}}
	conn := func(states ...http.ConnState) *fakeConn {
		c := &fakeConn{}
		for _, s := range states {
			lim.track(c, s)
		}
		return c
	}
	older := conn(http.StateNew, http.StateActive, http.StateIdle)
	newer := conn(http.StateNew, http.StateActive, http.StateIdle)
	busy := conn(http.StateNew, http.StateActive)
	var flood []*fakeConn
	for range 100 {
		flood = append(flood, conn(http.StateNew))
	}
	last := flood[len(flood)-1]
	for i, c := range flood[:len(flood)-1] {
		if !c.closed {
			t.Fatalf("flood connection %d of %d is open", i, len(flood))
		}
	}
	if older.closed || newer.closed || busy.closed || last.closed {
		t.Fatalf("closed: keep-alive %v %v, busy %v, newest %v",
			older.closed, newer.closed, busy.closed, last.closed)
	}
	lim.track(last, http.StateActive) // no flood is left
	c := conn(http.StateNew)
	if c.closed || !older.closed || newer.closed {
		t.Errorf("no flood: closed the new one %v, the older keep-alive %v, the newer %v", c.closed,
			older.closed, newer.closed)
	}
	lim.track(c, http.StateActive)
	lim.track(newer, http.StateActive)
	if c := conn(http.StateNew); !c.closed {
		t.Error("every other connection busy: the new one is open")
	}
}
