package authedit_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/atlascontract/deleteorgapikey/authedit"
	"github.com/atlascontract/deleteorgapikey/gen"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

var badIDs = map[string]string{
	"uppercase hex": "4888442A3354817A7320EB61",
	"dot dot":       "..",
	"dot":           ".",
	"escaped slash": "%2F",
	"traversal":     "../../groups/4888442a3354817a7320eb61",
	"slash inside":  "4888442a3354/817a7320eb61",
	"empty":         "",
	"too long":      orgID + "0",
	"too short":     orgID[:23],
	"non hex":       "zz88442a3354817a7320eb61",
	"query":         "4888442a3354817a7320eb61?x",
}

func TestMalformedIDsSendNothing(t *testing.T) {
	srv, hits := countingServer(t)
	for _, creds := range []authedit.Credentials{
		authedit.ServiceAccount{ClientID: "id", ClientSecret: "secret"},
		authedit.APIKey{PublicKey: "pub", PrivateKey: "priv"},
	} {
		c, err := authedit.NewClient(srv.URL, creds)
		if err != nil {
			t.Fatal(err)
		}
		for name, bad := range badIDs {
			for _, param := range []string{"orgId", "apiUserId"} {
				org, key := orgID, keyID
				if param == "orgId" {
					org = bad
				} else {
					key = bad
				}
				_, err1 := c.DeleteOrgApiKey(t.Context(), org, key, nil)
				_, err2 := c.DeleteOrgApiKeyWithResponse(t.Context(), org, key, nil)
				for _, err := range []error{err1, err2} {
					var pe *authedit.ParamError
					if !errors.As(err, &pe) {
						t.Errorf("%s %s=%q: err = %v, want *ParamError", scheme(creds), param, bad, err)
						continue
					}
					if pe.Name != param || pe.In != "path" {
						t.Errorf("%s %s=%q (%s): ParamError names %s/%s", scheme(creds), param, bad, name, pe.In, pe.Name)
					}
				}
			}
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("server saw %d requests, want 0: malformed ids must not leave the process", n)
	}
}

// The generated client resolves "." and ".." away, so the request check
// (which the Client runs last) only sees a URL that no longer fits the
// template; it must still refuse it.
func TestValidateRequestEditorOnGeneratedClient(t *testing.T) {
	srv, hits := countingServer(t)
	validate := func(_ context.Context, req *http.Request) error { return contract.ValidateRequest(req) }
	c, err := gen.NewClientWithResponses(srv.URL, gen.WithRequestEditorFn(validate))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ org, key, wantName string }{
		{orgID, "..", "path"},
		{"..", keyID, "path"},
		{orgID, "%2F", "apiUserId"},
		{"4888442A3354817A7320EB61", keyID, "orgId"},
		{orgID, "", "apiUserId"},
	}
	for _, tc := range cases {
		_, err := c.DeleteOrgApiKeyWithResponse(t.Context(), tc.org, tc.key, nil)
		var pe *authedit.ParamError
		if !errors.As(err, &pe) || pe.Name != tc.wantName {
			t.Errorf("org %q key %q: err = %v, want *ParamError naming %s", tc.org, tc.key, err, tc.wantName)
		}
	}
	if _, err := c.DeleteOrgApiKeyWithResponse(t.Context(), orgID, keyID, nil); err != nil {
		t.Errorf("valid ids refused: %v", err)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("server saw %d requests, want only the valid one", n)
	}
}

// An editor of the caller runs after the client's own; Client validates the
// request again after it.
func TestCallerEditorCannotSmuggleBadPath(t *testing.T) {
	srv, hits := countingServer(t)
	c, err := authedit.NewClient(srv.URL, authedit.APIKey{PublicKey: "pub", PrivateKey: "priv"})
	if err != nil {
		t.Fatal(err)
	}
	rewrite := func(_ context.Context, req *http.Request) error {
		req.URL.Path = strings.Replace(req.URL.Path, keyID, "NOT-AN-ID", 1)
		return nil
	}
	_, err = c.DeleteOrgApiKeyWithResponse(t.Context(), orgID, keyID, nil, rewrite)
	var pe *authedit.ParamError
	if !errors.As(err, &pe) || pe.Name != "apiUserId" {
		t.Fatalf("err = %v, want *ParamError naming apiUserId", err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("server saw %d requests, want 0", n)
	}
}

func TestEditorsSetHeaders(t *testing.T) {
	seen := make(chan http.Header, 1)
	srv := newHeaderServer(t, seen)
	c, err := authedit.NewClient(srv.URL, authedit.APIKey{PublicKey: "pub", PrivateKey: "priv"})
	if err != nil {
		t.Fatal(err)
	}
	closeResp(t)(c.DeleteOrgApiKey(t.Context(), orgID, keyID, nil))
	h := <-seen
	if got, want := h.Get("Accept"), "application/vnd.atlas.2023-01-01+json"; got != want {
		t.Errorf("Accept = %q, want %q", got, want)
	}
	ua := h.Get("User-Agent")
	if ua != authedit.UserAgent() || !strings.HasPrefix(ua, "deleteorgapikey/") || !strings.HasSuffix(ua, " (+github.com/atlascontract/deleteorgapikey)") {
		t.Errorf("User-Agent = %q", ua)
	}
	if v := strings.TrimSuffix(strings.TrimPrefix(ua, "deleteorgapikey/"), " (+github.com/atlascontract/deleteorgapikey)"); v == "" || strings.ContainsAny(v, " /()") {
		t.Errorf("User-Agent %q: version %q", ua, v)
	}
}
