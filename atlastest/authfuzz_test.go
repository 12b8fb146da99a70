package atlastest

import (
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/icholy/digest"
)

// Fuzz targets for the parsing and checking of Authorization headers
// (authenticate, verifyDigest, verifyBearer), called directly.

// fuzzRequest builds the request a header is checked against, as the
// server would see it. A target that is not a printable-ASCII origin form
// (which a digest client could not quote faithfully) falls back to the
// operation's path.
func fuzzRequest(s *Server, method, target string) *http.Request {
	path := "/api/atlas/v2/orgs/" + s.OrgID() + "/apiKeys/" + s.Keys()[0]
	r, err := http.NewRequest(method, "http://example.test"+target, nil)
	if err != nil || r.URL.Host != "example.test" || target == "" || !printable(r.URL.RequestURI()) {
		r, _ = http.NewRequest(method, "http://example.test"+path, nil)
	}
	r.RequestURI = r.URL.RequestURI()
	return r
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// newNonce issues a nonce, as a 401 would.
func newNonce(s *Server) string {
	c, _ := digest.ParseChallenge(s.digestChallenges(false)[0])
	return c.Nonce
}

// checkFailure: a refusal says why in a bounded detail and offers
// challenges a client can parse.
func checkFailure(t *testing.T, s *Server, f *authFailure, header string) {
	t.Helper()
	if f == nil || f.detail == "" || len(f.detail) > 512 {
		t.Fatalf("header %.200q: failure %+v", header, f)
	}
	a := s.unauthorized(f)
	if a.row.Status != http.StatusUnauthorized || a.row.ErrorCode == "" || len(a.header.Values("WWW-Authenticate")) == 0 {
		t.Fatalf("header %.200q: answer %+v", header, a)
	}
	for _, v := range a.header.Values("WWW-Authenticate") {
		if _, err := digest.ParseChallenge(v); strings.HasPrefix(v, "Digest ") && err != nil {
			t.Fatalf("challenge %q does not parse: %v", v, err)
		}
		if len(v) > 1024 {
			t.Fatalf("challenge %d bytes long: the header is echoed", len(v))
		}
	}
}

// sameCredentials: two digest headers say the same thing to a verifier
// (which ignores opaque: it issues none).
func sameCredentials(a, b *digest.Credentials) bool {
	alg := func(c *digest.Credentials) string {
		if c.Algorithm == "" {
			return "MD5"
		}
		return strings.ToUpper(c.Algorithm)
	}
	return a.Username == b.Username && a.Realm == b.Realm && a.Nonce == b.Nonce && a.URI == b.URI &&
		a.Response == b.Response && a.Cnonce == b.Cnonce && a.QOP == b.QOP &&
		a.Nc == b.Nc && a.Userhash == b.Userhash && alg(a) == alg(b)
}

// FuzzDigestAuthorization checks digest headers:
//
//   - raw, with {nonce} and {user} replaced by a fresh nonce and the
//     owner's public key, never authenticates: the fuzzer does not know the
//     owner's private key;
//   - a header a legitimate client (icholy/digest) builds for the fuzzed
//     target, nc, cnonce and algorithm authenticates as the owner, once: a
//     replay, or the same header on a GET or for another target, is refused;
//   - that header with edit spliced in at at authenticates only if it
//     parses to the very same credentials (it then spends the nc).
func FuzzDigestAuthorization(f *testing.F) {
	s := New(WithNonceTTL(time.Hour), WithDigestAlgorithms("MD5", "SHA-256"))
	owner := s.Owner()
	path := "/api/atlas/v2/orgs/" + s.OrgID() + "/apiKeys/" + s.Keys()[0]
	f.Add(`Digest username="{user}", realm="MMS Public API", nonce="{nonce}", uri="`+path+`", algorithm=SHA-256, cnonce="c", qop=auth, nc=00000001, response="00"`,
		path, "0a4d55a8d778e5022fab701977c5d840bbc486d0", uint32(1), false, uint16(0), "")
	f.Add(`Digest username="{user}", realm="MMS Public API", nonce="{nonce}", uri="/", response="x"`,
		path+"?envelope=true", "abc", uint32(7), true, uint16(9), "username=")
	f.Add(`Digest {nonce}`, path, "cnonce", uint32(3), true, uint16(0), "DIGEST ") // equivalent: spends the nc
	// An opaque the server never issued is ignored: adding one spends the nc.
	f.Add(`Digest {nonce}`, path, "c", uint32(0), false, uint16(0xffff), `, opaque="Z"`)
	f.Add(`digest nc=zz`, "/", "\x00\"\\", uint32(0x7fffffff), false, uint16(200), `, uri="/"`)
	f.Add(`Digest realm="MMS Public API", realm="x", nonce="{nonce}", nonce="{nonce}"`, path, "", uint32(0), true, uint16(60), `algorithm=sha-256`)
	f.Add(`Bearer {nonce}`, "/%zz", "c", uint32(64), false, uint16(12), `"`)
	f.Add(`Digest username="{user}", nc=-1, qop=auth, cnonce="c", realm="MMS Public API"`, path, "c", uint32(2), false, uint16(0xffff), "\x00")
	f.Fuzz(func(t *testing.T, raw, target, cnonce string, nc uint32, md5 bool, at uint16, edit string) {
		req := fuzzRequest(s, http.MethodDelete, target)
		withHeader := func(r *http.Request, h string) *http.Request {
			r = r.Clone(r.Context())
			r.Header = http.Header{"Authorization": {h}}
			return r
		}

		// Forged: never authenticates.
		h := strings.NewReplacer("{nonce}", newNonce(s), "{user}", owner.PublicKey).Replace(raw)
		if p, fail := s.authenticate(withHeader(req, h)); p != nil {
			t.Fatalf("forged header %q authenticated", h)
		} else {
			checkFailure(t, s, fail, h)
		}

		// Legitimate: round trip, once.
		alg := "SHA-256"
		if md5 {
			alg = "MD5"
		}
		if !printable(cnonce) { // a client's cnonce is printable
			cnonce = hex.EncodeToString([]byte(cnonce))
		}
		ch := &digest.Challenge{Realm: Realm, Nonce: newNonce(s), Algorithm: alg, QOP: []string{"auth"}}
		cred, err := digest.Digest(ch, digest.Options{Method: req.Method, URI: req.URL.RequestURI(), Count: int(nc%0x7fffffff) + 1,
			Username: owner.PublicKey, Password: owner.PrivateKey, Cnonce: cnonce})
		if err != nil {
			t.Fatal(err)
		}
		legit := cred.String()
		if p, _ := s.authenticate(withHeader(fuzzRequest(s, http.MethodGet, target), legit)); p != nil {
			t.Fatalf("header for DELETE %s authenticated a GET: %q", req.URL.RequestURI(), legit)
		}
		elsewhere := withHeader(req, legit)
		elsewhere.URL.RawQuery += "x"
		elsewhere.RequestURI = elsewhere.URL.RequestURI()
		if p, _ := s.authenticate(elsewhere); p != nil {
			t.Fatalf("header for %s authenticated a request for %s: %q", req.URL.RequestURI(), elsewhere.RequestURI, legit)
		}

		// Tampered: only an equivalent header authenticates.
		spent := false
		if i := min(int(at), len(legit)); edit != "" {
			tampered := legit[:i] + edit + legit[min(i+len(edit), len(legit)):]
			p, fail := s.authenticate(withHeader(req, tampered))
			if p != nil {
				got, err := digest.ParseCredentials(tampered)
				if err != nil || !sameCredentials(got, cred) {
					t.Fatalf("tampered header authenticated:\n%q\nlegitimate:\n%q", tampered, legit)
				}
				spent = true
			} else {
				checkFailure(t, s, fail, tampered)
			}
		}
		p, fail := s.authenticate(withHeader(req, legit))
		switch {
		case spent && p != nil:
			t.Fatalf("replay of an equivalent header authenticated: %q", legit)
		case !spent && p == nil:
			t.Fatalf("legitimate header refused (%s): %q", fail.detail, legit)
		case p != nil && (p.org != s.def || !p.owner):
			t.Fatalf("legitimate header authenticated as %+v", p)
		}
		if p, fail := s.authenticate(withHeader(req, legit)); p != nil || !strings.Contains(fail.detail, "already used") {
			t.Fatalf("replay: %+v %+v", p, fail)
		}
	})
}

// FuzzBearerAuthorization checks Bearer headers, one or two of them, with
// {token} and {revoked} replaced by a live token of the owner and a revoked
// one: a header authenticates only if it carries the live token and nothing
// else but the scheme and white space, and "Bearer <token>" always does.
func FuzzBearerAuthorization(f *testing.F) {
	s := New()
	token := func() string {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/api/oauth/token", strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(s.Owner().ClientID), url.QueryEscape(s.Owner().ClientSecret))
		s.Handler().ServeHTTP(rec, req)
		tok, ok := strings.CutPrefix(rec.Body.String(), `{"access_token":"`)
		tok, _, _ = strings.Cut(tok, `"`)
		if !ok || tok == "" {
			f.Fatalf("token endpoint: %d %s", rec.Code, rec.Body)
		}
		return tok
	}
	live, revoked := token(), token()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/api/oauth/revoke", strings.NewReader("token="+revoked))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(s.Owner().ClientID), url.QueryEscape(s.Owner().ClientSecret))
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		f.Fatalf("revoke: %d", rec.Code)
	}

	for _, seed := range [][2]string{
		{"Bearer {token}", ""},
		{"bearer   {token}  ", ""},
		{"Bearer {revoked}", ""},
		{"Bearer {token}", "Bearer {token}"},
		{"Bearer {token}x", ""},
		{"Bearer\t{token}", ""},
		{"Bearer", ""},
		{`Bearer "{token}"`, ""},
		{"Basic {token}", ""},
		{"{token}", ""},
		{"Bearer {token}{token}", ""},
		{"Digest {token}", ""},
	} {
		f.Add(seed[0], seed[1])
	}
	base := fuzzRequest(s, http.MethodDelete, "")
	fill := strings.NewReplacer("{token}", live, "{revoked}", revoked)
	f.Fuzz(func(t *testing.T, first, second string) {
		hs := []string{fill.Replace(first)}
		if second != "" {
			hs = append(hs, fill.Replace(second))
		}
		r := base.Clone(base.Context())
		r.Header = http.Header{"Authorization": hs}
		p, fail := s.authenticate(r)

		// Only the live token, with nothing else but the scheme and blanks.
		h := hs[0]
		rest := strings.Replace(h, live, "", 1)
		scheme := strings.ToLower(strings.TrimSpace(rest))
		onlyToken := len(hs) == 1 && strings.Contains(h, live) && scheme == "bearer" && strings.HasPrefix(strings.ToLower(h), "bearer")
		if p != nil && !onlyToken {
			t.Fatalf("authenticated %q", hs)
		}
		if p == nil {
			checkFailure(t, s, fail, strings.Join(hs, "\n"))
		}
		if len(hs) == 1 && h == "Bearer "+live && (p == nil || p.org != s.def || !p.owner) {
			t.Fatalf("the owner's live token was refused: %+v %+v", p, fail)
		}
	})
}
