// Package atlastest is a reference Atlas server for tests, in the spirit of net/http/httptest:
// it serves DELETE /api/atlas/v2/orgs/{orgId}/apiKeys/{apiUserId} as real Atlas answers it, with real Digest and service-account authentication.
//
// A zero-configuration [NewServer] (or [NewTestServer], closed when the test
// ends) listens on loopback with one organization, an owner and a member
// ([Principal]: an API key and a service account each, ready for authedit
// through [Principal.APIKey] and [Principal.ServiceAccount]) and a few keys
// to delete. Every answer validates against the embedded spec
// (internal/contract); rate limiting, keys added at run time
// ([Server.AddKey]), fault injection ([Server.FailNext],
// [Server.SetRetryAfter], [Server.DropNext], [Server.SetLatency]) and
// inspection ([Server.HasKey], [Server.OrgKeys], [Server.KeyProjects],
// [Server.Requests]) let a test script the server.
//
// Answers follow real Atlas, not only the spec: every status, errorCode,
// detail, parameters list, content type and header set comes from the one
// table in internal/behavior, which names the evidence for each (recorded,
// upstream, reported or ours). So an absent or deleted key gets 400
// API_KEY_NOT_FOUND with parameters [keyId], an unknown organization 404
// ORG_NOT_FOUND, a 204 the versioned content type and rate-limit headers,
// errors after authentication X-Error-Code and rate-limit headers, and
// error bodies the keys detail, error, errorCode, parameters ([] when
// none) and reason.
//
// Behaviour the spec and the evidence leave open, decided here:
//
//   - Order of checks: the path must fit the template (else 404
//     RESOURCE_NOT_FOUND), the method must be DELETE (else the same 404,
//     because the spec documents no 405), ids and flags must match the spec
//     (else 400 VALIDATION_ERROR naming the field in badRequestDetail), then
//     authentication (401), then the Accept header (406
//     INVALID_VERSION_DATE). Only then do fault injection, the organization
//     lookup (404 ORG_NOT_FOUND), the Organization Owner check (403), the
//     organization's rate limit (429) and the key lookup (400
//     API_KEY_NOT_FOUND) run.
//   - Only authorized requests spend an organization's rate-limit bucket:
//     the role check comes before it, so a member or another organization's
//     owner, however many 403s they collect, cannot turn the owner away with
//     429. Answers that spend nothing (403, 404 ORG_NOT_FOUND, injected
//     faults) still show the bucket's level; an unknown organization's
//     reads full. [WithClock] drives the refill.
//   - Accept is checked after authentication, so that a digest client such
//     as curl, which sends Accept: */* unless told otherwise, sees the 401
//     challenge it must answer before it can learn about the version. Any
//     media range of the form application/vnd.atlas.YYYY-MM-DD+json
//     (parameters allowed, q=0 refuses it) with a real date on or after the
//     spec's x-atlas-api-version is served; application/json, */*, no
//     Accept, or an earlier or impossible date gets 406.
//   - The 401 is Atlas's, byte for byte apart from the nonce: one challenge
//     per digest algorithm (MD5 only by default, as Atlas), a Bearer
//     challenge only [WithBearerChallenge], and the recorded pretty-printed
//     body with the keys error, reason, detail, errorCode and no parameters.
//     That body never says why; [Request.AuthError] in the request log does.
//   - pretty=true prints every body as Atlas (Jackson) does: two-space
//     indent, "key" : value, arrays on one line as [ a, b ]. Without it,
//     bodies are compact with no trailing newline.
//   - envelope=true wraps every answer produced after authentication in an
//     HTTP 200 ApiEnvelope, which keeps the headers of the answer it wraps
//     (X-Error-Code, rate limits, Retry-After). Answers given before it
//     (400, 404 for a wrong path or method, 401 challenges) keep their
//     status: digest and OAuth clients need to see the 401.
//   - A failed digest attempt with a correct hash on an expired nonce gets
//     stale=true, and so does an nc 1024 or more below the highest seen for
//     its nonce (too old to tell from a replay, so the client is sent to a
//     new nonce); a reused nc gets a plain 401.
//   - The token and revocation endpoints take the client id and secret in
//     HTTP Basic only, a form-encoded body, and each parameter at most once
//     (else 400 invalid_request, RFC 6749 section 3.1). The token endpoint
//     allows each client 50 requests a minute (the spec's token budget;
//     [WithTokenRateLimit]), refilled evenly; past that it answers Atlas's
//     429 RATE_LIMITED body (reported) with Retry-After, X-Error-Code and
//     rate-limit headers. Only requests whose client authenticated are
//     charged, so a wrong secret cannot spend another client's budget;
//     Atlas's per-IP limit is left out (every caller of a test server
//     shares loopback), and revocation is not limited.
//   - Some requests net/http answers itself, before the handler, in plain
//     text and outside the spec: a bad %-escape or a raw control byte (NUL)
//     in the request line gets 400, headers over 1 MB 431, an HTTP version
//     other than 1.x (HTTP/2.0 without its preface, HTTP/3.0) 505, a
//     Transfer-Encoding other than chunked 501, and OPTIONS * 200 with an
//     empty body (http.Server's general OPTIONS handler; a server of your
//     own with DisableGeneralOptionsHandler passes it to the handler, which
//     answers 404). None of them is logged or changes anything. Everything
//     that reaches the handler gets a spec-shaped answer.
//   - Ids (organizations, projects, keys, public keys, client ids) come from
//     a deterministic generator seeded by [WithSeed] (default 1), so a test
//     sees the same ids on every run; secrets, nonces and tokens come from
//     crypto/rand.
package atlastest
