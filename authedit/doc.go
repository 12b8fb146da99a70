// Package authedit authenticates requests to the Atlas Administration API.
// It does nothing else: the root package, deleteorgapikey, builds on it to
// remove organization API keys with retries and typed errors.
//
// # Credentials
//
// An [APIKey] is a programmatic API key, a public key and a private key.
// A [ServiceAccount] is a client id and a client secret.
// [CredentialsFromEnv] reads either from the variables the Atlas CLI uses,
// and [BaseURLFromEnv] reads the base URL the same way.
// The private halves are of type [Secret], which prints as "[redacted]":
// credentials can be logged without leaking them.
//
// # Transport
//
// [NewTransport] returns a [Transport], an http.RoundTripper in the manner
// of x/oauth2's: put it in an http.Client, or hand it to the generated
// client of package gen, as the package example shows.
// It authenticates only the requests that go to its base URL's origin.
// It refuses cleartext http to any host but loopback, unless told otherwise.
//
// With an APIKey, the Transport answers Atlas's HTTP Digest challenge with
// github.com/icholy/digest. It keeps the challenge, so that after the first
// request each request costs one round trip.
//
// With a ServiceAccount, the Transport asks the token endpoint for an
// OAuth 2.0 Bearer token with golang.org/x/oauth2's client credentials flow.
// It keeps the token until a minute before it expires, and one token
// request serves every request made meanwhile.
// A token request that fails is a [*TokenError].
// [Transport.Revoke] revokes the token when the job is done.
//
// # What a 401 means
//
// Atlas answers 401 both when it refuses the credentials and when the
// credentials lack a role, such as Organization Owner.
// The body's errorCode tells them apart: [IsRoleError] knows the role errors.
// A role error goes back to the caller as it came, after one request.
// Any other 401 refuses the credentials: the Transport fetches a new token,
// or answers the new Digest challenge, and sends the request once more.
// A second refusal goes back to the caller.
//
// # Sharing tokens between processes
//
// Atlas lets a service account ask for 50 tokens a minute. Jobs that start
// often, such as CI runs, can share one token through a [FileTokenStore]
// set as the Transport's TokenStore. The store holds tokens, never secrets.
package authedit
