// Package behavior is the one table of what Atlas answers in each situation
// this module encodes, with the evidence for each answer. The reference
// server answers from it, smoke expects from it, the client classifies by
// it, and a test holds the README's fidelity table equal to it, so no second
// copy can drift.
package behavior

import (
	"fmt"
	"net/http"

	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// Evidence says how we know what Atlas answers, strongest first.
type Evidence int

const (
	// Recorded: observed on real Atlas; a file in testdata/atlas holds the answer.
	Recorded Evidence = iota + 1
	// Upstream: the upstream OpenAPI spec or Atlas's published docs say so.
	Upstream
	// Reported: third parties report it; nobody here has recorded it.
	Reported
	// Ours: nobody knows; the choice is ours.
	Ours
)

func (e Evidence) String() string {
	switch e {
	case Recorded:
		return "recorded"
	case Upstream:
		return "upstream spec/docs"
	case Reported:
		return "reported"
	case Ours:
		return "ours"
	}
	return fmt.Sprintf("Evidence(%d)", int(e))
}

// Situation names a case the contract covers.
type Situation string

// The situations, in the order the table lists them.
const (
	Removed          Situation = "removed"            // the key is deleted
	KeyNotFound      Situation = "key-not-found"      // no such key in the organization (absent or already deleted)
	Unauthenticated  Situation = "unauthenticated"    // no or wrong credentials
	InvalidVersion   Situation = "invalid-version"    // Accept names no, or an unknown, resource version
	NotOwner         Situation = "not-owner"          // authenticated, but not an Organization Owner of that org
	OrgNotFound      Situation = "org-not-found"      // no such organization
	RateLimited      Situation = "rate-limited"       // the organization's bucket is empty
	TokenRateLimited Situation = "token-rate-limited" // too many token requests from one client
	InvalidParameter Situation = "invalid-parameter"  // an id or flag the spec's schema refuses
	NoSuchResource   Situation = "no-such-resource"   // a path or method this API does not serve
	ServerError      Situation = "server-error"       // Atlas failed
	Enveloped        Situation = "enveloped"          // envelope=true: any answer after authentication
)

// Header names as Atlas spells them on the wire (Go canonicalises to these).
const (
	ContentType        = "Content-Type"
	WWWAuthenticate    = "Www-Authenticate"
	XErrorCode         = "X-Error-Code"
	RateLimitLimit     = "Ratelimit-Limit"
	RateLimitRemaining = "Ratelimit-Remaining"
	RetryAfter         = "Retry-After"
)

// Answer is what Atlas sends in one situation.
type Answer struct {
	Situation Situation
	Status    int
	ErrorCode string // ApiError.errorCode; empty for a 204 or an envelope
	// Detail is the ApiError.detail, a fmt template whose verbs take the
	// answer's parameters in order (e.g. the key id).
	Detail string
	// ContentType is the Content-Type header Atlas sends.
	ContentType string
	// Headers Atlas sends besides Content-Type, canonical names.
	Headers []string
	// NoParameters: the body has no "parameters" key at all (Atlas's 401);
	// otherwise it is the answer's parameters, [] when there are none.
	NoParameters bool
	// Pretty: Atlas pretty-prints this body even without pretty=true.
	Pretty bool

	Evidence Evidence
	Source   string // where the evidence is, e.g. a PR, a doc, a recording
	// Recording is the file under testdata/atlas holding a recorded
	// answer, "" when none is recorded.
	Recording string
}

// VersionedJSON is the media type of a successful answer: the resource
// version the spec records (info.x-atlas-api-version).
func VersionedJSON() string {
	return "application/vnd.atlas." + contract.APIVersion() + "+json;charset=utf-8"
}

// errorHeaders are what Atlas sends on errors after authentication
// (recorded across endpoints, Aug 2026).
var errorHeaders = []string{XErrorCode, RateLimitLimit, RateLimitRemaining}

// Table lists every situation, a fresh copy each call.
func Table() []Answer {
	return []Answer{
		{
			Situation: Removed, Status: http.StatusNoContent, ContentType: VersionedJSON(),
			Headers:  []string{RateLimitLimit, RateLimitRemaining},
			Evidence: Recorded, Source: "real Atlas HTTP snapshot of this operation, Aug 2026", Recording: "removed.http",
		},
		{
			Situation: KeyNotFound, Status: http.StatusBadRequest, ErrorCode: "API_KEY_NOT_FOUND",
			Detail: "No API key with ID %s exists.", ContentType: "application/json", Headers: errorHeaders,
			Evidence: Recorded, Source: "a DELETE on this path logged in the Atlas CLI's PR 3353 (2024-10); the Atlas CLI and the Terraform provider read this code as \"already gone\"",
			Recording: "key-not-found.http",
		},
		{
			Situation: Unauthenticated, Status: http.StatusUnauthorized, ErrorCode: "UNEXPECTED_ERROR",
			Detail: "You are not authorized for this resource.", ContentType: "application/json",
			Headers: []string{WWWAuthenticate}, NoParameters: true, Pretty: true,
			Evidence: Recorded, Source: "real Atlas HTTP snapshots, Aug 2026, all alike: one MD5 digest challenge, realm \"MMS Public API\"",
			Recording: "unauthenticated.http",
		},
		{
			Situation: InvalidVersion, Status: http.StatusNotAcceptable, ErrorCode: "INVALID_VERSION_DATE",
			Detail: "Invalid accept header or version date.", ContentType: "application/json", Headers: []string{XErrorCode},
			Evidence: Reported, Source: "two independent third-party reports; later version dates than the operation's are served (recorded)",
		},
		{
			Situation: NotOwner, Status: http.StatusForbidden, ErrorCode: "USER_UNAUTHORIZED",
			Detail: "The caller does not have the Organization Owner role on organization %s.", ContentType: "application/json", Headers: errorHeaders,
			Evidence: Ours, Source: "upstream spec documents 403; older Atlas error docs list role failures as 401 USER_UNAUTHORIZED; unverified",
		},
		{
			Situation: OrgNotFound, Status: http.StatusNotFound, ErrorCode: "ORG_NOT_FOUND",
			Detail: "No organization with ID %s exists.", ContentType: "application/json", Headers: errorHeaders,
			Evidence: Upstream, Source: "Atlas's published error-code list; the detail follows the recorded GROUP_NOT_FOUND (Aug 2026)",
		},
		{
			Situation: RateLimited, Status: http.StatusTooManyRequests, ErrorCode: "RATE_LIMITED",
			Detail: "Resource has been rate limited. Retry after the delay in Retry-After.", ContentType: "application/json",
			Headers:  []string{XErrorCode, RateLimitLimit, RateLimitRemaining, RetryAfter},
			Evidence: Upstream, Source: "upstream spec: 429 RATE_LIMITED with RateLimit-Limit, RateLimit-Remaining, Retry-After; 500 then 250 a minute per organization",
		},
		{
			Situation: TokenRateLimited, Status: http.StatusTooManyRequests, ErrorCode: "RATE_LIMITED",
			Detail: "Resource %s is limited to %d requests every %d minutes.", ContentType: "application/json",
			Headers:  []string{XErrorCode, RateLimitLimit, RateLimitRemaining, RetryAfter},
			Evidence: Reported, Source: "the Terraform provider's guide quotes Atlas's answer; parameters [\"/api/oauth/token\",50,1]",
		},
		{
			Situation: InvalidParameter, Status: http.StatusBadRequest, ErrorCode: "VALIDATION_ERROR",
			Detail: "Request contains an invalid value for %s parameter %s.", ContentType: "application/json", Headers: []string{XErrorCode},
			Evidence: Ours, Source: "what Atlas answers a malformed id is not known",
		},
		{
			Situation: NoSuchResource, Status: http.StatusNotFound, ErrorCode: "RESOURCE_NOT_FOUND",
			Detail: "No resource at %s: this server serves DELETE %s.", ContentType: "application/json", Headers: []string{XErrorCode},
			Evidence: Ours, Source: "the spec documents no 405; a wrong path or method gets a 404",
		},
		{
			Situation: ServerError, Status: http.StatusInternalServerError, ErrorCode: "UNEXPECTED_ERROR",
			Detail: "An unexpected error occurred.", ContentType: "application/json", Headers: errorHeaders,
			Evidence: Upstream, Source: "upstream spec example: 500 UNEXPECTED_ERROR",
		},
		{
			Situation: Enveloped, Status: http.StatusOK, ContentType: "application/json",
			Evidence: Ours, Source: "IPA-115 puts status and content in the body; a 204 cannot carry one, so the HTTP status is 200",
		},
	}
}

// Lookup returns the answer for s; ok is false for a situation not in the table.
func Lookup(s Situation) (a Answer, ok bool) {
	for _, a := range Table() {
		if a.Situation == s {
			return a, true
		}
	}
	return Answer{}, false
}
