package authedit_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/authedit"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

var sentinels = []error{authedit.ErrUnauthorized, authedit.ErrForbidden, authedit.ErrNotFound, authedit.ErrOrgNotFound, authedit.ErrRateLimited, authedit.ErrServerError}

// matching lists the sentinels err matches.
func matching(err error) []error {
	var out []error
	for _, s := range sentinels {
		if errors.Is(err, s) {
			out = append(out, s)
		}
	}
	return out
}

// Credentials refused look alike to the caller, whichever kind they are:
// a wrong digest key (Atlas's 401) and a wrong service-account secret (the
// token endpoint's 401 invalid_client).
func TestRefusedCredentialsAreOneClass(t *testing.T) {
	srv := atlastest.NewTestServer(t)
	key, sa := srv.Owner().APIKey(), srv.Owner().ServiceAccount()
	key.PrivateKey, sa.ClientSecret = "wrong", "wrong"
	for _, creds := range []authedit.Credentials{key, sa} {
		t.Run(scheme(creds), func(t *testing.T) {
			c, err := authedit.NewClient(srv.URL, creds)
			if err != nil {
				t.Fatal(err)
			}
			out, err := c.Remove(t.Context(), srv.OrgID(), srv.Keys()[0])
			if got := matching(err); out != authedit.Failed || !slices.Equal(got, []error{authedit.ErrUnauthorized}) {
				t.Errorf("Remove = %v, %v matching %v; want failed, matching ErrUnauthorized only", out, err, got)
			}
		})
	}
}

