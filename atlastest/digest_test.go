package atlastest_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/icholy/digest"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/internal/behavior"
)

func TestDigestDelete(t *testing.T) {
	for _, alg := range []string{"SHA-256", "MD5"} {
		t.Run(alg, func(t *testing.T) {
			srv := atlastest.NewServer(atlastest.WithDigestAlgorithms("MD5", "SHA-256"))
			defer srv.Close()
			owner := srv.Owner()
			client, ct := digestClient(t, owner.PublicKey, owner.PrivateKey)
			// The server offers MD5 first; pick the challenge under test.
			client.Transport.(*digest.Transport).FindChallenge = func(h http.Header) (*digest.Challenge, error) {
				for _, v := range h.Values("WWW-Authenticate") {
					if c, err := digest.ParseChallenge(v); err == nil && c.Algorithm == alg {
						return c, nil
					}
				}
				return nil, digest.ErrNoChallenge
			}
			key := srv.Keys()[0]
			projects := srv.KeyProjects(key)
			if len(projects) == 0 {
				t.Fatalf("key %s has no projects", key)
			}

			resp, body := del(t, client, opURL(srv, srv.OrgID(), key, ""))
			wantStatus(t, resp, body, http.StatusNoContent)
			if resp.Header.Get("RateLimit-Limit") != "500" || resp.Header.Get("RateLimit-Remaining") != "499" {
				t.Errorf("rate-limit headers %v", resp.Header)
			}
			if has(srv.OrgKeys(srv.OrgID()), key) || has(srv.Keys(), key) {
				t.Errorf("key %s is still in the organization", key)
			}
			if got := srv.KeyProjects(key); got != nil {
				t.Errorf("KeyProjects after delete = %v", got)
			}
			for _, p := range projects {
				if has(srv.ProjectKeys(p), key) {
					t.Errorf("key %s is still in project %s", key, p)
				}
			}

			gone, _ := behavior.Lookup(behavior.KeyNotFound)
			resp, body = del(t, client, opURL(srv, srv.OrgID(), key, ""))
			wantStatus(t, resp, body, gone.Status)
			if code := errorCode(t, body); code != gone.ErrorCode {
				t.Errorf("errorCode %s, want %s", code, gone.ErrorCode)
			}

			// On the wire: one 401 offering both algorithms, MD5 first,
			// then the algorithm under test on both requests (nc 1 and 2).
			ex := ct.exchanges()
			if len(ex) != 3 || ex[0].Status != http.StatusUnauthorized {
				t.Fatalf("exchanges %+v", ex)
			}
			chals := ex[0].Header.Values("WWW-Authenticate")
			if len(chals) != 2 || !strings.Contains(chals[0], "algorithm=MD5") || !strings.Contains(chals[1], "algorithm=SHA-256") {
				t.Errorf("challenges %q", chals)
			}
			for _, e := range ex[1:] {
				c, err := digest.ParseCredentials(e.Authorization)
				if err != nil || c.Algorithm != alg || c.Realm != atlastest.Realm {
					t.Errorf("credentials %q: %v", e.Authorization, err)
				}
			}
		})
	}
}

func TestDigestAlgorithmsOption(t *testing.T) {
	srv := atlastest.NewServer(atlastest.WithDigestAlgorithms("sha-256"))
	defer srv.Close()
	owner := srv.Owner()
	client, ct := digestClient(t, owner.PublicKey, owner.PrivateKey)
	resp, body := del(t, client, opURL(srv, srv.OrgID(), srv.Keys()[0], ""))
	wantStatus(t, resp, body, http.StatusNoContent)
	chals := ct.exchanges()[0].Header.Values("WWW-Authenticate")
	if len(chals) != 1 || !strings.Contains(chals[0], "algorithm=SHA-256") {
		t.Fatalf("challenges %q", chals)
	}

	// MD5 credentials, which the server did not offer: refused, the key kept.
	c, _ := digest.ParseChallenge(chals[0])
	c.Algorithm = "MD5"
	key := srv.Keys()[0]
	u := opURL(srv, srv.OrgID(), key, "")
	resp, body = do(t, plain(t), http.MethodDelete, u, authHeader(t, c, u, owner.PublicKey, owner.PrivateKey, 1))
	wantStatus(t, resp, body, http.StatusUnauthorized)
	if !strings.Contains(authError(srv), "not offered") || !has(srv.Keys(), key) {
		t.Errorf("MD5 on a SHA-256-only server: %q", authError(srv))
	}
}
