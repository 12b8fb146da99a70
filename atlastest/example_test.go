package atlastest_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/icholy/digest"

	"github.com/atlascontract/deleteorgapikey/atlastest"
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
	fmt.Println(resp.StatusCode(), len(srv.KeyProjects(key)))

	resp, _ = client.DeleteOrgApiKeyWithResponse(context.Background(), srv.OrgID(), key, nil)
	fmt.Println(resp.StatusCode(), resp.JSON400.ErrorCode)
	// Output:
	// 204 0
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