// Each class of answer matches its sentinel and no other; the *APIError
// carries what Atlas sent with it.
func TestErrorClasses(t *testing.T) {
	jsonType := []string{"application/json"}
	for _, tc := range []struct {
		name   string
		status int
		header http.Header
		body   string
		want   []error
	}{
		{"403", 403, http.Header{"Content-Type": jsonType}, `{"error":403,"errorCode":"USER_UNAUTHORIZED"}`, []error{authedit.ErrForbidden}},
		{"429", 429, http.Header{"Content-Type": jsonType, "Retry-After": {"7"}, "Ratelimit-Limit": {"500"}, "Ratelimit-Remaining": {"0"}},
			`{"error":429,"errorCode":"RATE_LIMITED"}`, []error{authedit.ErrRateLimited}},
		{"500", 500, http.Header{"Content-Type": jsonType}, `{"error":500,"errorCode":"UNEXPECTED_ERROR"}`, []error{authedit.ErrServerError}},
		{"503 page", 503, http.Header{"Content-Type": {"text/html"}}, `<h1>down</h1>`, []error{authedit.ErrServerError}},
		{"ORG_NOT_FOUND", 404, http.Header{"Content-Type": jsonType}, `{"error":404,"errorCode":"ORG_NOT_FOUND","parameters":["` + orgID + `"]}`, []error{authedit.ErrOrgNotFound}},
		{"404 page", 404, http.Header{"Content-Type": {"text/plain"}}, `404 page not found`, []error{authedit.ErrNotFound}},
		{"VALIDATION_ERROR", 400, http.Header{"Content-Type": jsonType, "Ratelimit-Limit": {"500"}, "Ratelimit-Remaining": {"498"}},
			`{"error":400,"errorCode":"VALIDATION_ERROR","parameters":["path","apiUserId"],"badRequestDetail":{"fields":[{"field":"apiUserId","description":"bad"}]}}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := fixed(t, tc.status, tc.header, tc.body)
			c := keyClient(t, srv.URL, authedit.WithoutRetry())
			out, err := c.Remove(t.Context(), orgID, keyID)
			var ae *authedit.APIError
			if out != authedit.Failed || !errors.As(err, &ae) || ae.StatusCode != tc.status {
				t.Fatalf("Remove = %v, %v; want failed, *APIError %d", out, err, tc.status)
			}
			if got := matching(err); !slices.Equal(got, tc.want) {
				t.Errorf("%v matches %v, want %v", err, got, tc.want)
			}
			switch tc.name {
			case "429":
				if ae.RetryAfter != 7*time.Second || ae.Limit != 500 || ae.Remaining != 0 || !authedit.IsErrorCode(err, "RATE_LIMITED") {
					t.Errorf("%+v: want Retry-After 7s, limit 500, remaining 0, RATE_LIMITED", ae)
				}
			case "VALIDATION_ERROR":
				if !authedit.IsErrorCode(err, "VALIDATION_ERROR") || authedit.IsErrorCode(err, "RATE_LIMITED") || !slices.Equal(ae.Parameters, []any{"path", "apiUserId"}) ||
					ae.BadRequestDetail == nil || ae.BadRequestDetail.Fields == nil || (*ae.BadRequestDetail.Fields)[0].Field != "apiUserId" || ae.Limit != 500 || ae.Remaining != 498 {
					t.Errorf("%+v: want its code, parameters, bad request detail and rate-limit headers", ae)
				}
			}
		})
	}
	if authedit.IsErrorCode(nil, "") || authedit.IsErrorCode(errors.New("API_KEY_NOT_FOUND"), "API_KEY_NOT_FOUND") {
		t.Error("IsErrorCode matched what is no *APIError")
	}
}

// The token endpoint's failures fall into the same classes, and name what
// the endpoint said: an RFC 6749 error, or Atlas's ApiError (its 429).
func TestTokenErrorClasses(t *testing.T) {
	for _, tc := range []struct {
		status    int
		body      string
		want      []error
		code, txt string // TokenError.ErrorCode, and text its Error() holds
	}{
		{400, `{"error":"invalid_client"}`, []error{authedit.ErrUnauthorized}, "invalid_client", "HTTP 400: invalid_client"},
		{401, `{"error":"invalid_client","error_description":"bad secret"}`, []error{authedit.ErrUnauthorized}, "invalid_client", "invalid_client (bad secret)"},
		{429, `{"detail":"Resource /api/oauth/token is limited to 50 requests every 1 minutes.","error":429,"errorCode":"RATE_LIMITED","parameters":["/api/oauth/token",50,1],"reason":"Too Many Requests"}`,
			[]error{authedit.ErrRateLimited}, "RATE_LIMITED", "RATE_LIMITED (Resource /api/oauth/token is limited to 50 requests every 1 minutes.); retry after 7s"},
		{502, `bad gateway`, []error{authedit.ErrServerError}, "", "HTTP 502"},
		{400, `{"error":"invalid_grant"}`, nil, "invalid_grant", "invalid_grant"},
	} {
		t.Run(fmt.Sprint(tc.status, " ", tc.body), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != contract.TokenPath() {
					t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
				}
				w.Header().Set("Content-Type", "application/json")
				if tc.status == http.StatusTooManyRequests {
					w.Header().Set("Retry-After", "7")
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			t.Cleanup(srv.Close)
			c, err := authedit.NewClient(srv.URL, authedit.ServiceAccount{ClientID: "id", ClientSecret: "secret"}, authedit.WithoutRetry())
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Remove(t.Context(), orgID, keyID)
			var te *authedit.TokenError
			if !errors.As(err, &te) || te.StatusCode != tc.status {
				t.Fatalf("err = %v, want a *TokenError %d", err, tc.status)
			}
			if got := matching(err); !slices.Equal(got, tc.want) {
				t.Errorf("%v matches %v, want %v", err, got, tc.want)
			}
			if te.ErrorCode != tc.code || !strings.Contains(err.Error(), tc.txt) {
				t.Errorf("%v: ErrorCode %q, want %q and the text %q", err, te.ErrorCode, tc.code, tc.txt)
			}
		})
	}
}

func TestBaseURLFromEnv(t *testing.T) {
	env := map[string]string{}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	if got := authedit.BaseURLFromEnv(lookup); got != "https://cloud.mongodb.com" {
		t.Errorf("unset: %q, want the spec's server https://cloud.mongodb.com", got)
	}
	env[envBaseURL] = ""
	if got := authedit.BaseURLFromEnv(lookup); got != "https://cloud.mongodb.com" {
		t.Errorf("empty: %q, want the spec's server", got)
	}
	env[envBaseURL] = "https://cloud-qa.mongodb.com"
	if got := authedit.BaseURLFromEnv(lookup); got != "https://cloud-qa.mongodb.com" {
		t.Errorf("set: %q, want the variable's value", got)
	}
}

// The message for an empty environment offers the two pairs as a choice.
func TestCredentialsErrorOffersEitherPair(t *testing.T) {
	_, err := authedit.CredentialsFromEnv(func(string) (string, bool) { return "", false })
	want := "set either pair: " + envClientID + " and " + envClientSecret + ", or " + envPublicKey + " and " + envPrivateKey
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want it to say %q", err, want)
	}
}
