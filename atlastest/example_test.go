package atlastest_test

import (
	"context"
	"fmt"
	"io"
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

// Delete an API key with the generated client over HTTP Digest, as code
// under test would against Atlas; a second delete gets Atlas's answer for
// a key that is gone.
func Example() {
	srv := atlastest.NewServer()
	defer srv.Close()

	owner := srv.Owner()
	httpClient := &http.Client{Transport: &digest.Transport{Username: owner.PublicKey, Password: owner.PrivateKey}}
	client, err := gen.NewClientWithResponses(srv.URL, gen.WithHTTPClient(httpClient), gen.WithRequestEditorFn(accept))
	if err != nil {
		panic(err)
	}
	key := srv.Keys()[0]
	for range 2 {
		resp, err := client.DeleteOrgApiKeyWithResponse(context.Background(), srv.OrgID(), key, nil)
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
	client, err := gen.NewClientWithResponses(srv.URL, gen.WithHTTPClient(cfg.Client(context.Background())),
		gen.WithRequestEditorFn(accept))
	if err != nil {
		panic(err)
	}
	resp, err := client.DeleteOrgApiKeyWithResponse(context.Background(), srv.OrgID(), srv.Keys()[0], nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(resp.StatusCode(), resp.JSON401.ErrorCode, resp.HTTPResponse.Header.Get("WWW-Authenticate") == "")
	// Output:
	// 401 USER_UNAUTHORIZED true
}

// Give the owner an IP access list without loopback: its requests are then
// refused as Atlas refuses them, naming the address they came from.
func ExampleServer_SetAccessList() {
	srv := atlastest.NewServer()
	defer srv.Close()
	owner := srv.Owner()
	srv.SetAccessList(owner, "192.0.2.0/24")

	httpClient := &http.Client{Transport: &digest.Transport{Username: owner.PublicKey, Password: owner.PrivateKey}}
	client, err := gen.NewClientWithResponses(srv.URL, gen.WithHTTPClient(httpClient), gen.WithRequestEditorFn(accept))
	if err != nil {
		panic(err)
	}
	resp, err := client.DeleteOrgApiKeyWithResponse(context.Background(), srv.OrgID(), srv.Keys()[0], nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(resp.StatusCode(), *resp.JSON403.Detail)
	// Output:
	// 403 IP address 127.0.0.1 is not allowed to access this resource.
}

// Script a lost answer: the delete happens, the client sees a broken
// connection, and its retry learns the key is gone.
func ExampleServer_DropNext() {
	srv := atlastest.NewServer()
	defer srv.Close()
	owner := srv.Owner()
	client := &http.Client{Transport: &digest.Transport{Username: owner.PublicKey, Password: owner.PrivateKey}}
	url := srv.URL + "/api/atlas/v2/orgs/" + srv.OrgID() + "/apiKeys/" + srv.Keys()[0]

	srv.DropNext(1)
	for range 2 {
		req, _ := http.NewRequest(http.MethodDelete, url, nil)
		req.Header.Set("Accept", "application/vnd.atlas.2023-01-01+json")
		resp, err := client.Do(req)
		if err != nil {
			fmt.Println("no answer")
			continue
		}
		resp.Body.Close()
		fmt.Println(resp.StatusCode)
	}
	// Output:
	// no answer
	// 400
}

// Make the token endpoint answer the next token request as Atlas does past
// its per-client limit.
func ExampleServer_TokenEndpoint() {
	srv := atlastest.NewServer()
	defer srv.Close()
	srv.TokenEndpoint().FailNext(1, http.StatusTooManyRequests)

	owner := srv.Owner()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/oauth/token", strings.NewReader("grant_type=client_credentials"))
	req.SetBasicAuth(owner.ClientID, owner.ClientSecret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, "Retry-After:", resp.Header.Get("Retry-After"))
	fmt.Println(string(body))
	// Output:
	// 429 Retry-After: 2
	// {"detail":"Resource /api/oauth/token is limited to 50 requests every 1 minutes.","error":429,"errorCode":"RATE_LIMITED","parameters":["/api/oauth/token",50,1],"reason":"Too Many Requests"}
}
