package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/authedit"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// startServe runs smoke serve with args until the test ends and returns its announcement.
func startServe(t *testing.T, args ...string) announcement {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	r, w := io.Pipe()
	done := make(chan int, 1)
	var errOut bytes.Buffer
	go func() { done <- serve(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), w, &errOut) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != exitPass {
			t.Errorf("serve exit %d: %s", code, errOut.String())
		}
	})
	var a announcement
	if err := json.NewDecoder(r).Decode(&a); err != nil {
		t.Fatalf("serve's first line: %v (%s)", err, errOut.String())
	}
	return a
}

func TestServeAnnouncesWhatClientsNeed(t *testing.T) {
	a := startServe(t)
	if a.OrgID == "" || a.Owner.PrivateKey == "" || a.Owner.ClientSecret == "" || a.Member.PrivateKey == "" || a.Member.ClientSecret == "" ||
		a.TokenURL != a.BaseURL+contract.TokenPath() || a.RevokeURL != a.BaseURL+contract.RevokePath() || a.Accept != contract.AcceptHeader() {
		t.Fatalf("announcement incomplete: %+v", a)
	}
	// -print-keys prints every key that exists by default, and no more.
	if b := startServe(t, "-seed-keys", "3"); len(b.Keys) != len(a.Keys)+3 {
		t.Errorf("%d keys printed with -seed-keys 3, %d without", len(b.Keys), len(a.Keys))
	}
	if b := startServe(t, "-print-keys", "2"); len(b.Keys) != 2 {
		t.Errorf("-print-keys 2 printed %d keys", len(b.Keys))
	}

	// What a curl or Python user does: a token from tokenUrl, then the
	// delete with the announced Accept; the member's token gets 403.
	for _, c := range []struct {
		p    atlastest.Principal
		want int
	}{{a.Member, http.StatusForbidden}, {a.Owner, http.StatusNoContent}} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, a.TokenURL, strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(c.p.ClientID, c.p.ClientSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		err = json.NewDecoder(resp.Body).Decode(&tok)
		_ = resp.Body.Close()
		if err != nil || tok.AccessToken == "" {
			t.Fatalf("token endpoint: %d, %v", resp.StatusCode, err)
		}
		req, _ = http.NewRequestWithContext(t.Context(), http.MethodDelete, a.BaseURL+"/api/atlas/v2/orgs/"+a.OrgID+"/apiKeys/"+a.Keys[0], nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		req.Header.Set("Accept", a.Accept)
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("delete with a Bearer token of %s: %d, want %d", c.p.ClientID, resp.StatusCode, c.want)
		}
	}

	vars := map[string]string{"MONGODB_ATLAS_OPS_MANAGER_URL": a.BaseURL, "MONGODB_ATLAS_ORG_ID": a.OrgID,
		"MONGODB_ATLAS_PUBLIC_API_KEY": a.Owner.PublicKey, "MONGODB_ATLAS_PRIVATE_API_KEY": a.Owner.PrivateKey}
	if code, out, _ := runSmoke(t, env(vars), "-atlas", "-delete-key", a.Keys[1], "-confirm"); code != exitPass {
		t.Fatalf("smoke -atlas against smoke serve: exit %d\n%s", code, out)
	}
}

// TestServeServesARealClientDuringAnIdleFlood holds four times more idle
// connections than serve allows, then deletes a key through a real client.
// The idle connections are all accepted before the client's (the accept
// queue keeps the order of dialing), so each one beyond the bound closed the
// longest idle one, and the client is served without waiting for a timeout.
func TestServeServesARealClientDuringAnIdleFlood(t *testing.T) {
	ref := atlastest.New()
	hs, lim := newHTTPServer(ref.Handler(), 8)
	if hs.ReadHeaderTimeout <= 0 || hs.ReadTimeout <= 0 || hs.WriteTimeout <= 0 || hs.IdleTimeout <= 0 {
		t.Errorf("unbounded server: %+v", hs)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	var flood []net.Conn
	for range 4 * lim.max {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		flood = append(flood, c)
	}
	client, err := authedit.NewClient("http://"+ln.Addr().String(), ref.Owner().APIKey(), authedit.WithTransport(&http.Transport{}), authedit.WithoutRetry())
	if err != nil {
		t.Fatal(err)
	}
	if outcome, err := client.Remove(t.Context(), ref.OrgID(), ref.Keys()[0]); outcome != authedit.Removed {
		t.Fatalf("real client during the flood: %v, %v", outcome, err)
	}
	lim.mu.Lock()
	open := len(lim.open)
	lim.mu.Unlock()
	if open > lim.max {
		t.Fatalf("%d connections open, bound %d", open, lim.max)
	}
	// The oldest idle connection was closed by the server. The deadline
	// only bounds a failing test; a passing one reads EOF at once.
	_ = flood[0].SetReadDeadline(time.Now().Add(time.Minute))
	if _, err := flood[0].Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "reset") {
		t.Errorf("oldest idle connection: read %v, want closed", err)
	}
}

func TestServeAnnouncesADialableAddress(t *testing.T) {
	for in, want := range map[string]string{"0.0.0.0:8080": "127.0.0.1:8080", "[::]:9": "127.0.0.1:9", "127.0.0.2:7": "127.0.0.2:7"} {
		a, err := net.ResolveTCPAddr("tcp", in)
		if err != nil {
			t.Fatal(err)
		}
		if got := dialable(a); got != want {
			t.Errorf("dialable(%s) = %s, want %s", in, got, want)
		}
	}
}
