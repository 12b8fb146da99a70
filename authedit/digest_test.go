package authedit_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/atlascontract/deleteorgapikey/authedit"
)

// icholy/digest drains and closes the body of a 401 without a digest
// challenge before returning it; authedit restores it so the ApiError can
// be read.
func TestDigest401WithoutChallengeKeepsBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="atlas"`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":401,"errorCode":"NOT_ORG_GROUP_CREATOR","detail":"no digest here"}`))
	}))
	defer srv.Close()
	c, err := authedit.NewClient(srv.URL, authedit.APIKey{PublicKey: "pub", PrivateKey: "priv"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.DeleteOrgApiKeyWithResponse(t.Context(), orgID, keyID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode() != http.StatusUnauthorized || resp.JSON401 == nil || resp.JSON401.ErrorCode != "NOT_ORG_GROUP_CREATOR" {
		t.Fatalf("status %d, JSON401 %+v, body %q; want the parsed ApiError", resp.StatusCode(), resp.JSON401, resp.Body)
	}
}
