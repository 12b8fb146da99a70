// Package atlastest is a reference Atlas server for tests, in the spirit of
// net/http/httptest: it serves DELETE /api/atlas/v2/orgs/{orgId}/apiKeys/{apiUserId}
// as real Atlas answers it, with real Digest and service-account authentication.
//
// [NewTestServer] listens on loopback with one organization, its owner and
// member ([Principal]: an API key and a service account each) and keys to
// delete. A test adds keys ([Server.AddKey]), scripts faults ([Server.FailNext],
// [Server.DropNext], [Server.SetLatency], also on [Server.TokenEndpoint] and
// [Server.RevokeEndpoint]) and inspects ([Server.HasKey], [Server.Requests]).
// Invalid set-up panics, as httptest.NewServer does when it cannot listen.
//
// Statuses, errorCodes, details, parameters, content types and headers come
// from internal/behavior's table, which names its evidence; every answer fits
// the spec. Decided here, where the spec and the evidence are silent:
//
//   - Order of checks: the path must fit the template and the method be
//     DELETE (else 404 RESOURCE_NOT_FOUND: the spec documents no 405), ids
//     and flags the spec (else 400 VALIDATION_ERROR naming the field); then
//     authentication (401), Accept (406), faults, the organization (404),
//     the Organization Owner role (403), the rate limit (429), the key (400
//     API_KEY_NOT_FOUND).
//   - Only authorized requests spend the organization's bucket, so no 403
//     can turn its owner away with 429. Other answers show its level; an
//     unknown organization's reads full.
//   - Accept is checked after authentication, so that curl (Accept: */*)
//     sees the challenge first. Served: application/vnd.atlas.YYYY-MM-DD+json
//     (parameters allowed, q=0 refuses) with a real date on or after the spec's.
//   - A 401 is Atlas's, byte for byte but the nonce: a digest challenge per
//     algorithm (MD5 alone by default), a Bearer one only [WithBearerChallenge],
//     and a body that never says why; [Request].AuthError does.
//   - pretty=true prints every body as Atlas (Jackson) does, else compactly.
//     envelope=true wraps every answer after authentication but 401s in an
//     HTTP 200 envelope keeping the wrapped answer's headers.
//   - A right digest hash on an expired or forgotten nonce, or with an nc 1024
//     or more below the highest seen for its nonce, gets stale=true; a reused
//     nc a plain 401. Expired nonces and tokens are forgotten, and past 65,536
//     of a kind arbitrary ones too, so that no flood grows memory.
//   - The token and revocation endpoints take the client id and secret in
//     HTTP Basic only, a form-encoded body, each parameter at most once (else
//     400 invalid_request). A client may ask for 50 tokens a minute
//     ([WithTokenRateLimit]), then gets Atlas's 429. Only authenticated
//     requests are charged; the per-IP limit is left out (every caller shares
//     loopback); revocation is not limited.
//   - net/http answers some requests itself, in plain text and unlogged: a
//     bad request line 400, headers over 1 MB 431, HTTP versions but 1.x 505,
//     an unknown Transfer-Encoding 501, OPTIONS * 200.
//   - Ids are deterministic, the same on every run; secrets, nonces and
//     tokens come from crypto/rand.
package atlastest
