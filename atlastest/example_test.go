package atlastest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/icholy/digest"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/gen"
)

// accept names the resource version, as Atlas requires (else 406).
func accept(_ context.Context, req *http.Request) error {
	req.Header.Set("Accept", "application/vnd.atlas.2023-01-01+json")
	return nil
}

// client is the generated client for srv over httpClient, as in Example.
func client(srv *atlastest.Server, httpClient *http.Client) *gen.ClientWithResponses {
	c, err := gen.NewClientWithResponses(srv.URL, gen.WithHTTPClient(httpClient),
		gen.WithRequestEditorFn(accept))
	if err != nil {
		panic(err)
	}
	return c
}

// digestClient sends requests as p's API key, over HTTP Digest.
func digestClient(p atlastest.Principal) *http.Client {
	return &http.Client{Transport: &digest.Transport{Username: p.PublicKey, Password: p.PrivateKey}}
}

// Delete an API key with the generated client over HTTP Digest, as code
// under test would against Atlas; a second delete gets Atlas's answer for
// a key that is gone.
func Example() {
	srv := atlastest.NewServer()
	defer srv.Close()

	owner := srv.Owner()
	httpClient := &http.Client{Transport: &digest.Transport{Username: owner.PublicKey,
		Password: owner.PrivateKey}}
	c, err := gen.NewClientWithResponses(srv.URL, gen.WithHTTPClient(httpClient),
		gen.WithRequestEditorFn(accept))
	if err != nil {
		panic(err)
	}
	key := srv.Keys()[0]
	for range 2 {
		resp, err := c.DeleteOrgApiKeyWithResponse(context.Background(), srv.OrgID(), key, nil)
		if err != nil {
			panic(err)
		}
		fmt.Println(resp.StatusCode(), srv.HasKey(key))
	}
	// Output:
	// 204 false
	// 400 false
}

// exampleT stands in for the *testing.T a test would pass: it runs the
// cleanups registered with it when the "test" ends.
type exampleT struct {
	testing.TB
	cleanups []func()
}

func (t *exampleT) Cleanup(f func()) { t.cleanups = append(t.cleanups, f) }

// In a test, NewTestServer(t) is all it takes: the server closes when the
// test ends.
func ExampleNewTestServer() {
	t := &exampleT{} // a test's t
	srv := atlastest.NewTestServer(t)
	fmt.Println(srv.URL != "", len(srv.Keys()))

	for _, cleanup := range t.cleanups { // the test is over
		cleanup()
	}
	_, err := http.Get(srv.URL)
	fmt.Println("closed:", err != nil)
	// Output:
	// true 5
	// closed: true
}

// The member's service account gets a token from the token endpoint with
// x/oauth2, but it is not an Organization Owner: Atlas answers its delete
// with the role error, a 401 without a challenge.
func ExampleServer_Member() {
	srv := atlastest.NewServer()
	defer srv.Close()
	member := srv.Member()
	cfg := clientcredentials.Config{ClientID: member.ClientID, ClientSecret: member.ClientSecret,
		TokenURL: srv.URL + "/api/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}
	c := client(srv, cfg.Client(context.Background()))
	key := srv.Keys()[0]
	resp, err := c.DeleteOrgApiKeyWithResponse(context.Background(), srv.OrgID(), key, nil)
	if err != nil {
		panic(err)
	}
	challenged := resp.HTTPResponse.Header.Get("WWW-Authenticate") != ""
	fmt.Println(resp.StatusCode(), resp.JSON401.ErrorCode, challenged)
	// Output:
	// 401 USER_UNAUTHORIZED false
}

// Give the owner an IP access list without loopback: its requests are then
// refused as Atlas refuses them, naming the address they came from.
func ExampleServer_SetAccessList() {
	srv := atlastest.NewServer()
	defer srv.Close()
	srv.SetAccessList(srv.Owner(), "192.0.2.0/24")

	c := client(srv, digestClient(srv.Owner()))
	key := srv.Keys()[0]
	resp, err := c.DeleteOrgApiKeyWithResponse(context.Background(), srv.OrgID(), key, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(resp.StatusCode(), *resp.JSON403.Detail)
	// Output:
	// 403 IP address 127.0.0.1 is not allowed to access this resource.
}

// Make the token endpoint answer the next token request as Atlas does past
// its per-client limit.
func ExampleServer_TokenEndpoint() {
	srv := atlastest.NewServer()
	defer srv.Close()
	srv.TokenEndpoint().FailNext(1, http.StatusTooManyRequests)

	owner := srv.Owner()
	form := strings.NewReader("grant_type=client_credentials")
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/oauth/token", form)
	req.SetBasicAuth(owner.ClientID, owner.ClientSecret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var body struct{ Detail, ErrorCode string }
	_ = json.NewDecoder(resp.Body).Decode(&body)
	fmt.Println(resp.StatusCode, body.ErrorCode, "Retry-After:", resp.Header.Get("Retry-After"))
	fmt.Println(body.Detail)
	// Output:
	// 429 RATE_LIMITED Retry-After: 2
	// Resource /api/oauth/token is limited to 50 requests every 1 minutes.
}
