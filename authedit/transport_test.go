package authedit_test

import (
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/atlascontract/deleteorgapikey/authedit"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
	"github.com/atlascontract/deleteorgapikey/internal/memnet"
)

const opPath = "/api/atlas/v2/orgs/4888442a3354817a7320eb61/apiKeys/32b6e34b3d91647abb20e7b8"

var (
	key     = authedit.APIKey{PublicKey: "pub", PrivateKey: "private-key"}
	account = authedit.ServiceAccount{ClientID: "id", ClientSecret: "client-secret"}
)

// answer is one canned answer.
type answer struct {
	status int
	header http.Header
	body   string
}

// canned is the package's one canned-answer server. The token endpoint
// answers with the next of tokens, any other path with the next of
// answers; the last of each repeats. It counts the requests of each kind.
type canned struct {
	tokens          []answer
	answers         []answer
	api, tokenCalls atomic.Int32
}

// token is a token endpoint's answer with the given JSON body.
func token(body string) answer {
	return answer{http.StatusOK, http.Header{"Content-Type": {"application/json"}}, body}
}

var goodToken = token(`{"access_token":"t0k3n","token_type":"bearer","expires_in":3600}`)

func (c *canned) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	list, n := c.answers, &c.api
	if r.URL.Path == contract.TokenPath() {
		list, n = c.tokens, &c.tokenCalls
	}
	a := list[min(int(n.Add(1)), len(list))-1]
	maps.Copy(w.Header(), a.header)
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.body)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

func serve(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func newTransport(t *testing.T, baseURL string, creds authedit.Credentials) *authedit.Transport {
	t.Helper()
	tr, err := authedit.NewTransport(baseURL, creds)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// del sends the operation through tr and returns the answer, its body read.
func del(t *testing.T, tr http.RoundTripper, baseURL string) (*http.Response, string, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodDelete, baseURL+opPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", contract.AcceptHeader())
	res, err := tr.RoundTrip(req)
	if err != nil {
		return nil, "", err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res, string(body), err
}

// bubbleURL is the base URL of a server in memory (internal/memnet).
const bubbleURL = memnet.URL

// inBubble serves h in memory and returns a Transport with creds to it.
func inBubble(t *testing.T, h http.Handler, creds authedit.Credentials) *authedit.Transport {
	base, stop := memnet.Serve(h)
	t.Cleanup(stop)
	tr := newTransport(t, bubbleURL, creds)
	tr.Base = base
	return tr
}

// IsRoleError knows every role error the spec's 401 documents, and
// nothing else: not the refused credentials' UNEXPECTED_ERROR, not "".
func TestIsRoleError(t *testing.T) {
	res := contract.MustLoad().Op.Responses.Status(http.StatusUnauthorized).Value
	examples := res.Content.Get("application/json").Examples
	if len(examples) < 2 {
		t.Fatalf("the spec's 401 names %d examples", len(examples))
	}
	for name, ex := range examples {
		code, _ := ex.Value.Value.(map[string]any)["errorCode"].(string)
		if want := code != "UNEXPECTED_ERROR"; authedit.IsRoleError(code) != want {
			t.Errorf("the 401 example %s: IsRoleError(%q) = %v", name, code, !want)
		}
	}
	for _, code := range []string{"", "user_unauthorized", "UNEXPECTED_ERROR", "ORG_NOT_FOUND"} {
		if authedit.IsRoleError(code) {
			t.Errorf("IsRoleError(%q) = true", code)
		}
	}
}

func TestNewTransportRefusesBaseURLs(t *testing.T) {
	for _, u := range []string{"", "cloud.mongodb.com", "ftp://cloud.mongodb.com", "https://",
		"https://user:pass@cloud.mongodb.com", "https://cloud.mongodb.com?x=1",
		"https://cloud.mongodb.com#top", "https://cloud mongodb.com"} {
		_, err := authedit.NewTransport(u, key)
		if err == nil || strings.Contains(err.Error(), "pass@") {
			t.Errorf("NewTransport(%q): %v, want an error without the password", u, err)
		}
	}
}

// Cleartext http goes to loopback only, unless allowed; nothing is sent
// otherwise. Credentials go to the base URL's origin only.
func TestWhereRequestsGo(t *testing.T) {
	var seen []string
	base := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		res := &http.Response{StatusCode: http.StatusNoContent, Body: http.NoBody, Request: req}
		if req.URL.Path == contract.TokenPath() {
			res.StatusCode, res.Header = http.StatusOK, goodToken.header
			res.Body = io.NopCloser(strings.NewReader(goodToken.body))
			return res, nil
		}
		seen = append(seen, req.URL.Host+" "+req.Header.Get("Authorization"))
		return res, nil
	})
	for _, tc := range []struct {
		base, url string
		allow     bool
		want      string // what Base saw; "" for nothing
	}{
		{"http://atlas.example", "http://atlas.example", false, ""},
		{"http://atlas.example", "http://atlas.example", true, "atlas.example Bearer t0k3n"},
		{"http://localhost:8080", "http://localhost:8080", false, "localhost:8080 Bearer t0k3n"},
		{"http://[::1]:8080", "http://[::1]:8080", false, "[::1]:8080 Bearer t0k3n"},
		{"https://atlas.example", "https://other.example", false, "other.example "},
		{"https://atlas.example", "https://ATLAS.example:443", false,
			"ATLAS.example:443 Bearer t0k3n"},
	} {
		tr := newTransport(t, tc.base, account)
		tr.Base, tr.AllowInsecureHTTP = base, tc.allow
		seen = nil
		_, _, err := del(t, tr, tc.url)
		var ce *authedit.CleartextError
		if tc.want == "" && (!errors.As(err, &ce) || seen != nil || !strings.Contains(
			err.Error(), `refusing cleartext http to "atlas.example"`)) {
			t.Errorf("%s: %v, Base saw %q; want a *CleartextError, nothing sent", tc.url, err, seen)
		}
		if tc.want != "" && (err != nil || len(seen) != 1 || seen[0] != tc.want) {
			t.Errorf("%s: %v, Base saw %q; want %q", tc.url, err, seen, tc.want)
		}
		tr.CloseIdleConnections()
	}
	if _, _, err := del(t, &authedit.Transport{}, "https://atlas.example"); err == nil {
		t.Error("the zero Transport sent a request")
	}
}
