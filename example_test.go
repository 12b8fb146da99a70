package deleteorgapikey_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/atlascontract/deleteorgapikey"
	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/authedit"
)

// Build a client from the Atlas CLI's environment variables and remove a
// key. atlastest stands in for https://cloud.mongodb.com here.
func ExampleNewClient() {
	srv := atlastest.NewServer()
	defer srv.Close()
	env := map[string]string{ // os.LookupEnv outside an example
		"MONGODB_ATLAS_PUBLIC_API_KEY":  srv.Owner().PublicKey,
		"MONGODB_ATLAS_PRIVATE_API_KEY": srv.Owner().PrivateKey,
		"MONGODB_ATLAS_OPS_MANAGER_URL": srv.URL,
	}
	lookup := func(name string) (string, bool) { v, ok := env[name]; return v, ok }
	creds, err := authedit.CredentialsFromEnv(lookup)
	if err != nil {
		log.Fatal(err)
	}
	client, err := deleteorgapikey.NewClient(authedit.BaseURLFromEnv(lookup), creds)
	if err != nil {
		log.Fatal(err)
	}
	outcome, err := client.Remove(context.Background(), srv.OrgID(), srv.Keys()[0])
	fmt.Println(outcome, err)
	// Output: removed <nil>
}

// Branch on what Remove did: the pattern of a key-rotation job.
func ExampleClient_Remove() {
	srv := atlastest.NewServer()
	defer srv.Close()
	client, err := deleteorgapikey.NewClient(srv.URL, srv.Member().ServiceAccount())
	if err != nil {
		log.Fatal(err)
	}
	for _, key := range []string{srv.Keys()[0], "0123456789abcdef01234567"} {
		outcome, err := client.Remove(context.Background(), srv.OrgID(), key)
		var apiErr *deleteorgapikey.APIError
		switch {
		case outcome != deleteorgapikey.Failed:
			fmt.Println("the key is gone:", outcome)
		case errors.Is(err, deleteorgapikey.ErrRateLimited) && errors.As(err, &apiErr):
			fmt.Println("try again in", apiErr.RetryAfter)
		case errors.Is(err, deleteorgapikey.ErrForbidden):
			fmt.Println("not allowed; USER_UNAUTHORIZED:",
				deleteorgapikey.IsErrorCode(err, "USER_UNAUTHORIZED"))
		default:
			fmt.Println("failed; the key may or may not be gone:", err)
		}
	}
	// Output:
	// not allowed; USER_UNAUTHORIZED: true
	// not allowed; USER_UNAUTHORIZED: true
}

// Wrong credentials read alike, an API key's and a service account's.
func Example_wrongCredentials() {
	srv := atlastest.NewServer()
	defer srv.Close()
	key, account := srv.Owner().APIKey(), srv.Owner().ServiceAccount()
	key.PrivateKey, account.ClientSecret = "wrong-private-key", "wrong-client-secret"
	for _, creds := range []authedit.Credentials{key, account} {
		client, err := deleteorgapikey.NewClient(srv.URL, creds)
		if err != nil {
			log.Fatal(err)
		}
		_, err = client.Remove(context.Background(), srv.OrgID(), srv.Keys()[0])
		class, _, _ := strings.Cut(err.Error(), ":")
		fmt.Printf("%T: %s, %v\n", creds, class, errors.Is(err, deleteorgapikey.ErrUnauthorized))
	}
	// Output:
	// authedit.APIKey: credentials refused, true
	// authedit.ServiceAccount: credentials refused, true
}

// A Remover removes many keys at the pace of the organization's budget,
// each distinct id once, and says what became of each.
func ExampleRemover() {
	srv := atlastest.NewServer()
	defer srv.Close()
	client, err := deleteorgapikey.NewClient(srv.URL, srv.Owner().ServiceAccount())
	if err != nil {
		log.Fatal(err)
	}
	r := &deleteorgapikey.Remover{Client: client} // one per process: it remembers what it spent
	keys := srv.Keys()
	ids := []string{keys[0], keys[1], keys[0], "0123456789abcdef01234567"}
	for _, res := range r.RemoveAll(context.Background(), srv.OrgID(), ids) {
		fmt.Println(res.Outcome, res.Err)
	}
	// Output:
	// removed <nil>
	// removed <nil>
	// not found <nil>
}

// The generated signature gives the parsed answer, Atlas's ApiError included.
func ExampleClient_DeleteOrgApiKeyWithResponse() {
	srv := atlastest.NewServer()
	defer srv.Close()
	client, err := deleteorgapikey.NewClient(srv.URL, srv.Owner().APIKey())
	if err != nil {
		log.Fatal(err)
	}
	r, err := client.DeleteOrgApiKeyWithResponse(context.Background(), "0123456789abcdef01234567",
		srv.Keys()[0], nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.StatusCode(), r.JSON404.ErrorCode)
	// Output: 404 ORG_NOT_FOUND
}

// Processes that start often, such as CI jobs, share one service-account
// token through a store instead of minting one each; Revoke ends it.
func ExampleWithTokenStore() {
	srv := atlastest.NewServer()
	defer srv.Close()
	dir, err := os.MkdirTemp("", "tokens")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store, err := authedit.NewFileTokenStore(dir) // "" for the user's cache directory
	if err != nil {
		log.Fatal(err)
	}
	for _, key := range srv.Keys()[:2] { // as if in two processes
		client, err := deleteorgapikey.NewClient(srv.URL, srv.Owner().ServiceAccount(),
			deleteorgapikey.WithTokenStore(store))
		if err != nil {
			log.Fatal(err)
		}
		if _, err := client.Remove(context.Background(), srv.OrgID(), key); err != nil {
			log.Fatal(err)
		}
		defer client.Revoke(context.Background())
	}
	for _, r := range srv.Requests() {
		fmt.Println(r.Method, r.Auth, r.Status)
	}
	// Output:
	// POST basic 200
	// DELETE bearer 204
	// DELETE bearer 204
}
