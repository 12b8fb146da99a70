package atlastest_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/icholy/digest"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/gen"
)

// Attacks on authentication that TestDigestProtocol, TestServiceAccount,
// TestTokenExpires and TestAuthorizationAndLookup leave out. Each is one
// DELETE of a key that exists, through the validating client: the answer
// must be the documented 401 (or 403) with a valid ApiError, and nothing
// may change.

// sign builds digest credentials for method and u from c, by hand.
func sign(t *testing.T, c *digest.Challenge, method, u, user, pass string, nc int) *digest.Credentials {
	t.Helper()
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := digest.Digest(c, digest.Options{Method: method, URI: parsed.RequestURI(), Count: nc, Username: user, Password: pass})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

// challengeFor fetches a fresh challenge for alg from srv.
func challengeFor(t *testing.T, srv *atlastest.Server, alg string) *digest.Challenge {
	t.Helper()
	resp, body := del(t, plain(t), opURL(srv, srv.OrgID(), srv.Keys()[0], ""))
	wantStatus(t, resp, body, http.StatusUnauthorized)
	for _, v := range resp.Header.Values("WWW-Authenticate") {
		if c, err := digest.ParseChallenge(v); err == nil && c.Algorithm == alg {
			return c
		}
	}
	t.Fatalf("no %s challenge in %q", alg, resp.Header.Values("WWW-Authenticate"))
	return nil
}

func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// signing says how TestAuthenticationAttacks signs one header: chal edits
// the challenge before signing, cred the credentials after.
type signing struct {
	srv                 *atlastest.Server
	alg, method, target string
	user, pass          string
	chal                func(*digest.Challenge)
	cred                func(*digest.Credentials)
}

func TestAuthenticationAttacks(t *testing.T) {
	// Both algorithms and a Bearer challenge: every kind of refusal is offered.
	srv := atlastest.NewServer(atlastest.WithDigestAlgorithms("MD5", "SHA-256"), atlastest.WithBearerChallenge(),
		atlastest.WithRateLimit(100, 1, time.Hour), atlastest.WithOrgs(2))
	defer srv.Close()
	otherOrg, _, otherMember := srv.OtherOrg()
	otherKey := srv.OrgKeys(otherOrg)[0]
	// A second server: its nonces and tokens are foreign to srv.
	foreign := atlastest.NewServer()
	defer foreign.Close()
	// Only SHA-256 offered: MD5 would be a downgrade.
	strict := atlastest.NewServer(atlastest.WithDigestAlgorithms("SHA-256"))
	defer strict.Close()

	owner, member := srv.Owner(), srv.Member()
	org, key := srv.OrgID(), srv.Keys()[0]
	u := opURL(srv, org, key, "")
	ownerToken := fetchToken(t, srv, owner.ClientID, owner.ClientSecret)
	memberToken := fetchToken(t, srv, member.ClientID, member.ClientSecret)
	otherMemberToken := fetchToken(t, srv, otherMember.ClientID, otherMember.ClientSecret)
	foreignToken := fetchToken(t, foreign, foreign.Owner().ClientID, foreign.Owner().ClientSecret)
	huge := strings.Repeat("A", 64<<10)

	// signed builds a digest header from a fresh challenge; zero fields of
	// o default to srv, SHA-256, a DELETE of the server's first key and the
	// server's owner key.
	signed := func(o signing) string {
		t.Helper()
		if o.srv == nil {
			o.srv = srv
		}
		if o.target == "" {
			o.target = opURL(o.srv, o.srv.OrgID(), o.srv.Keys()[0], "")
		}
		if o.alg == "" {
			o.alg = "SHA-256"
		}
		if o.method == "" {
			o.method = http.MethodDelete
		}
		if o.user == "" {
			o.user, o.pass = o.srv.Owner().PublicKey, o.srv.Owner().PrivateKey
		}
		c := challengeFor(t, o.srv, o.alg)
		if o.chal != nil {
			o.chal(c)
		}
		cred := sign(t, c, o.method, o.target, o.user, o.pass, 1)
		if o.cred != nil {
			o.cred(cred)
		}
		return cred.String()
	}

	type attack struct {
		name   string
		srv    *atlastest.Server // default srv
		target string            // default: the server's first key
		auth   []string          // Authorization header values
		status int               // default 401
		detail string            // a word the logged AuthError must contain
	}
	attacks := []attack{
		{name: "digest signed for GET, sent as DELETE", detail: "password",
			auth: []string{signed(signing{method: http.MethodGet})}},
		{name: "digest signed without the query, sent with envelope=true", target: opURL(srv, org, key, "envelope=true"), detail: "uri",
			auth: []string{signed(signing{})}},
		{name: "digest for another key's uri", detail: "uri",
			auth: []string{signed(signing{target: opURL(srv, org, srv.Keys()[1], "")})}},
		{name: "member's username with the owner's response", detail: "password",
			auth: []string{signed(signing{cred: func(c *digest.Credentials) { c.Username = member.PublicKey }})}},
		{name: "owner's username with the member's response", detail: "password",
			auth: []string{signed(signing{user: member.PublicKey, pass: member.PrivateKey, cred: func(c *digest.Credentials) { c.Username = owner.PublicKey }})}},
		{name: "member's credentials, owner's username appended as a second parameter", detail: "password",
			auth: []string{signed(signing{user: member.PublicKey, pass: member.PrivateKey}) + `, username="` + owner.PublicKey + `"`}},
		{name: "nonce of another server", detail: "nonce",
			auth: []string{signed(signing{chal: func(c *digest.Challenge) { c.Nonce = challengeFor(t, foreign, "MD5").Nonce }})}},
		{name: "nonce truncated", detail: "nonce",
			auth: []string{signed(signing{chal: func(c *digest.Challenge) { c.Nonce = c.Nonce[:len(c.Nonce)-4] }})}},
		{name: "algorithm=MD5 on a SHA-256 hash", detail: "password",
			auth: []string{signed(signing{cred: func(c *digest.Credentials) { c.Algorithm = "MD5" }})}},
		{name: "algorithm=SHA-256 on an MD5 hash", detail: "password",
			auth: []string{signed(signing{alg: "MD5", cred: func(c *digest.Credentials) { c.Algorithm = "SHA-256" }})}},
		{name: "MD5 downgrade on a SHA-256-only server", srv: strict, detail: "algorithm",
			auth: []string{signed(signing{srv: strict, chal: func(c *digest.Challenge) { c.Algorithm = "MD5" }})}},
		{name: "no algorithm (MD5) on a SHA-256-only server", srv: strict, detail: "algorithm",
			auth: []string{signed(signing{srv: strict, chal: func(c *digest.Challenge) { c.Algorithm = "" }})}},
		{name: "algorithm=SHA-512-256, never offered", detail: "algorithm",
			auth: []string{signed(signing{chal: func(c *digest.Challenge) { c.Algorithm = "SHA-512-256" }})}},
		{name: "qop=auth-int", detail: "qop",
			auth: []string{signed(signing{chal: func(c *digest.Challenge) { c.QOP = []string{"auth-int"} }})}},
		{name: "qop=auth without cnonce", detail: "qop",
			auth: []string{signed(signing{cred: func(c *digest.Credentials) { c.Cnonce = "" }})}},
		{name: "nc=0", detail: "qop",
			auth: []string{strings.Replace(signed(signing{}), "nc=00000001", "nc=00000000", 1)}},
		{name: "userhash=true", detail: "qop",
			auth: []string{signed(signing{cred: func(c *digest.Credentials) { c.Userhash = true }})}},
		{name: "64 KB digest username", detail: "password",
			auth: []string{signed(signing{cred: func(c *digest.Credentials) { c.Username = huge }})}},
		{name: "64 KB bearer token", detail: "unknown", auth: []string{"Bearer " + huge}},
		{name: "64 KB unknown scheme", detail: "not accepted", auth: []string{huge}},
		{name: "64 KB Basic", detail: "not accepted", auth: []string{"Basic " + huge}},
		{name: "forged bearer token", detail: "unknown", auth: []string{"Bearer " + randomToken()}},
		{name: "bearer token with a byte appended", detail: "unknown", auth: []string{"Bearer " + ownerToken + "A"}},
		{name: "bearer token cut by a byte", detail: "unknown", auth: []string{"Bearer " + ownerToken[:len(ownerToken)-1]}},
		{name: "bearer token quoted", detail: "unknown", auth: []string{`Bearer "` + ownerToken + `"`}},
		{name: "bearer token of another server", detail: "unknown", auth: []string{"Bearer " + foreignToken}},
		{name: "client secret as bearer token", detail: "unknown", auth: []string{"Bearer " + owner.ClientSecret}},
		{name: "API private key as bearer token", detail: "unknown", auth: []string{"Bearer " + owner.PrivateKey}},
		{name: "empty bearer token", detail: "unknown", auth: []string{"Bearer "}},
		{name: "valid bearer and junk, two headers", detail: "More than one", auth: []string{"Bearer " + ownerToken, "Bearer x"}},
		{name: "valid bearer twice", detail: "More than one", auth: []string{"Bearer " + ownerToken, "Bearer " + ownerToken}},
		{name: "Basic with the service account's client id and secret", detail: "not accepted",
			auth: []string{"Basic " + base64.StdEncoding.EncodeToString([]byte(owner.ClientID+":"+owner.ClientSecret))}},
		{name: "member's token on another org", target: opURL(srv, otherOrg, otherKey, ""), status: http.StatusForbidden,
			auth: []string{"Bearer " + memberToken}},
		{name: "other org's member token on this org", status: http.StatusForbidden, auth: []string{"Bearer " + otherMemberToken}},
		{name: "other org's member token on its own org", target: opURL(srv, otherOrg, otherKey, ""), status: http.StatusForbidden,
			auth: []string{"Bearer " + otherMemberToken}},
	}

	orgs := map[*atlastest.Server][]string{srv: {org, otherOrg}, strict: {strict.OrgID()}, foreign: {foreign.OrgID()}}
	before := map[*atlastest.Server]map[string][]string{}
	for s, os := range orgs {
		before[s] = snapshot(s, os...)
	}
	forbidden := 0
	client := plain(t) // validates every answer against the spec
	for _, a := range attacks {
		s, target, status := a.srv, a.target, a.status
		if s == nil {
			s = srv
		}
		if target == "" {
			target = opURL(s, s.OrgID(), s.Keys()[0], "")
		}
		if status == 0 {
			status = http.StatusUnauthorized
		}
		resp, body := do(t, client, http.MethodDelete, target, http.Header{"Authorization": a.auth})
		if resp.StatusCode != status {
			t.Errorf("%s: status %d, want %d: %.300s", a.name, resp.StatusCode, status, body)
			continue
		}
		var e gen.ApiError
		if err := json.Unmarshal(body, &e); err != nil || e.Detail == nil {
			t.Errorf("%s: not an ApiError: %.300s", a.name, body)
		}
		// Atlas's 401 never says why; the request log does.
		log := s.Requests()
		if why := log[len(log)-1].AuthError; !strings.Contains(why, a.detail) || status != http.StatusUnauthorized && why != "" {
			t.Errorf("%s: logged AuthError %q does not mention %q", a.name, why, a.detail)
		}
		if len(body) > 2<<10 {
			t.Errorf("%s: %d-byte answer echoes the credentials", a.name, len(body))
		}
		if status == http.StatusForbidden {
			forbidden++
			if e.ErrorCode != "USER_UNAUTHORIZED" {
				t.Errorf("%s: errorCode %s", a.name, e.ErrorCode)
			}
			continue
		}
		var digests, bearers int
		for _, v := range resp.Header.Values("WWW-Authenticate") {
			if len(v) > 1<<10 {
				t.Errorf("%s: %d-byte challenge echoes the credentials", a.name, len(v))
			}
			switch {
			case strings.HasPrefix(v, "Digest "):
				if c, err := digest.ParseChallenge(v); err != nil || c.Stale {
					t.Errorf("%s: challenge %q (%v): a rejected digest is not stale", a.name, v, err)
				}
				digests++
			case strings.HasPrefix(v, "Bearer "):
				bearers++
			}
		}
		// A digest challenge always, as Atlas; a Bearer one only WithBearerChallenge (srv).
		if digests == 0 || (bearers > 0) != (s == srv) {
			t.Errorf("%s: challenges %q", a.name, resp.Header.Values("WWW-Authenticate"))
		}
	}
	for s, os := range orgs {
		sameState(t, before[s], snapshot(s, os...))
	}
	for s := range orgs {
		for _, r := range s.Requests() {
			if r.Status >= 500 {
				t.Errorf("logged %+v", r)
			}
		}
	}

	// The same signing, unedited, is accepted: the refusals above come from
	// the edits.
	for _, s := range []*atlastest.Server{srv, strict} {
		k := s.Keys()[1]
		target := opURL(s, s.OrgID(), k, "")
		resp, body := do(t, client, http.MethodDelete, target, http.Header{"Authorization": {signed(signing{srv: s, target: target})}})
		wantStatus(t, resp, body, http.StatusNoContent)
	}

	// Neither 401s nor 403s spend a rate-limit token (doc.go: the role check
	// comes before the rate limit): the default org's bucket shows only the
	// digest delete above and this one.
	resp, body := del(t, bearerClient(t, ownerToken), u)
	wantStatus(t, resp, body, http.StatusNoContent)
	if got, want := resp.Header.Get("RateLimit-Remaining"), strconv.Itoa(100-1-1); got != want {
		t.Errorf("RateLimit-Remaining %s, want %s: %d 403s spent tokens", got, want, forbidden)
	}
}

// TestHugeHeaderBeyondNetHTTPLimit: past net/http's header limit (1 MB and some slack) the
// answer is net/http's own 431, before the handler; never a 5xx.
func TestHugeHeaderBeyondNetHTTPLimit(t *testing.T) {
	t.Parallel() // net/http holds the refused connection open for half a second
	srv := atlastest.NewServer()
	defer srv.Close()
	before := snapshot(srv, srv.OrgID())
	// Raw: this answer is net/http's, outside the spec.
	resp, _ := rawDo(t, srv, http.MethodDelete, "/api/atlas/v2/orgs/"+srv.OrgID()+"/apiKeys/"+srv.Keys()[0],
		http.Header{"Authorization": {"Bearer " + strings.Repeat("A", 1<<20+64<<10)}})
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status %d, want 431", resp.StatusCode)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("the handler saw %d requests", n)
	}
	sameState(t, before, snapshot(srv, srv.OrgID()))
}
