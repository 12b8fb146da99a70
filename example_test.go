package deleteorgapikey_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
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

// The common cases, as a test scripts them with atlastest: a key removed,
// a key missing, a caller that is not an Organization Owner, a 429 then
// success, and a lost answer. Each line shows the statuses the server
// sent, the outcome, and the class of the error.
func ExampleClient_Remove() {
	srv := atlastest.NewServer()
	defer srv.Close()
	owner, err := deleteorgapikey.NewClient(srv.URL, srv.Owner().APIKey())
	if err != nil {
		log.Fatal(err)
	}
	member, err := deleteorgapikey.NewClient(srv.URL, srv.Member().ServiceAccount())
	if err != nil {
		log.Fatal(err)
	}
	keys := srv.Keys()
	remove := func(client *deleteorgapikey.Client, keyID string) {
		outcome, err := client.Remove(context.Background(), srv.OrgID(), keyID)
		var statuses []int
		for _, r := range srv.Requests() {
			statuses = append(statuses, r.Status)
		}
		srv.ResetRequests()
		class, _, _ := strings.Cut(fmt.Sprint(err), ":") // the class of the error, in words
		fmt.Println(statuses, outcome, class)
	}
	remove(owner, keys[0])  // the digest challenge, then the delete
	remove(owner, keys[0])  // Atlas has no such key
	remove(member, keys[1]) // a token, then a role error: no retry, no new token
	srv.FailNext(1, http.StatusTooManyRequests)
	remove(owner, keys[1]) // its Retry-After (1 s) is waited for
	srv.DropNext(1)
	remove(owner, keys[2]) // removed, the answer lost; the retry finds no key
	// Output:
	// [401 204] removed <nil>
	// [400] not found <nil>
	// [200 401] failed not allowed
	// [429 204] removed <nil>
	// [204 400] already removed <nil>
}

// Wrong credentials read alike, an API key's and a service account's, and
// show no secret.
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
		fmt.Println(errors.Is(err, deleteorgapikey.ErrUnauthorized))
		// The message: the class, what Atlas answered, and Atlas's detail.
		class, answer, _ := strings.Cut(err.Error(), ": ")
		answer, detail, _ := strings.Cut(answer, " (")
		fmt.Printf("  %s\n  %s\n  (%s\n", class, answer, detail)
	}
	// Output:
	// true
	//   credentials refused
	//   Atlas answered 401 Unauthorized: UNEXPECTED_ERROR
	//   (You are not authorized for this resource.)
	// true
	//   credentials refused
	//   the token request got HTTP 401 invalid_client
	//   (Invalid credentials provided.)
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
