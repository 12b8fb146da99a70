package deleteorgapikey

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/authedit"
)

// challenge is Atlas's 401 to a request without credentials, as recorded.
var challenge = answer{status: http.StatusUnauthorized, header: http.Header{
	"Content-Type": {"application/json"},
	"Www-Authenticate": {`Digest realm="MMS Public API", domain="", nonce="bm9uY2U", ` +
		`algorithm=MD5, qop="auth", stale=false`}},
	body: `{"detail":"You are not authorized for this resource.","error":401,` +
		`"errorCode":"UNEXPECTED_ERROR","reason":"Unauthorized"}`}

// Where Atlas uses one status for several things, the errorCode decides,
// the same way for an API key and a service account: a role error is no
// refusal of the credentials, so it costs one request and no new token or
// challenge, challenge or not. Each message starts with its class.
// atlastest gives what FailNext can (fail); the canned server the rest.
func TestAnswersSharingAStatus(t *testing.T) {
	roleError := `{"detail":"Current user is not authorized to perform this action.",` +
		`"error":401,"errorCode":"USER_UNAUTHORIZED","parameters":[],"reason":"Unauthorized"}`
	const forbidden, refused = "not allowed: ", "credentials refused: "
	tests := []struct {
		name    string
		fail    int
		canned  answer
		class   error
		message string
		// requests of a warmed client: the challenge known, a token held
		digestAPI, bearerAPI, bearerTokens int
	}{
		{"role error", 401, answer{}, ErrForbidden, forbidden, 1, 1, 0},
		{"role error with a challenge", 0, answer{401, challenge.header, roleError},
			ErrForbidden, forbidden, 1, 1, 0},
		{"refusal", 0, challenge, ErrUnauthorized, refused, 2, 2, 1},
		{"refusal without a body", 0, answer{status: 401}, ErrUnauthorized, refused, 1, 2, 1},
		{"IP not on the access list", 403, answer{}, ErrForbidden, forbidden +
			`Atlas answered 403 Forbidden: IP_ADDRESS_NOT_ON_ACCESS_LIST (IP address ` +
			`127.0.0.1 is not allowed to access this resource.); add 127.0.0.1 to the ` +
			`access list`, 1, 1, 0},
		{"token bucket", 429, answer{}, ErrRateLimited, "rate limited: ", 1, 1, 0},
	}
	for _, tc := range tests {
		for _, digest := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/digest=%v", tc.name, digest), func(t *testing.T) {
				srv := atlastest.NewTestServer(t)
				baseURL, key, sa := srv.URL, srv.Owner().APIKey(), srv.Owner().ServiceAccount()
				count := func() (api, tokens int) {
					api = srv.CountRequests(isOperation)
					return api, len(srv.Requests()) - api
				}
				if tc.fail == 0 {
					h := &canned{answers: []answer{{status: http.StatusNoContent}, tc.canned}}
					if digest {
						h.answers = append([]answer{challenge}, h.answers...)
					}
					baseURL, key, sa = serve(t, h), digestKey, account
					count = func() (int, int) { return int(h.api.Load()), int(h.tokens.Load()) }
				}
				creds, api, tokens := authedit.Credentials(sa), tc.bearerAPI, tc.bearerTokens
				if digest {
					creds, api, tokens = key, tc.digestAPI, 0
				}
				c := newClient(t, baseURL, creds, once)
				if out, err := c.Remove(t.Context(), srv.OrgID(), srv.Keys()[0]); out != Removed {
					t.Fatalf("warm-up: %v, %v", out, err)
				}
				api0, tokens0 := count()
				if tc.fail != 0 {
					srv.FailNext(1, tc.fail)
				}
				_, err := c.Remove(t.Context(), srv.OrgID(), srv.Keys()[1])
				if !errors.Is(err, tc.class) || !strings.HasPrefix(err.Error(), tc.message) {
					t.Errorf("Remove: %v; want %v, message starting %q", err, tc.class, tc.message)
				}
				a, tk := count()
				if a-api0 != api || tk-tokens0 != tokens {
					t.Errorf("%d requests, %d token requests; want %d and %d",
						a-api0, tk-tokens0, api, tokens)
				}
			})
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
		{token(400, "invalid_request"), nil, "request refused: the token request got HTTP 400"},
		{token(200, ""), nil, "unexpected answer: the token request got HTTP 200"},
		{&RedirectError{StatusCode: 302}, nil, "unexpected answer: Atlas answered 302"},
		{&BodyTooLargeError{StatusCode: 400}, nil, "unexpected answer: the body of the 400 answer"},
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
