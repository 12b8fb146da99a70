// Package atlastest is a reference Atlas server for tests, in the spirit of
// net/http/httptest. It serves DELETE /api/atlas/v2/orgs/{orgId}/apiKeys/{apiUserId}
// as real Atlas answers it, with real Digest and service-account
// authentication.
//
// [NewTestServer] listens on loopback with one organization, its owner and
// its member ([Principal]: an API key and a service account each), and keys
// to delete. A test adds keys ([Server.AddKey]), sets an IP access list
// ([Server.SetAccessList]), scripts faults ([Server.FailNext],
// [Server.DropNext], [Server.SetLatency], also on [Server.TokenEndpoint] and
// [Server.RevokeEndpoint]) and inspects ([Server.HasKey], [Server.Requests]).
// Invalid set-up panics, as httptest.NewServer does when it cannot listen.
//
// Statuses, errorCodes, details, parameters, content types and headers come
// from the module's table of what Atlas answers (internal/behavior; the
// README's fidelity table shows it with its evidence), and every
// answer fits the spec in package openapi. The generated server (package
// gen) routes each request and binds its flags; the server checks the ids
// against the spec's pattern. Decided here, where the spec and the
// evidence are silent:
//
//   - Order of checks: the path must fit the template and the method be
//     DELETE (else 404 RESOURCE_NOT_FOUND, the spec documents no 405; a path
//     with a "." or ".." or empty segment fits nothing). Then authentication
//     (401 with a digest challenge), whatever the ids, flags or Accept, as
//     Atlas does. Then the flags (400 INVALID_QUERY_PARAMETER), the ids (400
//     INVALID_PATH_PARAMETER), Accept (406), faults, the organization (404,
//     without Ratelimit-* headers), the IP access list (403), the role (401
//     USER_UNAUTHORIZED, without a challenge), the bucket (429
//     RATE_LIMITED_TOKEN_BUCKET) and the key (400 API_KEY_NOT_FOUND).
//   - Only authorized requests spend the organization's bucket, so that no
//     refused caller can turn its owner away with 429.
//   - A flag is bound as the generated router binds a boolean: any value
//     strconv.ParseBool takes, once. An answer to a malformed flag is
//     neither enveloped nor pretty-printed.
//   - Accept: application/vnd.atlas.YYYY-MM-DD+json (parameters allowed,
//     q=0 refuses) with a real date on or after the spec's.
//   - A 401 for refused credentials is Atlas's, byte for byte but the
//     nonce: one MD5 digest challenge and a body that never says why;
//     [Request].AuthError does.
//   - Answers after authentication carry Atlas's server headers (Server:
//     mdbws, X-Java-Method, ...), as testdata/atlas/removed.http records them.
//   - pretty=true prints every body as Atlas (Jackson) does, else compactly.
//     envelope=true wraps every answer after authentication in an HTTP 200
//     envelope that keeps the wrapped answer's headers.
//   - A nonce is good for 5 minutes. A right digest hash on an expired or
//     forgotten nonce gets stale=true. The nonce count is not tracked, so a
//     request sent again with the same Authorization is answered again, as
//     a server that checks only the nonce's age would (what Atlas does with
//     a replay is not known). Expired nonces and tokens are
//     forgotten, and past 65,536 of a kind arbitrary ones too, so that a
//     server running for hours keeps its memory bounded ([WithLogLimit]
//     bounds the log).
//   - The token and revocation endpoints take the client id and secret in
//     HTTP Basic and a form-encoded body. A client may ask for 50 tokens a
//     minute ([WithTokenRateLimit]), then gets Atlas's 429. Only
//     authenticated token requests are charged; the per-IP limit is left
//     out (every caller shares loopback); revocation is not limited.
//   - net/http answers some requests itself, in plain text and unlogged: a
//     bad request line 400, headers over 1 MB 431, HTTP versions but 1.x
//     505, an unknown Transfer-Encoding 501, OPTIONS * 200.
//   - Ids are deterministic, the same on every run; secrets, nonces and
//     tokens come from crypto/rand.
package atlastest
