package deleteorgapikey_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/atlascontract/deleteorgapikey/gen"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

const (
	orgID = "4888442a3354817a7320eb61"
	keyID = "32b6e34b3d91647abb20e7b8"
)

// scripted is a strict-server implementation that answers whatever the
// test put in it.
type scripted struct {
	answer gen.DeleteOrgApiKeyResponseObject
}

func (s *scripted) DeleteOrgApiKey(_ context.Context, req gen.DeleteOrgApiKeyRequestObject) (gen.DeleteOrgApiKeyResponseObject, error) {
	if req.OrgId != orgID || req.ApiUserId != keyID {
		return gen.DeleteOrgApiKey500JSONResponse{InternalServerErrorJSONResponse: gen.InternalServerErrorJSONResponse{Body: gen.ApiError{
			Error: 500, ErrorCode: "UNEXPECTED_ERROR", Detail: ptr("path parameters did not arrive intact")}}}, nil
	}
	return s.answer, nil
}

func ptr[T any](v T) *T { return &v }

func apiErr(status int32, code string) gen.ApiError {
	return gen.ApiError{Error: status, ErrorCode: code, Reason: ptr(http.StatusText(int(status))), Detail: ptr("detail for " + code)}
}

// TestEveryDocumentedStatusRoundTrips: for each status in the spec, the
// generated strict server sends it, the response validates against the spec,
// and the generated client decodes it into the matching typed field.
func TestEveryDocumentedStatusRoundTrips(t *testing.T) {
	impl := &scripted{}
	srv := httptest.NewServer(gen.Handler(gen.NewStrictHandler(impl, nil)))
	defer srv.Close()
	client, err := gen.NewClientWithResponses(srv.URL)
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		status int
		answer gen.DeleteOrgApiKeyResponseObject
		check  func(t *testing.T, r *gen.DeleteOrgApiKeyResponse)
	}{
		{204, gen.DeleteOrgApiKey204Response{Headers: gen.DeleteOrgApiKey204ResponseHeaders{RateLimitLimit: ptr(500), RateLimitRemaining: ptr(499)}},
			func(t *testing.T, r *gen.DeleteOrgApiKeyResponse) {
				if r.Headers204 == nil || *r.Headers204.RateLimitLimit != 500 || *r.Headers204.RateLimitRemaining != 499 || len(r.Body) != 0 {
					t.Errorf("204 decoded as %+v body %q", r.Headers204, r.Body)
				}
			}},
		{200, gen.DeleteOrgApiKey200JSONResponse{Status: 204},
			func(t *testing.T, r *gen.DeleteOrgApiKeyResponse) {
				if r.JSON200 == nil || r.JSON200.Status != 204 || r.JSON200.Content != nil {
					t.Errorf("envelope decoded as %+v", r.JSON200)
				}
			}},
		{400, gen.DeleteOrgApiKey400JSONResponse{BadRequestJSONResponse: gen.BadRequestJSONResponse{Body: func() gen.ApiError {
			e := apiErr(400, "VALIDATION_ERROR")
			e.BadRequestDetail = &gen.BadRequestDetail{Fields: &[]gen.FieldViolation{{Field: "apiUserId", Description: "must match"}}}
			return e
		}()}},
			func(t *testing.T, r *gen.DeleteOrgApiKeyResponse) {
				if r.JSON400 == nil || r.JSON400.ErrorCode != "VALIDATION_ERROR" || (*r.JSON400.BadRequestDetail.Fields)[0].Field != "apiUserId" {
					t.Errorf("400 decoded as %+v", r.JSON400)
				}
			}},
		{401, gen.DeleteOrgApiKey401JSONResponse{UnauthorizedJSONResponse: gen.UnauthorizedJSONResponse{
			Body: apiErr(401, "UNAUTHORIZED"), Headers: gen.UnauthorizedResponseHeaders{WWWAuthenticate: ptr(`Digest realm="MMS Public API", qop="auth", nonce="n"`)}}},
			func(t *testing.T, r *gen.DeleteOrgApiKeyResponse) {
				if r.JSON401 == nil || r.JSON401.Error != 401 || r.Headers401 == nil || r.Headers401.WWWAuthenticate == nil {
					t.Errorf("401 decoded as %+v %+v", r.JSON401, r.Headers401)
				}
			}},
		{403, gen.DeleteOrgApiKey403JSONResponse{ForbiddenJSONResponse: gen.ForbiddenJSONResponse{Body: apiErr(403, "USER_UNAUTHORIZED")}},
			func(t *testing.T, r *gen.DeleteOrgApiKeyResponse) {
				if r.JSON403 == nil || r.JSON403.ErrorCode != "USER_UNAUTHORIZED" {
					t.Errorf("403 decoded as %+v", r.JSON403)
				}
			}},
		{404, gen.DeleteOrgApiKey404JSONResponse{NotFoundJSONResponse: gen.NotFoundJSONResponse{Body: apiErr(404, "ORG_NOT_FOUND"), Headers: gen.NotFoundResponseHeaders{XErrorCode: ptr("ORG_NOT_FOUND")}}},
			func(t *testing.T, r *gen.DeleteOrgApiKeyResponse) {
				if r.JSON404 == nil || r.JSON404.ErrorCode != "ORG_NOT_FOUND" || *r.JSON404.Detail != "detail for ORG_NOT_FOUND" {
					t.Errorf("404 decoded as %+v", r.JSON404)
				}
			}},
		{429, gen.DeleteOrgApiKey429JSONResponse{TooManyRequestsJSONResponse: gen.TooManyRequestsJSONResponse{
			Body: apiErr(429, "RATE_LIMITED"), Headers: gen.TooManyRequestsResponseHeaders{RateLimitLimit: ptr(500), RateLimitRemaining: ptr(0), RetryAfter: ptr(7)}}},
			func(t *testing.T, r *gen.DeleteOrgApiKeyResponse) {
				h := r.Headers429
				if r.JSON429 == nil || r.JSON429.ErrorCode != "RATE_LIMITED" || h == nil || *h.RetryAfter != 7 || *h.RateLimitLimit != 500 || *h.RateLimitRemaining != 0 {
					t.Errorf("429 decoded as %+v %+v", r.JSON429, h)
				}
			}},
		{406, gen.DeleteOrgApiKey406JSONResponse{NotAcceptableJSONResponse: gen.NotAcceptableJSONResponse{Body: apiErr(406, "INVALID_VERSION_DATE")}},
			func(t *testing.T, r *gen.DeleteOrgApiKeyResponse) {
				if r.JSON406 == nil || r.JSON406.ErrorCode != "INVALID_VERSION_DATE" {
					t.Errorf("406 decoded as %+v", r.JSON406)
				}
			}},
		{500, gen.DeleteOrgApiKey500JSONResponse{InternalServerErrorJSONResponse: gen.InternalServerErrorJSONResponse{Body: apiErr(500, "UNEXPECTED_ERROR")}},
			func(t *testing.T, r *gen.DeleteOrgApiKeyResponse) {
				if r.JSON500 == nil || r.JSON500.ErrorCode != "UNEXPECTED_ERROR" {
					t.Errorf("500 decoded as %+v", r.JSON500)
				}
			}},
	}

	op, err := contract.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		impl.answer = c.answer
		r, err := client.DeleteOrgApiKeyWithResponse(t.Context(), orgID, keyID, nil)
		if err != nil {
			t.Fatalf("status %d: %v", c.status, err)
		}
		if r.StatusCode() != c.status {
			t.Fatalf("got status %d, want %d (body %s)", r.StatusCode(), c.status, r.Body)
		}
		if err := contract.CheckResponse(t.Context(), r.HTTPResponse.Request, r.StatusCode(), r.HTTPResponse.Header, r.Body); err != nil {
			t.Errorf("status %d breaks the spec: %v", c.status, err)
		}
		c.check(t, r)
	}
	for code := range op.Op.Responses.Map() {
		var n int
		for _, c := range cases {
			if code == itoa(c.status) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("documented status %s is covered %d times, want 1", code, n)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
