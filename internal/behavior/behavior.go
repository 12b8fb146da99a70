// Package behavior is the one table of what Atlas answers in each situation
// this module encodes, with the evidence for each answer. The reference
// server answers from it, smoke expects from it, and a test holds the
// README's fidelity table equal to it, so that no second copy can drift.
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
	if e < Recorded || e > Ours {
		return fmt.Sprintf("Evidence(%d)", int(e))
	}
	return [...]string{"recorded", "upstream spec/docs", "reported", "ours"}[e-Recorded]
}

// Situation names a case the contract covers.
type Situation string

// The situations, in the order the table lists them.
const (
	Removed          Situation = "removed"            // the key is deleted
	KeyNotFound      Situation = "key-not-found"      // no such key (absent or deleted)
	Unauthenticated  Situation = "unauthenticated"    // no, wrong or expired credentials
	NotOwner         Situation = "not-owner"          // not an Organization Owner of the org
	IPNotAllowed     Situation = "ip-not-allowed"     // from an IP not on the access list
	OrgNotFound      Situation = "org-not-found"      // no such organization
	InvalidVersion   Situation = "invalid-version"    // Accept names no resource version
	RateLimited      Situation = "rate-limited"       // the organization's bucket is empty
	TokenRateLimited Situation = "token-rate-limited" // too many token requests
	InvalidParameter Situation = "invalid-parameter"  // an id the spec's pattern refuses
	InvalidFlag      Situation = "invalid-flag"       // an envelope or pretty not one boolean
	NoSuchResource   Situation = "no-such-resource"   // a path or method not served
	ServerError      Situation = "server-error"       // Atlas failed
	Enveloped        Situation = "enveloped"          // envelope=true, after authentication
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

// ServerHeaders are the headers Atlas's servers add to an answer that
// reached the operation, in canonical form, with the values recorded on
// this operation's 204 (testdata/atlas/removed.http). A server measures its
// own X-Envoy-Upstream-Service-Time. Each call returns a fresh copy.
func ServerHeaders() http.Header {
	return http.Header{
		"Referrer-Policy":               {"strict-origin-when-cross-origin"},
		"Server":                        {"mdbws"},
		"Strict-Transport-Security":     {"max-age=31536000; includeSubdomains;"},
		"X-Content-Type-Options":        {"nosniff"},
		"X-Envoy-Upstream-Service-Time": {"71"},
		"X-Frame-Options":               {"DENY"},
		"X-Java-Method":                 {"ApiOrganizationApiUsersResource::deleteApiUser"},
		"X-Java-Version":                {"17.0.12+7"},
		"X-Mongodb-Service-Version": {
			"gitHash=6e0137abb37d10f0d6179c1d69ee492495b18e9d; versionString=master"},
		"X-Permitted-Cross-Domain-Policies": {"none"},
	}
}

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
	// Headers Atlas sends besides Content-Type and the ServerHeaders,
	// canonical names.
	Headers []string
	// ServerHeaders: the answer carries the ServerHeaders too. Recorded on
	// the 204; for the other answers after authentication by analogy.
	ServerHeaders bool
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

const jsonType = "application/json"

// Table lists every situation, a fresh copy each call.
func Table() []Answer {
	// Errors after authentication carry the organization's budget (recorded
	// across endpoints, Aug 2026); those without a known organization not.
	errorHeaders := []string{XErrorCode, RateLimitLimit, RateLimitRemaining}
	codeOnly := []string{XErrorCode}
	limitHeaders := []string{XErrorCode, RateLimitLimit, RateLimitRemaining, RetryAfter}
	return []Answer{{
		// The media type names the resource version the spec records.
		Situation: Removed, Status: 204, ContentType: contract.AcceptHeader() + ";charset=utf-8",
		Headers: []string{RateLimitLimit, RateLimitRemaining}, ServerHeaders: true,
		Evidence: Recorded, Recording: "removed.http",
		Source: "real Atlas HTTP snapshot of this operation, Aug 2026; the server headers' " +
			"values follow a real Atlas v2 answer in MongoDB's Terraform provider test data, " +
			"Nov 2024",
	}, {
		Situation: KeyNotFound, Status: 400, ErrorCode: "API_KEY_NOT_FOUND",
		Detail:      "No API key with ID %s exists.",
		ContentType: jsonType, Headers: errorHeaders, ServerHeaders: true,
		Evidence: Recorded, Recording: "key-not-found.http",
		Source: "a DELETE on this path logged in the Atlas CLI's PR 3353 (2024-10); " +
			"the Atlas CLI and the Terraform provider read this code as \"already gone\"",
	}, {
		Situation: Unauthenticated, Status: 401, ErrorCode: "UNEXPECTED_ERROR",
		Detail:      "You are not authorized for this resource.",
		ContentType: jsonType, Headers: []string{WWWAuthenticate}, NoParameters: true, Pretty: true,
		Evidence: Recorded, Recording: "unauthenticated.http",
		Source: "real Atlas HTTP snapshots, Aug 2026, all alike: one MD5 digest challenge, " +
			"realm \"MMS Public API\"; sent whatever the ids, flags or Accept (inferred: " +
			"no recorded 401 carries X-Java-Method or Ratelimit-*, and one naming an absent " +
			"project got this 401, not GROUP_NOT_FOUND)",
	}, {
		Situation: NotOwner, Status: 401, ErrorCode: "USER_UNAUTHORIZED",
		Detail:      "Current user is not authorized to perform this action.",
		ContentType: jsonType, Headers: errorHeaders, ServerHeaders: true, Evidence: Reported,
		Source: "MongoDB's Terraform provider CI logs on v2 endpoints, 2025-06 to 2026-09, " +
			"printed by the official Go SDK; Atlas's error-code list gives every role error " +
			"as 401; no recording shows a challenge with it, so none is sent; the headers " +
			"are inferred from the recorded errors after authentication",
	}, {
		Situation: IPNotAllowed, Status: 403, ErrorCode: "IP_ADDRESS_NOT_ON_ACCESS_LIST",
		Detail:      "IP address %s is not allowed to access this resource.",
		ContentType: jsonType, Headers: errorHeaders, ServerHeaders: true, Evidence: Reported,
		Source: "Ops Manager and Atlas v1.0 answers quoted in public issues; " +
			"upstream documents 403 for this operation; the headers are inferred from " +
			"the recorded errors after authentication",
	}, {
		Situation: OrgNotFound, Status: 404, ErrorCode: "ORG_NOT_FOUND",
		Detail:      "No organization with ID %s exists.",
		ContentType: jsonType, Headers: codeOnly, ServerHeaders: true, Evidence: Upstream,
		Source: "Atlas's published error-code list; the detail, and no Ratelimit-* headers, " +
			"as the recorded GROUP_NOT_FOUND (Aug 2026): an unknown parent has no bucket",
	}, {
		Situation: InvalidVersion, Status: 406, ErrorCode: "INVALID_VERSION_DATE",
		Detail:      "Invalid accept header or version date.",
		ContentType: jsonType, Headers: codeOnly, ServerHeaders: true, Evidence: Reported,
		Source: "two independent third-party reports; " +
			"later version dates than the operation's are served (recorded)",
	}, {
		Situation: RateLimited, Status: 429, ErrorCode: "RATE_LIMITED_TOKEN_BUCKET",
		Detail: "Rate limit exceeded for %s. Please retry after %d seconds. " +
			"Request capacity: %d. Refill rate: %d per %d seconds. " +
			"For more information, see: http://dochub.mongodb.org/core/atlas-api-rate-limit.",
		ContentType: jsonType, Headers: limitHeaders, ServerHeaders: true, Evidence: Upstream,
		Source: "Atlas's rate-limit docs (sample error message) and Terraform CI logs, 2026-04 " +
			"and 2026-09; capacity 500 recorded for this operation; the refill rate of 250 " +
			"a minute was found nowhere (ours)",
	}, {
		Situation: TokenRateLimited, Status: 429, ErrorCode: "RATE_LIMITED",
		Detail:      "Resource %s is limited to %d requests every %d minutes.",
		ContentType: jsonType, Headers: limitHeaders, Evidence: Reported,
		Source: "the Terraform provider's guide quotes Atlas's answer; " +
			"parameters [\"/api/oauth/token\",50,1]",
	}, {
		Situation: InvalidParameter, Status: 400, ErrorCode: "INVALID_PATH_PARAMETER",
		Detail:      "Invalid path parameter %s specified.",
		ContentType: jsonType, Headers: codeOnly, ServerHeaders: true, Evidence: Ours,
		Source: "Atlas's error-code list names this code and detail; " +
			"what Atlas answers a malformed id is not known",
	}, {
		Situation: InvalidFlag, Status: 400, ErrorCode: "INVALID_QUERY_PARAMETER",
		Detail:      "Invalid query parameter %s specified.",
		ContentType: jsonType, Headers: codeOnly, ServerHeaders: true, Evidence: Ours,
		Source: "named like INVALID_PATH_PARAMETER; " +
			"what Atlas answers a malformed envelope or pretty is not known",
	}, {
		Situation: NoSuchResource, Status: 404, ErrorCode: "RESOURCE_NOT_FOUND",
		Detail:      "No resource at %s: this server serves DELETE %s.",
		ContentType: jsonType, Headers: codeOnly, Evidence: Ours,
		Source: "the spec documents no 405; " +
			"a wrong path or method gets a 404 before authentication",
	}, {
		Situation: ServerError, Status: 500, ErrorCode: "UNEXPECTED_ERROR",
		Detail:      "Unexpected error.",
		ContentType: jsonType, Headers: errorHeaders, ServerHeaders: true, Evidence: Upstream,
		Source: "Atlas's published error-code list; upstream's example code",
	}, {
		Situation: Enveloped, Status: 200, ContentType: jsonType, ServerHeaders: true,
		Evidence: Ours,
		Source: "IPA-115 puts status and content in the body; " +
			"a 204 cannot carry one, so the HTTP status is 200",
	}}
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
