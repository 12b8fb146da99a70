package atlastest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// FuzzHandler throws arbitrary methods, targets and Authorization headers at
// the handler: never a 5xx, never a change of state, and every answer to the
// operation's path fits the spec.
func FuzzHandler(f *testing.F) {
	srv := atlastest.New()
	org, key := srv.OrgID(), srv.Keys()[0]
	path := "/api/atlas/v2/orgs/" + org + "/apiKeys/" + key
	for _, s := range [][3]string{
		{"DELETE", path, ""},
		{"DELETE", path + "?envelope=true&pretty=true", "Bearer x"},
		{"DELETE", "/api/atlas/v2/orgs/../apiKeys/" + key, ""},
		{"DELETE", "/api/atlas/v2/orgs/" + org + "/apiKeys/%2e%2e", ""},
		{"GET", path, "Basic eDp5"},
		{"DELETE", path, `Digest username="a", realm="MMS Public API", nonce="n", uri="` + path + `", response="r", qop=auth, nc=00000001, cnonce="c"`},
		{"DELETE", path, `Digest username="a", nc=zzzz`},
		{"POST", contract.TokenPath(), "Basic eDp5"},
		{"POST", contract.RevokePath(), ""},
		{"DELETE", path + "?envelope=%", "Digest"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	keys := len(srv.OrgKeys(org))
	h := srv.Handler()
	f.Fuzz(func(t *testing.T, method, target, auth string) {
		req, err := http.NewRequest(method, "http://example.test"+target, nil)
		if err != nil || req.URL.Host != "example.test" {
			return // not a request net/http would deliver
		}
		req.RequestURI = req.URL.RequestURI()
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q: %d %s", method, target, rec.Code, rec.Body)
		}
		if addressesOperation(req) && method == http.MethodDelete {
			if err := contract.CheckResponse(context.Background(), req, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
				t.Fatalf("%s %q: %v", method, target, err)
			}
		}
		if len(srv.OrgKeys(org)) != keys {
			t.Fatalf("%s %q changed state", method, target)
		}
		srv.ResetRequests()
	})
}
