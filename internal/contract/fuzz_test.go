package contract_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/atlascontract/deleteorgapikey/gen"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// isID is an independent statement of the spec's ^([a-f0-9]{24})$.
func isID(s string) bool {
	if len(s) != 24 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func FuzzCheckParam(f *testing.F) {
	for _, s := range []string{org, key, "", "..", "%2F", "4888442A3354817A7320EB61", "4888442a3354817a7320eb6\x00", "4888442a3354817a7320eb6а"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, name := range []string{"orgId", "apiUserId"} {
			err := contract.CheckParam(name, s)
			if (err == nil) != isID(s) {
				t.Fatalf("CheckParam(%s, %q) = %v, but isID = %v", name, s, err, isID(s))
			}
			var pe *contract.ParamError
			if err != nil && (!errors.As(err, &pe) || pe.Name != name) {
				t.Fatalf("error %v does not name %s", err, name)
			}
		}
	})
}

func FuzzCheckRequest(f *testing.F) {
	f.Add("/api/atlas/v2/orgs/"+org+"/apiKeys/"+key, "envelope=true")
	f.Add("/api/atlas/v2/orgs/"+org+"/apiKeys/..%2F..", "pretty=maybe&pretty=true")
	f.Add("/api/atlas/v2/orgs//apiKeys/", "%zz")
	f.Fuzz(func(t *testing.T, rawPath, rawQuery string) {
		u, err := url.Parse(rawPath)
		if err != nil {
			return // not something an HTTP server would hand a handler
		}
		u.RawQuery = rawQuery
		r := &http.Request{Method: http.MethodDelete, URL: u}
		params, err := contract.CheckRequest(r)
		if err != nil {
			var pe *contract.ParamError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *ParamError: %v", err, err)
			}
			return
		}
		if !isID(params["orgId"]) || !isID(params["apiUserId"]) {
			t.Fatalf("accepted %q with params %q", u.String(), params)
		}
	})
}

// FuzzDecodeResponse feeds arbitrary statuses and bodies to the generated
// client's decoder and to the spec check: neither may panic, and a body the
// spec accepts must land in the typed field for its status.
func FuzzDecodeResponse(f *testing.F) {
	f.Add(404, []byte(`{"error":404,"errorCode":"RESOURCE_NOT_FOUND","detail":"x"}`))
	f.Add(200, []byte(`{"status":404,"content":{"error":404,"errorCode":"RESOURCE_NOT_FOUND"}}`))
	f.Add(200, []byte(`{"status":204}`))
	f.Add(400, []byte(`{"error":400,"errorCode":"VALIDATION_ERROR","badRequestDetail":{"fields":[{"field":"orgId","description":"d"}]}}`))
	f.Add(429, []byte(`{"error":429,"errorCode":"RATE_LIMITED"}`))
	f.Add(500, []byte(`{"error":"500"}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 599 {
			return
		}
		req, _ := http.NewRequest(http.MethodDelete, "http://127.0.0.1/api/atlas/v2/orgs/"+org+"/apiKeys/"+key, nil)
		header := http.Header{"Content-Type": {"application/json"}}
		resp := &http.Response{StatusCode: status, Header: header, Body: io.NopCloser(bytes.NewReader(body)), Request: req}
		parsed, decodeErr := gen.ParseDeleteOrgApiKeyResponse(resp)
		specErr := contract.CheckResponse(t.Context(), req, status, header, body)
		if specErr != nil || status == 204 || foldedKey(body) {
			return
		}
		if decodeErr != nil {
			t.Fatalf("spec accepts %d %q but the client cannot decode it: %v", status, body, decodeErr)
		}
		switch status {
		case 200:
			var raw struct{ Status int32 }
			_ = json.Unmarshal(body, &raw)
			if parsed.JSON200 == nil || parsed.JSON200.Status != raw.Status {
				t.Fatalf("envelope %q decoded as %+v", body, parsed.JSON200)
			}
		case 404:
			if parsed.JSON404 == nil {
				t.Fatalf("404 %q not decoded", body)
			}
		}
	})
}

// modelKeys are the JSON names of the generated models' fields.
var modelKeys = []string{"error", "errorCode", "detail", "reason", "parameters", "badRequestDetail", "fields", "field", "description", "status", "content"}

// foldedKey reports whether body has a key that differs from a model field's
// name only in case ("DetAil"). The spec allows unknown keys, but Go's
// encoding/json matches names case-insensitively and decodes such a key
// into the field, so its type must fit too: a property of the decoder, not
// of the contract, and out of this target's scope.
func foldedKey(body []byte) bool {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return false
	}
	var walk func(any) bool
	walk = func(v any) bool {
		switch v := v.(type) {
		case map[string]any:
			for k, child := range v {
				for _, m := range modelKeys {
					if k != m && strings.EqualFold(k, m) {
						return true
					}
				}
				if walk(child) {
					return true
				}
			}
		case []any:
			for _, child := range v {
				if walk(child) {
					return true
				}
			}
		}
		return false
	}
	return walk(v)
}
