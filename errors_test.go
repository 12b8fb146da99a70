package deleteorgapikey

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/authedit"
)

// Atlas's answers, byte for byte as its docs and logs show them.
var (
	challenge = answer{status: http.StatusUnauthorized, header: http.Header{
		"Content-Type": {"application/json"},
		"Www-Authenticate": {`Digest realm="MMS Public API", domain="", nonce="bm9uY2U", ` +
			`algorithm=MD5, qop="auth", stale=false`}},
		body: `{"detail":"You are not authorized for this resource.","error":401,` +
			`"errorCode":"UNEXPECTED_ERROR","reason":"Unauthorized"}`}
	notOwner = answer{status: http.StatusUnauthorized, header: jsonError("USER_UNAUTHORIZED"),
		body: `{"detail":"Current user is not authorized to perform this action.","error":401,` +
			`"errorCode":"USER_UNAUTHORIZED","parameters":[],"reason":"Unauthorized"}`}
	ipNotAllowed = answer{status: http.StatusForbidden,
		header: jsonError("IP_ADDRESS_NOT_ON_ACCESS_LIST"),
		body: `{"detail":"IP address 203.0.113.7 is not allowed to access this resource.",` +
			`"error":403,"errorCode":"IP_ADDRESS_NOT_ON_ACCESS_LIST",` +
			`"parameters":["203.0.113.7"],"reason":"Forbidden"}`}
	// tokenBucket comes without Retry-After and without rate-limit
	// headers, which Atlas "might not always" send.
	tokenBucket = answer{status: http.StatusTooManyRequests,
		header: jsonError("RATE_LIMITED_TOKEN_BUCKET"),
		body: `{"detail":"Rate limit exceeded for ` + limitedPath + `. Please retry after 7 ` +
			`seconds. Request capacity: 500. Refill rate: 250 per 60 seconds. For more ` +
			`information, see: http://dochub.mongodb.org/core/atlas-api-rate-limit.",` +
			`"error":429,"errorCode":"RATE_LIMITED_TOKEN_BUCKET",` +
			`"parameters":["` + limitedPath + `",7,500,250,60],"reason":"Too Many Requests"}`}
)

const limitedPath = "api/atlas/v2/orgs/" + orgID + "/apiKeys/" + keyID

func jsonError(code string) http.Header {
	return http.Header{"Content-Type": {"application/json"}, "X-Error-Code": {code}}
}

// Where Atlas uses one status for several things, the errorCode decides,
// the same way for an API key and a service account: a role error is no
// refusal of the credentials, so it costs one request and no new token or
// challenge, challenge or not. Each message starts with its class.
func TestAnswersSharingAStatus(t *testing.T) {
	refused401 := answer{status: http.StatusUnauthorized}
	challenged := answer{notOwner.status, challenge.header, notOwner.body}
	const forbidden, refused = "not allowed: ", "credentials refused: "
	tests := []struct {
		name    string
		answer  answer
		class   error
		message string
		// requests of a warmed client: the challenge known, a token held
		digestAPI, bearerAPI, bearerTokens int32
	}{
		{"role error", notOwner, ErrForbidden, forbidden, 1, 1, 0},
		{"role error with a challenge", challenged, ErrForbidden, forbidden, 1, 1, 0},
		{"refusal", challenge, ErrUnauthorized, refused, 2, 2, 1},
		{"refusal without a body", refused401, ErrUnauthorized, refused, 1, 2, 1},
		{"IP not on the access list", ipNotAllowed, ErrForbidden, forbidden +
			`Atlas answered 403 Forbidden: IP_ADDRESS_NOT_ON_ACCESS_LIST (IP address ` +
			`203.0.113.7 is not allowed to access this resource.); add 203.0.113.7 to the ` +
			`access list`, 1, 1, 0},
		{"token bucket", tokenBucket, ErrRateLimited, "rate limited: ", 1, 1, 0},
	}
	account := authedit.ServiceAccount{ClientID: "id", ClientSecret: "client-secret"}
	for _, tc := range tests {
		for _, creds := range []authedit.Credentials{digestKey, account} {
			t.Run(fmt.Sprintf("%s/%T", tc.name, creds), func(t *testing.T) {
				h := &canned{answers: []answer{{status: http.StatusNoContent}, tc.answer}}
				api, tokens := tc.bearerAPI, tc.bearerTokens
				if creds == authedit.Credentials(digestKey) {
					h.answers = append([]answer{challenge}, h.answers...)
					api, tokens = tc.digestAPI, 0
				}
				c := newClient(t, serve(t, h), creds, once)
				if out, err := c.Remove(t.Context(), orgID, keyID); out != Removed {
					t.Fatalf("warm-up: %v, %v", out, err)
				}
				api0, tokens0 := h.api.Load(), h.tokens.Load()
				_, err := c.Remove(t.Context(), orgID, keyID)
				if !errors.Is(err, tc.class) || !strings.HasPrefix(err.Error(), tc.message) {
					t.Errorf("Remove: %v; want %v, message starting %q", err, tc.class, tc.message)
				}
				a, tk := h.api.Load()-api0, h.tokens.Load()-tokens0
				if a != api || tk != tokens {
					t.Errorf("%d requests, %d token requests; want %d and %d", a, tk, api, tokens)
				}
			})
		}
	}
}

