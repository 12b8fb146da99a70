package authedit_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/authedit"
)

// challenge is Atlas's 401 to a request without credentials.
var challenge = answer{http.StatusUnauthorized, http.Header{
	"Content-Type": {"application/json"},
	"Www-Authenticate": {`Digest realm="MMS Public API", domain="", nonce="bm9uY2U", ` +
		`algorithm=MD5, qop="auth", stale=false`}},
	`{"detail":"You are not authorized for this resource.","error":401,` +
		`"errorCode":"UNEXPECTED_ERROR","reason":"Unauthorized"}`}

// A warmed digest Transport needs one round trip a request; a wrong key
// costs two and does not loop.
func TestDigestRoundTrips(t *testing.T) {
	srv := atlastest.NewTestServer(t)
	wrong := srv.Owner().APIKey()
	wrong.PrivateKey = "wrong-private-key"
	for _, tc := range []struct {
		creds authedit.APIKey
		want  string
	}{ // atlastest knows no organization 4888442a3354817a7320eb61: 404
		{srv.Owner().APIKey(), "[none 401 digest 404 digest 404 digest 404]"},
		{wrong, "[none 401 digest 401 digest 401 digest 401 digest 401 digest 401]"},
	} {
		srv.ResetRequests()
		tr := newTransport(t, srv.URL, tc.creds)
		for range 3 {
			if _, _, err := del(t, tr, srv.URL); err != nil {
				t.Fatal(err)
			}
		}
		var got []string
		for _, r := range srv.Requests() {
			got = append(got, fmt.Sprint(r.Auth, " ", r.Status))
		}
		if fmt.Sprint(got) != tc.want {
			t.Errorf("the server saw %v, want %v", got, tc.want)
		}
	}
}

// A 401 that icholy/digest must not answer comes back after one request,
// its body whole: a role error (challenge or not), one without a
// challenge, and one whose body is over 64 KiB, which is not read further
// before it is handed back.
func TestDigestHandsBack401s(t *testing.T) {
	notOwner := `{"error":401,"errorCode":"USER_UNAUTHORIZED","parameters":[]}`
	big := `{"errorCode":"UNEXPECTED_ERROR","detail":"` + strings.Repeat("x", 1<<20) + `"}`
	for name, a := range map[string]answer{
		"role error":                  {http.StatusUnauthorized, nil, notOwner},
		"role error with a challenge": {http.StatusUnauthorized, challenge.header, notOwner},
		"no challenge":                {http.StatusUnauthorized, nil, "no"},
		"a long body":                 {http.StatusUnauthorized, challenge.header, big},
	} {
		h := &canned{answers: []answer{challenge, {status: http.StatusNoContent}, a}}
		url := serve(t, h)
		tr := newTransport(t, url, key)
		if res, _, err := del(t, tr, url); err != nil || res.StatusCode != 204 {
			t.Fatalf("%s: warm-up: %v, %v", name, res, err)
		}
		res, body, err := del(t, tr, url)
		if err != nil || res.StatusCode != 401 || body != a.body || h.api.Load() != 3 {
			t.Errorf("%s: %v, %d-byte body, after %d requests; want the 401 whole after 3",
				name, err, len(body), h.api.Load())
		}
	}
}
