package atlastest_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/icholy/digest"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

func TestServiceAccount(t *testing.T) {
	srv := atlastest.NewServer()
	defer srv.Close()
	owner := srv.Owner()
	cfg := clientcredentials.Config{
		ClientID:     owner.ClientID,
		ClientSecret: owner.ClientSecret,
		TokenURL:     srv.URL + contract.TokenPath(),
		AuthStyle:    oauth2.AuthStyleInHeader,
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, plain(t))
	tok, err := cfg.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "Bearer" || time.Until(tok.Expiry) < 59*time.Minute {
		t.Errorf("token type %q, expiry %v", tok.TokenType, tok.Expiry)
	}
	client := oauth2.NewClient(ctx, oauth2.StaticTokenSource(tok))

	key := srv.Keys()[0]
	resp, body := del(t, client, opURL(srv, srv.OrgID(), key, ""))
	wantStatus(t, resp, body, http.StatusNoContent)
	if has(srv.OrgKeys(srv.OrgID()), key) {
		t.Error("key still there")
	}

	// Revoked: the same token is refused with a Bearer challenge.
	form := url.Values{"token": {tok.AccessToken}}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+contract.RevokePath(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(owner.ClientID, owner.ClientSecret)
	rresp, err := http.DefaultClient.Do(req)
	if err != nil || rresp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %v %v", rresp, err)
	}
	rresp.Body.Close()
	resp, body = del(t, client, opURL(srv, srv.OrgID(), srv.Keys()[0], ""))
	wantStatus(t, resp, body, http.StatusUnauthorized)
	if ch := resp.Header.Values("WWW-Authenticate"); len(ch) != 1 || !strings.HasPrefix(ch[0], `Bearer realm="MMS Public API"`) || !strings.Contains(ch[0], "invalid_token") {
		t.Errorf("challenge %q", ch)
	}
	if code := errorCode(t, body); code != "UNAUTHORIZED" {
		t.Errorf("errorCode %s", code)
	}

	// A fresh token from x/oauth2's own token source works again.
	resp, body = del(t, cfg.Client(ctx), opURL(srv, srv.OrgID(), srv.Keys()[0], ""))
	wantStatus(t, resp, body, http.StatusNoContent)
}

func TestTokenExpires(t *testing.T) {
	// Wide enough for the first delete on a loaded machine under -race.
	srv := atlastest.NewServer(atlastest.WithTokenTTL(1500 * time.Millisecond))
	defer srv.Close()
	tok := fetchToken(t, srv, srv.Owner().ClientID, srv.Owner().ClientSecret)
	client := bearerClient(t, tok)
	key := srv.Keys()[0]
	resp, body := del(t, client, opURL(srv, srv.OrgID(), srv.Keys()[1], ""))
	wantStatus(t, resp, body, http.StatusNoContent)
	time.Sleep(1700 * time.Millisecond)
	resp, body = del(t, client, opURL(srv, srv.OrgID(), key, ""))
	wantStatus(t, resp, body, http.StatusUnauthorized)
	if !strings.Contains(string(body), "expired") || !has(srv.Keys(), key) {
		t.Errorf("expired token: %s", body)
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	srv := atlastest.NewServer()
	defer srv.Close()
	owner := srv.Owner()
	post := func(path, user, pass, form string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, c := range []struct {
		name, path, user, pass, form string
		want                         int
	}{
		{"wrong secret", contract.TokenPath(), owner.ClientID, "nope", "grant_type=client_credentials", 401},
		{"unknown client", contract.TokenPath(), "someone", owner.ClientSecret, "grant_type=client_credentials", 401},
		{"no client", contract.TokenPath(), "", "", "grant_type=client_credentials", 401},
		{"grant type", contract.TokenPath(), owner.ClientID, owner.ClientSecret, "grant_type=password", 400},
		{"api key as client", contract.TokenPath(), owner.PublicKey, owner.PrivateKey, "grant_type=client_credentials", 401},
		{"revoke without token", contract.RevokePath(), owner.ClientID, owner.ClientSecret, "", 400},
		{"revoke unknown token", contract.RevokePath(), owner.ClientID, owner.ClientSecret, "token=abc", 200},
		{"revoke wrong client", contract.RevokePath(), owner.ClientID, "nope", "token=abc", 401},
	} {
		if resp := post(c.path, c.user, c.pass, c.form); resp.StatusCode != c.want {
			t.Errorf("%s: %d, want %d", c.name, resp.StatusCode, c.want)
		} else if c.want == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("%s: challenge %q", c.name, resp.Header.Get("WWW-Authenticate"))
		}
	}
	resp, err := http.Get(srv.URL + contract.TokenPath())
	if err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET token: %v %v", resp, err)
	}
	resp.Body.Close()

	// Revoking someone else's token does nothing.
	tok := fetchToken(t, srv, owner.ClientID, owner.ClientSecret)
	post(contract.RevokePath(), srv.Member().ClientID, srv.Member().ClientSecret, "token="+tok)
	resp2, body := del(t, bearerClient(t, tok), opURL(srv, srv.OrgID(), srv.Keys()[0], ""))
	wantStatus(t, resp2, body, http.StatusNoContent)
}

