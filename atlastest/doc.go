// Package atlastest is a reference Atlas server for tests, in the spirit of net/http/httptest:
// it serves DELETE /api/atlas/v2/orgs/{orgId}/apiKeys/{apiUserId} exactly as the spec says, with real Digest and service-account authentication.
//
// A zero-configuration [NewServer] listens on loopback with one organization,
// an owner service account, an owner and a member API key and a few keys to
// delete. Every answer validates against the embedded spec (see package
// contract); rate limiting, fault injection ([Server.FailNext],
// [Server.DropNext], [Server.SetLatency]) and inspection ([Server.OrgKeys],
// [Server.KeyProjects], [Server.Requests]) let a test script the server.
//
// Behaviour the spec leaves open, decided here:
//
//   - Order of checks: the path must fit the template (else 404), the method
//     must be DELETE (else 404, because the spec documents no 405), ids and
//     flags must match the spec (else 400 VALIDATION_ERROR naming the field),
//     then authentication (401). Only then do fault injection, the
//     organization lookup (404 ORG_NOT_FOUND), the organization's rate limit
//     (429), the Organization Owner check (403) and the key lookup (404) run.
//   - envelope=true wraps every answer produced after authentication in an
//     HTTP 200 ApiEnvelope. Answers given before it (400, 404 for a wrong
//     path or method, 401 challenges) keep their status: digest and OAuth
//     clients need to see the 401.
//   - Authentication: a failed digest attempt is answered with digest
//     challenges (one per algorithm, one shared nonce, MD5 first like Atlas, so
//     clients that read only the first challenge work), a failed
//     Bearer token with a Bearer challenge, and no or other credentials (Basic
//     included) with both. A correct digest on an expired nonce gets
//     stale=true, and so does an nc 1024 or more below the highest seen for
//     its nonce (too old to tell from a replay, so the client is sent to a
//     new nonce); a reused nc gets a plain 401. The token and revocation endpoints take the
//     client id and secret in HTTP Basic only.
//   - A request net/http itself refuses never reaches the handler: a bad
//     %-escape or a raw control byte (NUL) in the request line gets
//     net/http's plain-text 400, headers over 1 MB its 431. Everything that
//     reaches the handler gets a spec-shaped answer.
//   - Ids (organizations, projects, keys, public keys, client ids) come from
//     a deterministic generator seeded by [WithSeed] (default 1), so a test
//     sees the same ids on every run; secrets, nonces, tokens and the digest
//     opaque come from crypto/rand.
package atlastest
