package authedit_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/authedit"
)

// TestDigestThroughMergingProxy: a proxy that joins the server's several
// WWW-Authenticate challenges into one value (as Node-based proxies do)
// must not break the digest handshake.
func TestDigestThroughMergingProxy(t *testing.T) {
	srv := atlastest.NewServer(atlastest.WithDigestAlgorithms("MD5", "SHA-256")) // two challenges to merge
	defer srv.Close()
	target, _ := url.Parse(srv.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	merged := 0
	proxy.ModifyResponse = func(r *http.Response) error {
		if vs := r.Header.Values("WWW-Authenticate"); len(vs) > 1 {
			r.Header.Set("WWW-Authenticate", strings.Join(vs, ", "))
			merged++
		}
		return nil
	}
	front := httptest.NewServer(proxy)
	defer front.Close()

	c, err := authedit.NewClient(front.URL, srv.Owner().APIKey())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.DeleteOrgApiKeyWithResponse(t.Context(), srv.OrgID(), srv.Keys()[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode() != http.StatusNoContent || merged != 1 {
		t.Fatalf("status %d after %d merged challenges, want 204 after 1", resp.StatusCode(), merged)
	}
}
