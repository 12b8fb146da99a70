package deleteorgapikey

import (
	"context"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/authedit"
	"github.com/atlascontract/deleteorgapikey/internal/behavior"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
	"github.com/atlascontract/deleteorgapikey/internal/memnet"
)

// Well-formed ids that the canned answers do not care about.
const (
	orgID     = "4888442a3354817a7320eb61"
	keyID     = "32b6e34b3d91647abb20e7b8"
	absentKey = "0123456789abcdef01234567"
)

var digestKey = authedit.APIKey{PublicKey: "pub", PrivateKey: "private-key"}

// answer is one canned answer.
type answer struct {
	status int
	header http.Header
	body   string
}

// canned is the package's one canned-answer server, for answers atlastest
// does not give. The token endpoint issues a token; any other request gets
// the next answer, the last one repeated. It counts both kinds.
type canned struct {
	answers     []answer
	api, tokens atomic.Int32
}

func (c *canned) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/api/oauth/token" {
		c.tokens.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"t0k3n","token_type":"bearer","expires_in":3600}`)
		return
	}
	a := c.answers[min(int(c.api.Add(1)), len(c.answers))-1]
	maps.Copy(w.Header(), a.header)
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.body)
}

// serve starts a loopback server of h for the test.
func serve(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// bubbleURL is the base URL of a server in memory (internal/memnet).
const bubbleURL = memnet.URL

// inBubble serves h in memory and returns the transport that reaches it.
func inBubble(t *testing.T, h http.Handler) *http.Transport {
	tr, stop := memnet.Serve(h)
	t.Cleanup(stop)
	return tr
}

// bubbleClient is a client of h served in memory.
func bubbleClient(t *testing.T, h http.Handler, creds authedit.Credentials,
	opts ...Option) *Client {
	return newClient(t, bubbleURL, creds, append(opts, WithTransport(inBubble(t, h)))...)
}

func newClient(t *testing.T, baseURL string, creds authedit.Credentials, opts ...Option) *Client {
	t.Helper()
	c, err := NewClient(baseURL, creds, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// once is the option that turns retries off.
var once = WithRetry(RetryPolicy{MaxAttempts: 1})

func isOperation(r atlastest.Request) bool { return r.Method == http.MethodDelete }

// The values the client holds as constants are the spec's and the
// behaviour table's.
func TestValuesAreTheSpecs(t *testing.T) {
	params := contract.MustLoad().Op.Parameters
	pattern := func(name string) string {
		return params.GetByInAndName("path", name).Schema.Value.Pattern
	}
	code := func(s behavior.Situation) string {
		a, _ := behavior.Lookup(s)
		return a.ErrorCode
	}
	for _, tc := range []struct{ name, got, want string }{
		{"Accept", acceptHeader, contract.AcceptHeader()},
		{"key not found", codeKeyNotFound, code(behavior.KeyNotFound)},
		{"org not found", codeOrgNotFound, code(behavior.OrgNotFound)},
		{"token bucket", codeTokenBucket, code(behavior.RateLimited)},
		{"IP not allowed", codeIPNotAllowed, code(behavior.IPNotAllowed)},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %q, the spec says %q", tc.name, tc.got, tc.want)
		}
	}
	for _, name := range []string{"orgId", "apiUserId"} {
		re := regexp.MustCompile(pattern(name))
		for _, id := range []string{"4888442a3354817a7320eb61", "0123456789abcdef01234567",
			"4888442A3354817a7320eb61", "4888442a3354817a7320eb6", "4888442a3354817a7320eb612",
			"4888442a3354817a7320eb6g", "4888442a3354817a7320eb6/", "../../groups/x", "",
			"4888442a3354817a7320eb6\n", "4888442a3354817a7320eb6é"} {
			if got, want := isID(id), re.MatchString(id); got != want {
				t.Errorf("isID(%q) = %v, the spec's %s pattern says %v", id, got, name, want)
			}
		}
	}
	budget := contract.Budget{Capacity: defaultCapacity, Refill: defaultRefill,
		Period: defaultPeriod}
	if spec := contract.OperationBudget(); budget != spec {
		t.Errorf("budget %+v, the spec says %+v", budget, spec)
	}
}

// An id the spec refuses sends nothing, token requests included, through
// every method and with both kinds of credentials.
func TestIDsAreCheckedBeforeSending(t *testing.T) {
	srv := atlastest.NewTestServer(t)
	owner := srv.Owner()
	for _, creds := range []authedit.Credentials{owner.APIKey(), owner.ServiceAccount()} {
		c := newClient(t, srv.URL, creds)
		for _, ids := range [][2]string{{"..", keyID}, {orgID, "../../groups/x"},
			{orgID, strings.ToUpper(keyID)}, {orgID + "0", keyID}} {
			_, err := c.Remove(t.Context(), ids[0], ids[1])
			_, rerr := c.DeleteOrgApiKeyWithResponse(t.Context(), ids[0], ids[1], nil)
			all := (&Remover{Client: c}).RemoveAll(t.Context(), ids[0], ids[1:])[0].Err
			for _, err := range []error{err, rerr, all} {
				var pe *ParamError
				if !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), "invalid parameter: ") {
					t.Errorf("%q: %v, want a *ParamError", ids, err)
				}
			}
		}
	}
	if r := srv.Requests(); len(r) != 0 {
		t.Errorf("the server saw %d requests, want none: %+v", len(r), r)
	}
}

// Atlas never redirects this operation: a redirect is reported, not followed.
func TestRedirectsAreNotFollowed(t *testing.T) {
	h := &canned{answers: []answer{{status: http.StatusTemporaryRedirect,
		header: http.Header{"Location": {"https://elsewhere.example/"}}}}}
	_, err := newClient(t, serve(t, h), digestKey).Remove(t.Context(), orgID, keyID)
	var re *RedirectError
	if !errors.As(err, &re) || re.StatusCode != http.StatusTemporaryRedirect || h.api.Load() != 1 {
		t.Errorf("Remove: %v after %d requests, want a *RedirectError after 1", err, h.api.Load())
	}
}

// A body longer than any ApiError is read to 1 MiB and no further.
func TestBodiesAreCapped(t *testing.T) {
	long := answer{status: http.StatusBadRequest, body: strings.Repeat("x", 2<<20)}
	h := &canned{answers: []answer{long}}
	c := newClient(t, serve(t, h), digestKey)
	_, err := c.Remove(t.Context(), orgID, keyID)
	var tl *BodyTooLargeError
	if !errors.As(err, &tl) || tl.StatusCode != http.StatusBadRequest || tl.Limit != 1<<20 {
		t.Errorf("Remove: %v, want a *BodyTooLargeError for the 400", err)
	}
}

// A malformed optional header, or a body that is not the JSON its
// Content-Type says, does not cost the caller the answer's status.
func TestParsedAnswerSurvivesMalformedParts(t *testing.T) {
	h := &canned{answers: []answer{{status: http.StatusTooManyRequests, body: "<html>busy</html>",
		header: http.Header{"Content-Type": {"application/json"}, "Retry-After": {"soon"},
			"Ratelimit-Limit": {"many"}}}}}
	c := newClient(t, serve(t, h), digestKey, once)
	r, err := c.DeleteOrgApiKeyWithResponse(t.Context(), orgID, keyID, nil)
	if err != nil || r.StatusCode() != 429 || string(r.Body) != "<html>busy</html>" {
		t.Fatalf("DeleteOrgApiKeyWithResponse: %v, %v; want the 429 and its body", r, err)
	}
	if r.HTTPResponse.Header.Get("Retry-After") != "soon" {
		t.Errorf("HTTPResponse lost the header as sent")
	}
}

// WithTimeout bounds a call, and a Revoke, to the nanosecond of a
// synctest bubble's clock, however slow the server.
func TestTimeoutBoundsEachCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := atlastest.New()
		c := bubbleClient(t, srv.Handler(), srv.Owner().ServiceAccount(),
			WithTimeout(100*time.Millisecond))
		srv.SetLatency(10 * time.Second)
		start := time.Now()
		_, err := c.Remove(t.Context(), srv.OrgID(), srv.Keys()[0])
		took := time.Since(start)
		if !errors.Is(err, context.DeadlineExceeded) || took != 100*time.Millisecond {
			t.Errorf("Remove: %v after %v, want the deadline after 100ms", err, took)
		}
		srv.SetLatency(0)
		if _, err := c.Remove(t.Context(), srv.OrgID(), srv.Keys()[0]); err != nil {
			t.Fatal(err)
		}
		srv.RevokeEndpoint().SetLatency(time.Second)
		start = time.Now()
		err = c.Revoke(context.Background())
		took = time.Since(start)
		if !errors.Is(err, context.DeadlineExceeded) || took != 100*time.Millisecond {
			t.Errorf("Revoke: %v after %v, want the deadline after 100ms", err, took)
		}
		// The server notices no client leaving before it reads a body: let
		// its latency run out, on the bubble's clock.
		time.Sleep(time.Second)
	})
}

// NewClient refuses cleartext http to a host that is not loopback, and
// sends nothing; WithInsecureHTTP lets it go. (Every test in a synctest
// bubble goes through WithTransport, and ExampleWithTokenStore shows
// WithTokenStore.)
func TestInsecureHTTP(t *testing.T) {
	var sent atomic.Int32
	far, offline := "http://atlas.invalid", errors.New("offline")
	unplugged := WithTransport(roundTripFunc(func(*http.Request) (*http.Response, error) {
		sent.Add(1)
		return nil, offline
	}))
	_, err := NewClient(far, digestKey, unplugged)
	var ce *authedit.CleartextError
	if !errors.As(err, &ce) || ce.Host != "atlas.invalid" {
		t.Errorf("NewClient(%s): %v, want a *CleartextError", far, err)
	}
	c := newClient(t, far, digestKey, WithInsecureHTTP(), unplugged, once)
	_, err = c.Remove(t.Context(), orgID, keyID)
	if !errors.Is(err, offline) || sent.Load() != 1 {
		t.Errorf("with WithInsecureHTTP: %v after %d requests, want it sent", err, sent.Load())
	}
	// NewClient's early check is the rule the Transport applies to each
	// request: one refuses a host exactly when the other does.
	for _, host := range []string{"localhost", "LOCALHOST", "127.0.0.2", "[::1]",
		"[fe80::1%25lo]", "localhost.", "10.0.0.1", "atlas.invalid"} {
		base := "http://" + host + ":8080"
		_, early := NewClient(base, digestKey)
		tr, err := authedit.NewTransport(base, digestKey)
		if err != nil {
			t.Fatal(err)
		}
		tr.Base = roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, offline })
		req, _ := http.NewRequest(http.MethodDelete, base+"/", nil)
		_, late := tr.RoundTrip(req)
		if errors.As(early, &ce) != errors.As(late, &ce) {
			t.Errorf("%s: NewClient says %v, the Transport %v", host, early, late)
		}
	}
}
