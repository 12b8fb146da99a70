package authedit_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"time"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/authedit"
	"github.com/atlascontract/deleteorgapikey/gen"
)

// Remove a key and branch on what happened: the pattern of a key-rotation
// job. atlastest stands in for https://cloud.mongodb.com.
func ExampleClient_Remove() {
	srv := atlastest.NewServer()
	defer srv.Close()
	client, err := authedit.NewClient(srv.URL, srv.Owner().APIKey())
	if err != nil {
		log.Fatal(err)
	}

	outcome, err := client.Remove(context.Background(), srv.OrgID(), srv.Keys()[0])
	var apiErr *authedit.APIError
	switch {
	case outcome == authedit.Removed, outcome == authedit.AlreadyRemoved, outcome == authedit.NotFound:
		fmt.Println("the key is gone:", outcome)
	case errors.Is(err, authedit.ErrRateLimited) && errors.As(err, &apiErr):
		fmt.Println("rate limited; retry after", apiErr.RetryAfter)
	case errors.Is(err, authedit.ErrUnauthorized), errors.Is(err, authedit.ErrForbidden):
		fmt.Println("these credentials may not remove it:", err)
	default:
		fmt.Println("failed; the key may or may not be gone:", err)
	}
	// Output: the key is gone: removed
}

// A key that is already gone is NotFound, with no error: Atlas answers
// 400 API_KEY_NOT_FOUND, and nothing was removed by this call.
func ExampleClient_Remove_keyMissing() {
	srv := atlastest.NewServer()
	defer srv.Close()
	client, err := authedit.NewClient(srv.URL, srv.Owner().APIKey())
	if err != nil {
		log.Fatal(err)
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

// A caller without the Organization Owner role is refused: ErrForbidden,
// and the key stays.
func ExampleClient_Remove_notOwner() {
	srv := atlastest.NewServer()
	defer srv.Close()
	client, err := authedit.NewClient(srv.URL, srv.Member().ServiceAccount())
	if err != nil {
		log.Fatal(err)
	}
	key := srv.Keys()[0]
	outcome, err := client.Remove(context.Background(), srv.OrgID(), key)
	var apiErr *authedit.APIError
	if errors.Is(err, authedit.ErrForbidden) && errors.As(err, &apiErr) {
		fmt.Println(outcome, apiErr.StatusCode, apiErr.ErrorCode, "key still there:", srv.HasKey(key))
	}
	// Output: failed 403 USER_UNAUTHORIZED key still there: true
}

// A 429 is retried after its Retry-After. Here the server says "retry after
// 0 s" and the policy's jitter is 1 ms, so the example does not wait; with
// retries off the 429 comes back, with the time to wait.
func ExampleClient_Remove_rateLimited() {
	srv := atlastest.NewServer()
	defer srv.Close()
	srv.SetRetryAfter(0)
	client, err := authedit.NewClient(srv.URL, srv.Owner().APIKey(), authedit.WithRetry(authedit.RetryPolicy{MinBackoff: time.Millisecond}))
	if err != nil {
		log.Fatal(err)
	}
	srv.FailNext(1, http.StatusTooManyRequests)
	outcome, err := client.Remove(context.Background(), srv.OrgID(), srv.Keys()[0])
	fmt.Println(outcome, err)

	once, err := authedit.NewClient(srv.URL, srv.Owner().APIKey(), authedit.WithoutRetry())
	if err != nil {
		log.Fatal(err)
	}
	srv.SetRetryAfter(30 * time.Second)
	srv.FailNext(1, http.StatusTooManyRequests)
	outcome, err = once.Remove(context.Background(), srv.OrgID(), srv.Keys()[0])
	var apiErr *authedit.APIError
	if errors.Is(err, authedit.ErrRateLimited) && errors.As(err, &apiErr) {
		fmt.Println(outcome, "; retry after", apiErr.RetryAfter)
	}
	// Output:
	// removed <nil>
	// failed ; retry after 30s
}

// When the answer to a delete is lost (DropNext: the key is deleted, the
// connection closed unanswered), the retry finds no key: the lost attempt
// removed it, and Remove says so.
func ExampleClient_Remove_lostAnswer() {
	srv := atlastest.NewServer()
	defer srv.Close()
	client, err := authedit.NewClient(srv.URL, srv.Owner().APIKey(), authedit.WithRetry(authedit.RetryPolicy{MinBackoff: time.Millisecond}))
	if err != nil {
		log.Fatal(err)
	}
	srv.DropNext(1)
	outcome, err := client.Remove(context.Background(), srv.OrgID(), srv.Keys()[0])
	fmt.Println(outcome, err)
	// Output: already removed <nil>
}

// Wrong credentials of either kind match ErrUnauthorized: a wrong digest
// key (Atlas's 401) and a wrong service-account secret (the token
// endpoint's invalid_client, a *TokenError).
func Example_wrongCredentials() {
	srv := atlastest.NewServer()
	defer srv.Close()
	key, account := srv.Owner().APIKey(), srv.Owner().ServiceAccount()
	key.PrivateKey, account.ClientSecret = "wrong-private-key", "wrong-client-secret"
	for _, creds := range []authedit.Credentials{key, account} {
		client, err := authedit.NewClient(srv.URL, creds)
		if err != nil {
			log.Fatal(err)
		}
		outcome, err := client.Remove(context.Background(), srv.OrgID(), srv.Keys()[0])
		var tokenErr *authedit.TokenError
		fmt.Printf("%T: %v, unauthorized: %v, token error: %v\n", creds, outcome, errors.Is(err, authedit.ErrUnauthorized), errors.As(err, &tokenErr))
	}
	// Output:
	// authedit.APIKey: failed, unauthorized: true, token error: false
	// authedit.ServiceAccount: failed, unauthorized: true, token error: true
}

// A service account buys one Bearer token and reuses it.
func Example_serviceAccount() {
	srv := atlastest.NewServer()
	defer srv.Close()
	client, err := authedit.NewClient(srv.URL, srv.Owner().ServiceAccount())
	if err != nil {
		log.Fatal(err)
	}
	for _, key := range srv.Keys()[:2] {
		if _, err := client.Remove(context.Background(), srv.OrgID(), key); err != nil {
			log.Fatal(err)
		}
	}
	for _, r := range srv.Requests() {
		fmt.Println(r.Method, r.Auth, r.Status)
	}
	// Output:
	// POST basic 200
	// DELETE bearer 204
	// DELETE bearer 204
}

// An API key authenticates with HTTP digest: the first request learns the
// challenge, the following ones reuse it and cost one round trip each.
func Example_apiKey() {
	srv := atlastest.NewServer()
	defer srv.Close()
	client, err := authedit.NewClient(srv.URL, srv.Owner().APIKey())
	if err != nil {
		log.Fatal(err)
	}
	for _, key := range srv.Keys()[:2] {
		if _, err := client.Remove(context.Background(), srv.OrgID(), key); err != nil {
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

// Revoke ends the client's service-account token; the next call buys another.
func ExampleClient_Revoke() {
	srv := atlastest.NewServer()
	defer srv.Close()
	client, err := authedit.NewClient(srv.URL, srv.Owner().ServiceAccount())
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	if _, err := client.Remove(ctx, srv.OrgID(), srv.Keys()[0]); err != nil {
		log.Fatal(err)
	}
	if err := client.Revoke(ctx); err != nil {
		log.Fatal(err)
	}
	if _, err := client.Remove(ctx, srv.OrgID(), srv.Keys()[0]); err != nil {
		log.Fatal(err)
	}
	for _, r := range srv.Requests() {
		if r.Method == http.MethodPost {
			fmt.Println(r.Path, r.Status)
		} else {
			fmt.Println(r.Method, r.Auth, r.Status)
		}
	}
	// Output:
	// /api/oauth/token 200
	// DELETE bearer 204
	// /api/oauth/revoke 200
	// /api/oauth/token 200
	// DELETE bearer 204
}

// DeleteOrgApiKeyWithResponse keeps the generated signature and hands back
// the parsed answer, Atlas's ApiError included.
func ExampleClient_DeleteOrgApiKeyWithResponse() {
	srv := atlastest.NewServer()
	defer srv.Close()
	client, err := authedit.NewClient(srv.URL, srv.Owner().APIKey())
	if err != nil {
		log.Fatal(err)
	}
	resp, err := client.DeleteOrgApiKeyWithResponse(context.Background(), srv.OrgID(), "0123456789abcdef01234567", nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.StatusCode(), resp.JSON400.ErrorCode, *resp.JSON400.Detail)
	// Output: 400 API_KEY_NOT_FOUND No API key with ID 0123456789abcdef01234567 exists.
}

// Ids are checked against the spec before anything is sent.
func ExampleClient_DeleteOrgApiKey() {
	client, err := authedit.NewClient("https://cloud.mongodb.com", authedit.APIKey{PublicKey: "pub", PrivateKey: "priv"})
	if err != nil {
		log.Fatal(err)
	}
	_, err = client.DeleteOrgApiKey(context.Background(), "4888442a3354817a7320eb61", "../../groups", nil)
	var pe *authedit.ParamError
	fmt.Println(errors.As(err, &pe), pe.Name)
	// Output: true apiUserId
}

// IsErrorCode asks for Atlas's errorCode, like the official SDK's
// admin.IsErrorCode; an unknown organization is ErrOrgNotFound, not a
// missing key.
func ExampleIsErrorCode() {
	srv := atlastest.NewServer()
	defer srv.Close()
	client, err := authedit.NewClient(srv.URL, srv.Owner().APIKey())
	if err != nil {
		log.Fatal(err)
	}
	outcome, err := client.Remove(context.Background(), "ffffffffffffffffffffffff", srv.Keys()[0])
	var apiErr *authedit.APIError
	if errors.As(err, &apiErr) {
		fmt.Println(outcome, apiErr.StatusCode, apiErr.Parameters)
	}
	fmt.Println(authedit.IsErrorCode(err, "ORG_NOT_FOUND"), errors.Is(err, authedit.ErrOrgNotFound), errors.Is(err, authedit.ErrNotFound))
	// Output:
	// failed 404 [ffffffffffffffffffffffff]
	// true true false
}

// Credentials and the base URL come from the Atlas CLI's variables; a
// half-set pair names what is missing.
func ExampleCredentialsFromEnv() {
	env := map[string]string{"MONGODB_ATLAS_PUBLIC_API_KEY": "abcdefgh"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	_, err := authedit.CredentialsFromEnv(lookup)
	fmt.Println(err)

	env["MONGODB_ATLAS_PRIVATE_API_KEY"] = "very-secret"
	creds, err := authedit.CredentialsFromEnv(lookup)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%T %+v\n", creds, creds)
	fmt.Println(authedit.BaseURLFromEnv(lookup))
	// Output:
	// authedit: environment variable MONGODB_ATLAS_PRIVATE_API_KEY is not set (its partner is)
	// authedit.APIKey {PublicKey:abcdefgh PrivateKey:[redacted]}
	// https://cloud.mongodb.com
}

// BaseURLFromEnv reads MONGODB_ATLAS_OPS_MANAGER_URL, as the Atlas CLI does.
func ExampleBaseURLFromEnv() {
	env := map[string]string{"MONGODB_ATLAS_OPS_MANAGER_URL": "https://cloud-qa.mongodb.com"}
	fmt.Println(authedit.BaseURLFromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }))
	// Output: https://cloud-qa.mongodb.com
}

// A Secret never prints, nor do credentials holding one.
func ExampleSecret() {
	creds := authedit.ServiceAccount{ClientID: "mdb_sa_id_1234", ClientSecret: "mdb_sa_sk_do-not-print"}
	fmt.Println(creds.ClientSecret)
	fmt.Printf("%+v\n", creds)
	fmt.Println(len(string(creds.ClientSecret)))
	// Output:
	// [redacted]
	// {ClientID:mdb_sa_id_1234 ClientSecret:[redacted]}
	// 22
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

// The Transport works with any http.Client and request; it authenticates
// and retries, nothing more: the request must name the resource version.
func ExampleNewTransport() {
	srv := atlastest.NewServer()
	defer srv.Close()
	tr, err := authedit.NewTransport(srv.URL, srv.Owner().ServiceAccount(), authedit.WithTransport(http.DefaultTransport))
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

// A Client follows no redirect: Atlas never redirects this operation.
func ExampleRedirectError() {
	srv := httptest.NewServer(http.RedirectHandler("/moved", http.StatusPermanentRedirect))
	defer srv.Close()
	client, err := authedit.NewClient(srv.URL, authedit.APIKey{PublicKey: "pub", PrivateKey: "priv"})
	if err != nil {
		log.Fatal(err)
	}
	outcome, err := client.Remove(context.Background(), "4888442a3354817a7320eb61", "32b6e34b3d91647abb20e7b8")
	var re *authedit.RedirectError
	if errors.As(err, &re) {
		u, _ := url.Parse(re.Location)
		fmt.Println(outcome, re.StatusCode, u.Path)
	}
	// Output: failed 308 /moved
}

// A body longer than any ApiError is not read to its end.
func ExampleBodyTooLargeError() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write(make([]byte, 2<<20))
	}))
	defer srv.Close()
	client, err := authedit.NewClient(srv.URL, authedit.APIKey{PublicKey: "pub", PrivateKey: "priv"}, authedit.WithoutRetry())
	if err != nil {
		log.Fatal(err)
	}
	_, err = client.Remove(context.Background(), "4888442a3354817a7320eb61", "32b6e34b3d91647abb20e7b8")
	var be *authedit.BodyTooLargeError
	fmt.Println(errors.As(err, &be), be.StatusCode, be.Limit)
	// Output: true 502 1048576
}

// Outcomes read well in a report.
func ExampleOutcome() {
	for _, o := range []authedit.Outcome{authedit.Removed, authedit.AlreadyRemoved, authedit.NotFound, authedit.Failed} {
		fmt.Println(o)
	}
	// Output:
	// removed
	// already removed
	// not found
	// failed
}

// Clients, as if in separate processes (CI jobs, cron runs), share one
// token through a FileTokenStore instead of buying one each.
func ExampleWithTokenStore() {
	srv := atlastest.NewServer()
	defer srv.Close()
	dir, err := os.MkdirTemp("", "tokens")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store, err := authedit.NewFileTokenStore(dir) // "": under os.UserCacheDir
	if err != nil {
		log.Fatal(err)
	}
	for _, key := range srv.Keys()[:3] {
		client, err := authedit.NewClient(srv.URL, srv.Owner().ServiceAccount(), authedit.WithTokenStore(store), authedit.WithTimeout(time.Minute))
		if err != nil {
			log.Fatal(err)
		}
		outcome, err := client.Remove(context.Background(), srv.OrgID(), key)
		fmt.Println(outcome, err)
	}
	fmt.Println("token requests:", srv.CountRequests(func(r atlastest.Request) bool { return r.Method == http.MethodPost }))
	if err := store.Clear(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// removed <nil>
	// removed <nil>
	// removed <nil>
	// token requests: 1
}