func TestConcurrentDeletesOfOneKey(t *testing.T) {
	srv := atlastest.NewServer()
	defer srv.Close()
	owner := srv.Owner()
	client, _ := digestClient(t, owner.PublicKey, owner.PrivateKey)
	// Warm the transport: the 64 requests then share one nonce, with nc
	// values that reach the server in any order.
	resp, body := del(t, client, opURL(srv, srv.OrgID(), strings.Repeat("0", 24), ""))
	wantStatus(t, resp, body, http.StatusNotFound)

	key := srv.Keys()[0]
	const n = 64
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			resp, _ := del(t, client, opURL(srv, srv.OrgID(), key, ""))
			statuses <- resp.StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	if count[http.StatusNoContent] != 1 || count[http.StatusNotFound] != n-1 {
		t.Fatalf("statuses %v, want one 204 and %d 404", count, n-1)
	}
	if has(srv.OrgKeys(srv.OrgID()), key) {
		t.Error("key still there")
	}
}

// challenge fetches a fresh digest challenge (the first one, SHA-256).
func challenge(t *testing.T, srv *atlastest.Server) *digest.Challenge {
	t.Helper()
	resp, body := del(t, plain(t), opURL(srv, srv.OrgID(), srv.Keys()[0], ""))
	wantStatus(t, resp, body, http.StatusUnauthorized)
	c, err := digest.FindChallenge(resp.Header)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDigestProtocol(t *testing.T) {
	srv := atlastest.NewServer(atlastest.WithSeedKeys(5))
	defer srv.Close()
	owner := srv.Owner()
	keys := srv.Keys()
	org := srv.OrgID()
	client := plain(t)
	send := func(c *digest.Challenge, key string, nc int) (*http.Response, []byte) {
		t.Helper()
		u := opURL(srv, org, key, "")
		return do(t, client, http.MethodDelete, u, authHeader(t, c, u, owner.PublicKey, owner.PrivateKey, nc))
	}

	t.Run("replay", func(t *testing.T) {
		c := challenge(t, srv)
		u := opURL(srv, org, keys[0], "")
		h := authHeader(t, c, u, owner.PublicKey, owner.PrivateKey, 1)
		resp, body := do(t, client, http.MethodDelete, u, h)
		wantStatus(t, resp, body, http.StatusNoContent)
		resp, body = do(t, client, http.MethodDelete, u, h)
		wantStatus(t, resp, body, http.StatusUnauthorized)
		if !strings.Contains(string(body), "already used") {
			t.Errorf("replay: %s", body)
		}
	})
	t.Run("out-of-order nc", func(t *testing.T) {
		c := challenge(t, srv)
		for i, nc := range []int{3, 1, 2} {
			resp, body := send(c, keys[1+i], nc)
			wantStatus(t, resp, body, http.StatusNoContent)
		}
		resp, body := send(c, keys[4], 2) // nc 2 again
		wantStatus(t, resp, body, http.StatusUnauthorized)
		resp, body = send(c, keys[4], 2000) // a jump ahead is fine
		wantStatus(t, resp, body, http.StatusNoContent)
		resp, body = send(c, keys[5], 4) // 1996 behind: below the window, so a new nonce is asked for
		wantStatus(t, resp, body, http.StatusUnauthorized)
		if !strings.Contains(string(body), "too far behind") || !strings.Contains(strings.Join(resp.Header.Values("WWW-Authenticate"), " "), "stale=true") {
			t.Errorf("nc below the window: %s %q", body, resp.Header.Values("WWW-Authenticate"))
		}
		if !has(srv.Keys(), keys[5]) {
			t.Errorf("key deleted by a refused request")
		}
	})
	t.Run("nc window", func(t *testing.T) {
		var w atlastest.NcWindowProbe
		for _, c := range []struct {
			nc   uint32
			want string
		}{{5, "fresh"}, {1, "fresh"}, {5, "replay"}, {0, "replay"}, {1028, "fresh"}, {5, "replay"}, {4, "too old"}, {6, "fresh"}, {1027, "fresh"}, {1028, "replay"}, {6, "replay"}, {5000, "fresh"}, {4000, "fresh"}, {3977, "fresh"}, {3977, "replay"}, {3976, "too old"}} {
			if got := w.Use(c.nc); got != c.want {
				t.Errorf("after %v, nc %d: %s, want %s", w.History, c.nc, got, c.want)
			}
			w.History = append(w.History, c.nc)
		}
	})

	rejected := func(t *testing.T, h http.Header, key string, wantDetail string) http.Header {
		t.Helper()
		resp, body := do(t, client, http.MethodDelete, opURL(srv, org, key, ""), h)
		wantStatus(t, resp, body, http.StatusUnauthorized)
		if !strings.Contains(string(body), wantDetail) {
			t.Errorf("detail: %s, want %q", body, wantDetail)
		}
		if !has(srv.Keys(), key) {
			t.Errorf("key %s deleted by a rejected request", key)
		}
		return resp.Header
	}
	key := keys[6]
	u := opURL(srv, org, key, "")
	t.Run("wrong uri", func(t *testing.T) {
		rejected(t, authHeader(t, challenge(t, srv), opURL(srv, org, keys[7], ""), owner.PublicKey, owner.PrivateKey, 1), key, "uri")
	})
	t.Run("tampered nonce", func(t *testing.T) {
		c := challenge(t, srv)
		b := []byte(c.Nonce)
		b[10] ^= 'A' ^ 'B' // another base64url letter
		c.Nonce = string(b)
		h := rejected(t, authHeader(t, c, u, owner.PublicKey, owner.PrivateKey, 1), key, "nonce")
		if strings.Contains(h.Get("WWW-Authenticate"), "stale") {
			t.Error("a forged nonce is not stale")
		}
	})
	t.Run("tampered opaque", func(t *testing.T) {
		c := challenge(t, srv)
		c.Opaque += "x"
		rejected(t, authHeader(t, c, u, owner.PublicKey, owner.PrivateKey, 1), key, "opaque")
	})
	t.Run("wrong realm", func(t *testing.T) {
		c := challenge(t, srv)
		c.Realm = "Somewhere Else"
		rejected(t, authHeader(t, c, u, owner.PublicKey, owner.PrivateKey, 1), key, "realm")
	})
	t.Run("wrong password", func(t *testing.T) {
		rejected(t, authHeader(t, challenge(t, srv), u, owner.PublicKey, owner.PrivateKey+"x", 1), key, "password")
	})
	t.Run("unknown user", func(t *testing.T) {
		rejected(t, authHeader(t, challenge(t, srv), u, "nobody", owner.PrivateKey, 1), key, "password")
	})
	t.Run("no qop", func(t *testing.T) {
		c := challenge(t, srv)
		c.QOP = nil
		rejected(t, authHeader(t, c, u, owner.PublicKey, owner.PrivateKey, 1), key, "qop")
	})
	t.Run("basic", func(t *testing.T) {
		basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(owner.PublicKey+":"+owner.PrivateKey))
		h := rejected(t, http.Header{"Authorization": {basic}}, key, "not accepted")
		ch := h.Values("WWW-Authenticate")
		if len(ch) != 3 || !strings.HasPrefix(ch[0], "Digest ") || !strings.HasPrefix(ch[2], "Bearer ") {
			t.Errorf("challenges %q", ch)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		rejected(t, http.Header{"Authorization": {`Digest username="a", nc=zz`}}, key, "malformed")
	})
}

func TestStaleNonce(t *testing.T) {
	srv := atlastest.NewServer(atlastest.WithNonceTTL(500 * time.Millisecond))
	defer srv.Close()
	owner := srv.Owner()
	c := challenge(t, srv)
	time.Sleep(600 * time.Millisecond)
	key := srv.Keys()[0]
	u := opURL(srv, srv.OrgID(), key, "")

	// Wrong password on an old nonce: not stale, the client must not retry.
	resp, body := do(t, plain(t), http.MethodDelete, u, authHeader(t, c, u, owner.PublicKey, "wrong", 1))
	wantStatus(t, resp, body, http.StatusUnauthorized)
	if strings.Contains(resp.Header.Get("WWW-Authenticate"), "stale") {
		t.Errorf("stale offered for a wrong password: %q", resp.Header.Values("WWW-Authenticate"))
	}
	resp, body = do(t, plain(t), http.MethodDelete, u, authHeader(t, c, u, owner.PublicKey, owner.PrivateKey, 1))
	wantStatus(t, resp, body, http.StatusUnauthorized)
	chals := resp.Header.Values("WWW-Authenticate")
	if len(chals) != 2 {
		t.Fatalf("challenges %q", chals)
	}
	for _, v := range chals {
		fresh, err := digest.ParseChallenge(v)
		if err != nil || !fresh.Stale || fresh.Nonce == c.Nonce {
			t.Errorf("challenge %q: want stale=true and a new nonce (%v)", v, err)
		}
	}
	if !has(srv.Keys(), key) {
		t.Error("deleted with a stale nonce")
	}
	// icholy/digest answers the stale challenge by itself.
	client, _ := digestClient(t, owner.PublicKey, owner.PrivateKey)
	resp, body = del(t, client, u)
	wantStatus(t, resp, body, http.StatusNoContent)
}

// TestTokenEndpointFollowsRFC6749: no-cache headers on a token (§5.1), and
// invalid_request for a missing grant_type (§5.2).
func TestTokenEndpointFollowsRFC6749(t *testing.T) {
	srv := atlastest.NewServer()
	defer srv.Close()
	owner := srv.Owner()
	post := func(form string) (*http.Response, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+contract.TokenPath(), strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(owner.ClientID, owner.ClientSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatalf("token endpoint body: %v", err)
		}
		return resp, body
	}
	resp, body := post("grant_type=client_credentials")
	if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Pragma") != "no-cache" || body["access_token"] == nil {
		t.Errorf("token answer: headers %v body keys %d", resp.Header, len(body))
	}
	resp, body = post("")
	if resp.StatusCode != http.StatusBadRequest || body["error"] != "invalid_request" {
		t.Errorf("missing grant_type: %d %v", resp.StatusCode, body["error"])
	}
}
