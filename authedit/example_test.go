package authedit_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/authedit"
	"github.com/atlascontract/deleteorgapikey/gen"
)

// A service account: the client fetches one Bearer token and reuses it.
func Example_serviceAccount() {
	srv := atlastest.NewServer() // stands in for https://cloud.mongodb.com
	defer srv.Close()
	owner := srv.Owner() // ready authedit credentials: owner.APIKey(), owner.ServiceAccount()

	c, err := authedit.NewClient(srv.URL, owner.ServiceAccount())
	if err != nil {
		log.Fatal(err)
	}
	for _, key := range srv.Keys()[:2] {
		resp, err := c.DeleteOrgApiKeyWithResponse(context.Background(), srv.OrgID(), key, nil)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("deleted:", resp.StatusCode())
	}
	for _, r := range srv.Requests() {
		fmt.Println(r.Method, r.Auth, r.Status)
	}
	// Output:
	// deleted: 204
	// deleted: 204
	// POST basic 200
	// DELETE bearer 204
	// DELETE bearer 204
}

// An API key with HTTP digest: the first request learns the challenge, the
// following ones reuse it and cost one round trip each.
func Example_apiKey() {
	srv := atlastest.NewServer()
	defer srv.Close()
	owner := srv.Owner()

	c, err := authedit.NewClient(srv.URL, owner.APIKey())
	if err != nil {
		log.Fatal(err)
	}
	for _, key := range srv.Keys()[:2] {
		if _, err := c.DeleteOrgApiKeyWithResponse(context.Background(), srv.OrgID(), key, nil); err != nil {
			log.Fatal(err)
		}
	}
	for _, r := range srv.Requests() {
		fmt.Println(r.Method, r.Auth, r.Status)
	}
	// Output:
	// DELETE none 401
	// DELETE digest 204
	// DELETE digest 204
}

// Credentials come from the variables the Atlas CLI uses; a half-set pair
// names what is missing.
func ExampleCredentialsFromEnv() {
	env := map[string]string{envPublicKey: "abcdefgh"}
	_, err := authedit.CredentialsFromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	var ee *authedit.CredentialsError
	if errors.As(err, &ee) {
		fmt.Println("missing:", ee.Missing)
	}

	env[envPrivateKey] = "very-secret"
	creds, err := authedit.CredentialsFromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%T %+v\n", creds, creds)
	// Output:
	// missing: [MONGODB_ATLAS_PRIVATE_API_KEY]
	// authedit.APIKey {PublicKey:abcdefgh PrivateKey:[redacted]}
}

// Ids are checked against the spec before anything is sent.
func ExampleClient_DeleteOrgApiKey_invalidID() {
	c, err := authedit.NewClient("https://cloud.mongodb.com", authedit.APIKey{PublicKey: "pub", PrivateKey: "priv"})
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.DeleteOrgApiKey(context.Background(), "4888442a3354817a7320eb61", "../../groups", nil)
	var pe *authedit.ParamError
	if errors.As(err, &pe) {
		fmt.Println("refused:", pe.Name)
	}
	// Output: refused: apiUserId
}

// Cleartext http is refused unless the host is loopback or the caller opts in.
func ExampleWithInsecureHTTP() {
	creds := authedit.APIKey{PublicKey: "pub", PrivateKey: "priv"}
	_, err := authedit.NewClient("http://ops-manager.internal:8080", creds)
	var ce *authedit.CleartextError
	fmt.Println(errors.As(err, &ce))

	_, err = authedit.NewClient("http://ops-manager.internal:8080", creds, authedit.WithInsecureHTTP())
	fmt.Println(err)
	// Output:
	// true
	// <nil>
}

// The Transport works with any http.Client, here with a request built by
// the generated code and the package's editors.
func ExampleNewTransport() {
	srv := atlastest.NewServer()
	defer srv.Close()
	owner := srv.Owner()

	tr, err := authedit.NewTransport(srv.URL, owner.ServiceAccount())
	if err != nil {
		log.Fatal(err)
	}
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	req, err := gen.NewDeleteOrgApiKeyRequest(srv.URL, srv.OrgID(), srv.Keys()[0], nil)
	if err != nil {
		log.Fatal(err)
	}
	req.Header.Set("Accept", "application/vnd.atlas.2023-01-01+json")
	resp, err := hc.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	fmt.Println(resp.StatusCode)
	// Output: 204
}

// Remove says what became of a key. When an answer is lost on the way back
// (DropNext), the retry finds no key: the lost attempt removed it.
func ExampleClient_Remove() {
	srv := atlastest.NewServer()
	defer srv.Close()
	owner := srv.Owner()

	c, err := authedit.NewClient(srv.URL, owner.APIKey(), authedit.WithRetry(authedit.RetryPolicy{MaxAttempts: 3, MinBackoff: 10 * time.Millisecond}))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	keys := srv.Keys()

	out, err := c.Remove(ctx, srv.OrgID(), keys[0])
	fmt.Println(out, err)

	srv.DropNext(1) // the next delete takes effect, its answer is lost
	out, err = c.Remove(ctx, srv.OrgID(), keys[1])
	fmt.Println(out, err)

	out, err = c.Remove(ctx, srv.OrgID(), keys[1])
	fmt.Println(out, err)

	srv.FailNext(10, http.StatusInternalServerError)
	out, err = c.Remove(ctx, srv.OrgID(), keys[2])
	fmt.Println(out, err)
	// Output:
	// removed <nil>
	// already removed <nil>
	// not found <nil>
	// failed authedit: Atlas answered 500 Internal Server Error: UNEXPECTED_ERROR (An unexpected error occurred.); after 3 attempts
}

// The generated-signature methods return the raw answer; a RetryInfo in the
// context tells the key's absence after a lost answer from a plain one.
func ExampleWithRetryInfo() {
	srv := atlastest.NewServer()
	defer srv.Close()
	owner := srv.Owner()

	c, err := authedit.NewClient(srv.URL, owner.ServiceAccount(), authedit.WithRetry(authedit.RetryPolicy{MinBackoff: 10 * time.Millisecond}))
	if err != nil {
		log.Fatal(err)
	}
	srv.DropNext(1)
	var info authedit.RetryInfo
	resp, err := c.DeleteOrgApiKeyWithResponse(authedit.WithRetryInfo(context.Background(), &info), srv.OrgID(), srv.Keys()[0], nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.StatusCode(), info.Attempts, info.EarlierMayHaveApplied)
	// Output: 400 2 true
}
