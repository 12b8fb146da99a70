package atlastest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/icholy/digest"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/authedit"
	"github.com/atlascontract/deleteorgapikey/gen"
)

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
	resp, err := client.DeleteOrgApiKeyWithResponse(context.Background(), srv.OrgID(), key, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(resp.StatusCode(), srv.HasKey(key))

	resp, _ = client.DeleteOrgApiKeyWithResponse(context.Background(), srv.OrgID(), key, nil)
	fmt.Println(resp.StatusCode(), resp.JSON400.ErrorCode)
	// Output:
	// 204 false
	// 400 API_KEY_NOT_FOUND
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
	req, _ := http.NewRequest(http.MethodDelete, url, nil)
	req.Header.Set("Accept", "application/vnd.atlas.2023-01-01+json")
	_, err := client.Do(req)
	fmt.Println("first attempt failed:", err != nil)

	req, _ = http.NewRequest(http.MethodDelete, url, nil)
	req.Header.Set("Accept", "application/vnd.atlas.2023-01-01+json")
	resp, err := client.Do(req)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println("retry:", resp.StatusCode)
	// Output:
	// first attempt failed: true
	// retry: 400
}

// accept names the resource version, as Atlas requires (else 406).
func accept(_ context.Context, req *http.Request) error {
	req.Header.Set("Accept", "application/vnd.atlas.2023-01-01+json")
	return nil
}

// exampleT stands in for the *testing.T a test would pass: it runs the
// cleanups registered with it when the "test" ends.
type exampleT struct {
	testing.TB
	cleanups []func()
}

func (t *exampleT) Cleanup(f func()) { t.cleanups = append(t.cleanups, f) }

func (t *exampleT) end() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}

// In a test, NewTestServer(t) is all it takes: the server closes when the
// test ends.
func ExampleNewTestServer() {
	t := &exampleT{} // a test's t
	srv := atlastest.NewTestServer(t)
	client, err := authedit.NewClient(srv.URL, srv.Owner().APIKey())
	if err != nil {
		panic(err)
	}
	outcome, err := client.Remove(context.Background(), srv.OrgID(), srv.Keys()[0])
	fmt.Println(outcome, err)

	t.end() // the test is over
	_, err = http.Get(srv.URL)
	fmt.Println("closed:", err != nil)
	// Output:
	// removed <nil>
	// closed: true
}

// Add a key while the server runs, then delete it as the code under test
// would, and see it gone.
func ExampleServer_AddKey() {
	srv := atlastest.NewServer()
	defer srv.Close()
	key := srv.AddKey()
	fmt.Println("added:", srv.HasKey(key))

	client, err := authedit.NewClient(srv.URL, srv.Owner().ServiceAccount())
	if err != nil {
		panic(err)
	}
	outcome, err := client.Remove(context.Background(), srv.OrgID(), key)
	fmt.Println(outcome, err, srv.HasKey(key))
	// Output:
	// added: true
	// removed <nil> false
}

// HasKey answers "is it still there?" for any organization's key.
func ExampleServer_HasKey() {
	srv := atlastest.NewServer()
	defer srv.Close()
	fmt.Println(srv.HasKey(srv.Keys()[0]), srv.HasKey(srv.Owner().KeyID), srv.HasKey("0123456789abcdef01234567"))
	// Output:
	// true true false
}

// Script a 429 with the Retry-After your code must honour.
func ExampleServer_SetRetryAfter() {
	srv := atlastest.NewServer()
	defer srv.Close()
	srv.FailNext(1, http.StatusTooManyRequests)
	srv.SetRetryAfter(3 * time.Second)

	client, err := authedit.NewClient(srv.URL, srv.Owner().APIKey(), authedit.WithoutRetry())
	if err != nil {
		panic(err)
	}
	resp, err := client.DeleteOrgApiKeyWithResponse(context.Background(), srv.OrgID(), srv.Keys()[0], nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(resp.StatusCode(), resp.HTTPResponse.Header.Get("Retry-After"))
	// Output:
	// 429 3
}

// The owner's API key, ready for authedit (HTTP Digest).
func ExamplePrincipal_APIKey() {
	srv := atlastest.NewServer()
	defer srv.Close()
	client, err := authedit.NewClient(srv.URL, srv.Owner().APIKey())
	if err != nil {
		panic(err)
	}
	key := srv.Keys()[0]
	for range 2 {
		outcome, err := client.Remove(context.Background(), srv.OrgID(), key)
		fmt.Println(outcome, err)
	}
	// Output:
	// removed <nil>
	// not found <nil>
}

// The member's service account, ready for authedit (OAuth2 client
// credentials): it is not an Organization Owner, so the delete is refused.
func ExamplePrincipal_ServiceAccount() {
	srv := atlastest.NewServer()
	defer srv.Close()
	client, err := authedit.NewClient(srv.URL, srv.Member().ServiceAccount())
	if err != nil {
		panic(err)
	}
	resp, err := client.DeleteOrgApiKeyWithResponse(context.Background(), srv.OrgID(), srv.Keys()[0], nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(resp.StatusCode(), resp.JSON403.ErrorCode, srv.HasKey(srv.Keys()[0]))
	// Output:
	// 403 USER_UNAUTHORIZED true
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
