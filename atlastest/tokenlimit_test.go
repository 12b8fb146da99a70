package atlastest_test

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/internal/behavior"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// tokenRequest asks srv for a token as id/secret and returns the answer
// with its body read.
func tokenRequest(t *testing.T, srv *atlastest.Server, id, secret string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+contract.TokenPath(), strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", formType)
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// TestSpecRecordsAtlasTokenLimit: the token budget the spec records, which
// the server's default comes from, is what Atlas reports: 50 requests a
// minute per client.
func TestSpecRecordsAtlasTokenLimit(t *testing.T) {
	if b := contract.TokenBudget(); b.Capacity != 50 || b.Refill != 50 || b.Period != time.Minute {
		t.Errorf("contract.TokenBudget() = %+v, want 50, 50, 1m", b)
	}
}

// TestTokenEndpointLimit (issue 14, item 1): by default 50 token requests
// a minute per client, the 51st answered as Atlas does; other clients,
// refused credentials and the revoke endpoint are not charged; time (moved
// by hand) refills the bucket.
func TestTokenEndpointLimit(t *testing.T) {
	clk := newClock()
	srv := atlastest.NewServer(atlastest.WithClock(clk.Now))
	defer srv.Close()
	owner, member := srv.Owner(), srv.Member()
	for i := range 50 {
		resp, body := tokenRequest(t, srv, owner.ClientID, owner.ClientSecret)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("RateLimit-Limit") != "50" || resp.Header.Get("RateLimit-Remaining") != strconv.Itoa(49-i) {
			t.Fatalf("request %d: %d %v %s", i+1, resp.StatusCode, resp.Header, body)
		}
	}
	resp, body := tokenRequest(t, srv, owner.ClientID, owner.ClientSecret)
	const atlas = `{"detail":"Resource /api/oauth/token is limited to 50 requests every 1 minutes.","error":429,"errorCode":"RATE_LIMITED","parameters":["/api/oauth/token",50,1],"reason":"Too Many Requests"}`
	if resp.StatusCode != http.StatusTooManyRequests || strings.TrimSpace(body) != atlas {
		t.Errorf("51st request: %d %s\nwant 429 %s", resp.StatusCode, body, atlas)
	}
	for k, want := range map[string]string{"Content-Type": "application/json", "X-Error-Code": "RATE_LIMITED",
		"RateLimit-Limit": "50", "RateLimit-Remaining": "0", "Retry-After": "2"} { // one request refills every 1.2 s
		if got := resp.Header.Get(k); got != want {
			t.Errorf("51st request: %s %q, want %q", k, got, want)
		}
	}

	// Not charged to the owner: another client, a wrong secret, revoking.
	if resp, body := tokenRequest(t, srv, member.ClientID, member.ClientSecret); resp.StatusCode != http.StatusOK {
		t.Errorf("member while the owner is limited: %d %s", resp.StatusCode, body)
	}
	if resp, body := tokenRequest(t, srv, owner.ClientID, "wrong"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong secret while limited: %d %s, want 401", resp.StatusCode, body)
	}
	if resp, body := oauthPost(t, srv, contract.RevokePath(), owner.ClientID, owner.ClientSecret, formType, "token=x"); resp.StatusCode != http.StatusOK {
		t.Errorf("revoke while limited: %d %v", resp.StatusCode, body)
	}

	clk.Advance(1199 * time.Millisecond)
	if resp, _ := tokenRequest(t, srv, owner.ClientID, owner.ClientSecret); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("before the refill: %d, want 429", resp.StatusCode)
	}
	clk.Advance(time.Millisecond)
	if resp, body := tokenRequest(t, srv, owner.ClientID, owner.ClientSecret); resp.StatusCode != http.StatusOK || resp.Header.Get("RateLimit-Remaining") != "0" {
		t.Errorf("after the refill: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	clk.Advance(time.Minute)
	for i := range 50 {
		if resp, body := tokenRequest(t, srv, owner.ClientID, owner.ClientSecret); resp.StatusCode != http.StatusOK {
			t.Fatalf("a minute later, request %d: %d %s", i+1, resp.StatusCode, body)
		}
	}
}

func TestWithTokenRateLimit(t *testing.T) {
	clk := newClock()
	srv := atlastest.NewServer(atlastest.WithClock(clk.Now), atlastest.WithTokenRateLimit(3, 2*time.Minute))
	defer srv.Close()
	owner := srv.Owner()
	for range 3 {
		if resp, body := tokenRequest(t, srv, owner.ClientID, owner.ClientSecret); resp.StatusCode != http.StatusOK {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	}
	resp, body := tokenRequest(t, srv, owner.ClientID, owner.ClientSecret)
	want := `{"detail":"Resource /api/oauth/token is limited to 3 requests every 2 minutes.","error":429,"errorCode":"RATE_LIMITED","parameters":["/api/oauth/token",3,2],"reason":"Too Many Requests"}`
	if resp.StatusCode != http.StatusTooManyRequests || strings.TrimSpace(body) != want || resp.Header.Get("Retry-After") != "40" || resp.Header.Get("RateLimit-Limit") != "3" {
		t.Errorf("4th request: %d %v %s\nwant 429, Retry-After 40, %s", resp.StatusCode, resp.Header, body, want)
	}
	clk.Advance(40 * time.Second)
	if resp, body := tokenRequest(t, srv, owner.ClientID, owner.ClientSecret); resp.StatusCode != http.StatusOK {
		t.Errorf("after Retry-After: %d %s", resp.StatusCode, body)
	}

}

// TestTokenAndRevokeFaults (issue 14, item 1): the token and revocation
// endpoints take the operation's faults. An injected 429 is Atlas's token
// 429, charges nothing and is not spent by a client that fails to
// authenticate; a 500 is Atlas's UNEXPECTED_ERROR; a drop takes effect
// (a token issued, a token revoked) and loses the answer; any other status
// panics at set-up.
func TestTokenAndRevokeFaults(t *testing.T) {
	srv := atlastest.NewTestServer(t)
	owner := srv.Owner()
	tokens := srv.TokenEndpoint()

	tokens.FailNext(1, http.StatusTooManyRequests)
	if resp, _ := tokenRequest(t, srv, owner.ClientID, "wrong"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong secret with a fault armed: %d, want 401", resp.StatusCode)
	}
	resp, body := tokenRequest(t, srv, owner.ClientID, owner.ClientSecret)
	wantAnswer(t, resp, []byte(body), behavior.TokenRateLimited, contract.TokenPath(), 50, 1)
	for k, want := range map[string]string{"Retry-After": "2", "RateLimit-Limit": "50", "RateLimit-Remaining": "0"} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("injected token 429: %s %q, want %q", k, got, want)
		}
	}
	if resp, body := tokenRequest(t, srv, owner.ClientID, owner.ClientSecret); resp.StatusCode != http.StatusOK || resp.Header.Get("RateLimit-Remaining") != "49" {
		t.Errorf("after the injected 429: %d %v %s, want 200 with 49 left: the fault charged the bucket", resp.StatusCode, resp.Header, body)
	}
	tokens.SetRetryAfter(90 * time.Second)
	tokens.FailNext(1, http.StatusTooManyRequests)
	if resp, _ := tokenRequest(t, srv, owner.ClientID, owner.ClientSecret); resp.Header.Get("Retry-After") != "90" {
		t.Errorf("SetRetryAfter(90s): Retry-After %q", resp.Header.Get("Retry-After"))
	}
	tokens.FailNext(1, http.StatusInternalServerError)
	resp, body = tokenRequest(t, srv, owner.ClientID, owner.ClientSecret)
	wantAnswer(t, resp, []byte(body), behavior.ServerError)

	// A dropped token request issues a token nobody receives; a dropped
	// revocation revokes.
	tokens.DropNext(1)
	if resp, err := tokenDo(srv, owner.ClientID, "wrong"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong secret with a drop armed: %v %v", resp, err) // answered, the drop kept
	}
	if _, err := tokenDo(srv, owner.ClientID, owner.ClientSecret); err == nil {
		t.Error("a dropped token request was answered")
	}
	live := fetchToken(t, srv, owner.ClientID, owner.ClientSecret)
	srv.RevokeEndpoint().FailNext(1, http.StatusInternalServerError)
	if resp, _ := oauthPost(t, srv, contract.RevokePath(), owner.ClientID, owner.ClientSecret, formType, "token="+live); resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("revoke with a 500 armed: %d", resp.StatusCode)
	}
	dresp, dbody := del(t, bearerClient(t, live), opURL(srv, srv.OrgID(), srv.Keys()[0], ""))
	wantStatus(t, dresp, dbody, http.StatusNoContent) // the failed revocation changed nothing
	srv.RevokeEndpoint().DropNext(1)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+contract.RevokePath(), strings.NewReader("token="+live))
	req.Header.Set("Content-Type", formType)
	req.SetBasicAuth(owner.ClientID, owner.ClientSecret)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Error("a dropped revocation was answered")
	}
	dresp, dbody = del(t, bearerClient(t, live), opURL(srv, srv.OrgID(), srv.Keys()[0], ""))
	wantStatus(t, dresp, dbody, http.StatusUnauthorized)
	var got []string
	for _, r := range srv.Requests() {
		if r.Dropped {
			got = append(got, fmt.Sprintf("%s %d", r.Path, r.Status))
		}
	}
	if want := []string{contract.TokenPath() + " 200", contract.RevokePath() + " 200"}; !slices.Equal(got, want) {
		t.Errorf("dropped requests logged %q, want %q", got, want)
	}

	for _, status := range []int{400, 401, 404, 409} {
		if p := panicOf(func() { tokens.FailNext(1, status) }); !strings.HasPrefix(fmt.Sprint(p), "atlastest: FailNext") {
			t.Errorf("token endpoint FailNext(1, %d): panic %v", status, p)
		}
	}
}

// tokenDo asks srv for a token as id/secret and returns the transport's error.
func tokenDo(srv *atlastest.Server, id, secret string) (*http.Response, error) {
	req, _ := http.NewRequest(http.MethodPost, srv.URL+contract.TokenPath(), strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", formType)
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	return resp, err
}