// A token bucket's 429 without Retry-After gives the wait it names.
func TestRetryAfterFromParameters(t *testing.T) {
	h := &canned{answers: []answer{tokenBucket}}
	_, err := newClient(t, serve(t, h), digestKey, once).Remove(t.Context(), orgID, keyID)
	var e *APIError
	if !errors.As(err, &e) || e.RetryAfter != 7*time.Second || e.Limit != 0 {
		t.Errorf("Remove: %v, want an *APIError with RetryAfter 7s", err)
	}
}

// A wrong API key and a wrong service-account secret read alike.
func TestWrongCredentialsReadAlike(t *testing.T) {
	srv := atlastest.NewTestServer(t)
	key, account := srv.Owner().APIKey(), srv.Owner().ServiceAccount()
	key.PrivateKey, account.ClientSecret = "wrong-private-key", "wrong-client-secret"
	for _, creds := range []authedit.Credentials{key, account} {
		_, err := newClient(t, srv.URL, creds).Remove(t.Context(), srv.OrgID(), srv.Keys()[0])
		refused := strings.HasPrefix(err.Error(), "credentials refused: ")
		if !errors.Is(err, ErrUnauthorized) || !refused {
			t.Errorf("%T: %v, want credentials refused", creds, err)
		}
		if strings.Contains(err.Error(), "wrong-") {
			t.Errorf("%T: the message shows the secret: %v", creds, err)
		}
	}
}

// Each class matches its sentinel and no other, and names itself first.
func TestErrorClasses(t *testing.T) {
	api := func(status int, code string) error {
		return &APIError{StatusCode: status, ErrorCode: code}
	}
	token := func(status int, code string) error {
		return classify(&authedit.TokenError{Op: "token", StatusCode: status, ErrorCode: code})
	}
	tests := []struct {
		err   error
		class error
		text  string // the start of the message when class is nil
	}{
		{api(401, "UNEXPECTED_ERROR"), ErrUnauthorized, ""},
		{api(401, "NOT_ORG_OWNER"), ErrForbidden, ""},
		{api(403, "USER_UNAUTHORIZED"), ErrForbidden, ""},
		{api(404, "ORG_NOT_FOUND"), ErrOrgNotFound, ""},
		{api(404, "RESOURCE_NOT_FOUND"), nil, "request refused: "},
		{api(406, "INVALID_VERSION_DATE"), nil, "request refused: "},
		{api(429, ""), ErrRateLimited, ""},
		{&APIError{StatusCode: 503, Attempts: 4}, ErrServerError, ""},
		{api(200, ""), nil, "unexpected answer: "},
		{token(401, "invalid_client"), ErrUnauthorized, ""},
		{token(400, "invalid_client"), ErrUnauthorized, ""},
		{token(429, "RATE_LIMITED"), ErrRateLimited, ""},
		{token(502, ""), ErrServerError, ""},
		{token(400, "invalid_request"), nil, "the token request got HTTP 400"},
	}
	for _, tc := range tests {
		for _, c := range []error{ErrUnauthorized, ErrForbidden, ErrOrgNotFound, ErrRateLimited,
			ErrServerError} {
			if got := errors.Is(tc.err, c); got != (c == tc.class) {
				t.Errorf("errors.Is(%v, %v) = %v", tc.err, c, got)
			}
		}
		if tc.class != nil {
			tc.text = tc.class.Error() + ": "
		}
		if !strings.HasPrefix(tc.err.Error(), tc.text) {
			t.Errorf("%q does not start with %q", tc.err, tc.text)
		}
	}
	wrapped := fmt.Errorf("wrapped: %w", tests[1].err)
	if !IsErrorCode(wrapped, "NOT_ORG_OWNER") || IsErrorCode(nil, "") {
		t.Error("IsErrorCode does not find the errorCode through a wrapper")
	}
}
