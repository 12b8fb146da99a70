// Package deleteorgapikey removes organization API keys from MongoDB Atlas.
// It is a client for one operation of the Atlas Administration API,
// "Remove One Organization API Key" (DELETE
// /api/atlas/v2/orgs/{orgId}/apiKeys/{apiUserId}), in the manner of
// go-github: typed outcomes, typed errors, and retries that know what a
// lost answer means.
//
// # Building a client
//
// [NewClient] takes the base URL and the credentials. Package authedit
// reads both from the Atlas CLI's environment variables:
//
//	creds, err := authedit.CredentialsFromEnv(os.LookupEnv)
//	...
//	client, err := deleteorgapikey.NewClient(authedit.BaseURLFromEnv(os.LookupEnv), creds)
//
// An authedit.APIKey authenticates by HTTP Digest, and an
// authedit.ServiceAccount with OAuth 2.0 Bearer tokens.
// Options set the retry policy, the timeout of each call (30 seconds by
// default), the transport below authentication, a token store, and
// whether cleartext http to a host that is not loopback is allowed.
//
// # Remove and Remover
//
// [Client.Remove] removes one key and says what became of it, an [Outcome]:
// Removed, NotFound (Atlas has no such key), AlreadyRemoved (an earlier
// attempt of the same call removed it, but its answer was lost), or Failed,
// with an error.
// It checks both ids against the spec's pattern before it sends anything.
//
// A [Remover] removes many keys of one organization. It runs a few requests
// at a time, at the pace of the organization's budget, and stops early when
// an answer says that no key can be removed, such as refused credentials.
//
// The generated signatures, [Client.DeleteOrgApiKey] and
// [Client.DeleteOrgApiKeyWithResponse], give the raw answer to callers that
// want it.
//
// # Errors
//
// A caller branches on the class of a failure with errors.Is:
// [ErrUnauthorized] (credentials refused), [ErrForbidden] (not an
// Organization Owner, or an IP address not on the access list),
// [ErrOrgNotFound], [ErrRateLimited] and [ErrServerError].
// Every error in a class starts its message with the class in words, the
// same for an API key and a service account.
// An [*APIError] holds what Atlas answered, and [IsErrorCode] asks for its
// errorCode. A [*ParamError] is an id that was refused before sending.
//
// # Retries
//
// A call retries 429, 500, 502, 503 and 504 answers, and lost connections,
// as its [RetryPolicy] says: at most 4 attempts, a jittered backoff, and a
// Retry-After honoured up to 30 seconds but never past the context's
// deadline. Every attempt is authenticated afresh.
// When an attempt was written and its answer lost, a later attempt that
// finds no key reports AlreadyRemoved.
//
// # Tokens
//
// A service account's client mints a token on its first call and keeps it
// until shortly before it expires. Atlas allows 50 token requests a minute,
// so processes that start often share tokens with [WithTokenStore].
// [Client.Revoke] revokes the client's token when the job is done.
//
// Package atlastest is a reference Atlas server to test such code against.
package deleteorgapikey
