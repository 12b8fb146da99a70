package authedit_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atlascontract/deleteorgapikey/authedit"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// Odd, hostile and oversized answers: whatever the server sends, the
// client keeps the answer's status and never reports it wrongly.

// keyNotFoundBody is Atlas's recorded answer for an absent key.
const keyNotFoundBody = `{"detail":"No API key with ID ` + keyID + ` exists.","error":400,"errorCode":"API_KEY_NOT_FOUND","parameters":["` + keyID + `"],"reason":"Bad Request"}`

// fixed answers every request with status, header and body.
func fixed(t *testing.T, status int, header http.Header, body string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		for k, vs := range header {
			w.Header()[k] = vs
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func keyClient(t *testing.T, url string, opts ...authedit.Option) *authedit.Client {
	t.Helper()
	c, err := authedit.NewClient(url, authedit.APIKey{PublicKey: "pub", PrivateKey: "priv"}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Issue 12.1: the generated parser binds RateLimit-* and Retry-After as
// integers; a malformed optional header must not cost the answer.
func TestMalformedOptionalHeadersKeepTheAnswer(t *testing.T) {
	inAnHour := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	jsonType := []string{"application/json"}
	for _, tc := range []struct {
		name   string
		status int
		header http.Header
		body   string
		want   authedit.Outcome
	}{
		{"204 RateLimit-Limit in the draft's list form", 204, http.Header{"Ratelimit-Limit": {"100, 100;w=60"}, "Ratelimit-Remaining": {"99"}}, "", authedit.Removed},
		{"204 RateLimit-Remaining 1.5", 204, http.Header{"Ratelimit-Limit": {"500"}, "Ratelimit-Remaining": {"1.5"}}, "", authedit.Removed},
		{"400 RateLimit-Limit list", 400, http.Header{"Content-Type": jsonType, "Ratelimit-Limit": {"100, 100;w=60"}}, keyNotFoundBody, authedit.NotFound},
		{"400 X-Error-Code empty, repeated, odd", 400, http.Header{"Content-Type": jsonType, "X-Error-Code": {"", "VALIDATION_ERROR", "ünï, code;x=1"}}, keyNotFoundBody, authedit.NotFound},
		{"429 Retry-After as HTTP-date", 429, http.Header{"Content-Type": jsonType, "Retry-After": {inAnHour}, "Ratelimit-Limit": {"500"}, "Ratelimit-Remaining": {"0"}},
			`{"error":429,"errorCode":"RATE_LIMITED","detail":"slow down"}`, authedit.Failed},
		{"429 Retry-After 1.5", 429, http.Header{"Content-Type": jsonType, "Retry-After": {"1.5"}}, `{"error":429,"errorCode":"RATE_LIMITED"}`, authedit.Failed},
		{"500 RateLimit-Remaining negative and huge", 500, http.Header{"Content-Type": jsonType, "Ratelimit-Remaining": {"-1"}, "Ratelimit-Limit": {"99999999999999999999999"}},
			`{"error":500,"errorCode":"UNEXPECTED_ERROR"}`, authedit.Failed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := fixed(t, tc.status, tc.header, tc.body)
			c := keyClient(t, srv.URL, authedit.WithoutRetry())
			resp, err := c.DeleteOrgApiKeyWithResponse(t.Context(), orgID, keyID, nil)
			if err != nil || resp.StatusCode() != tc.status {
				t.Fatalf("DeleteOrgApiKeyWithResponse = %v, %v; want the %d", resp, err, tc.status)
			}
			out, err := c.Remove(t.Context(), orgID, keyID)
			if out != tc.want {
				t.Errorf("Remove = %v, %v; want %v", out, err, tc.want)
			}
			switch tc.status {
			case 204: // the well-formed header is still bound
				if h := resp.Headers204; h == nil || (h.RateLimitRemaining == nil) == (tc.header.Get("Ratelimit-Remaining") == "99") {
					t.Errorf("Headers204 = %+v: the valid header must be bound, the malformed one dropped", h)
				}
			case 400:
				if resp.JSON400 == nil || resp.JSON400.ErrorCode != "API_KEY_NOT_FOUND" {
					t.Errorf("JSON400 = %+v, want the ApiError decoded", resp.JSON400)
				}
			case 429:
				var ae *authedit.APIError
				if resp.JSON429 == nil || !errors.As(err, &ae) {
					t.Fatalf("JSON429 = %+v, err = %v; want the ApiError decoded and an *APIError", resp.JSON429, err)
				}
				if d := tc.header.Get("Retry-After"); strings.Contains(d, "GMT") && (ae.RetryAfter < 59*time.Minute || ae.RetryAfter > time.Hour) {
					t.Errorf("RetryAfter = %v, want about an hour (%s)", ae.RetryAfter, d)
				}
			}
		})
	}
}

// A Retry-After given as an HTTP-date is waited for (RFC 9110 10.2.3).
func TestRetryAfterHTTPDateHonoured(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.Header().Set("Retry-After", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, `{"error":429,"errorCode":"RATE_LIMITED"}`)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	var sl sleeps
	c := keyClient(t, srv.URL, authedit.WithTimeout(0), // no deadline that an hour's wait would outlast
		authedit.WithRetry(authedit.RetryPolicy{MaxAttempts: 2, MinBackoff: time.Millisecond, MaxRetryAfter: 2 * time.Hour}), sl.clock())
	if out, err := c.Remove(t.Context(), orgID, keyID); out != authedit.Removed || err != nil {
		t.Fatalf("Remove = %v, %v; want removed", out, err)
	}
	if w := sl.waits(); len(w) != 1 || w[0] < 59*time.Minute || w[0] > time.Hour+time.Millisecond {
		t.Errorf("waits %v, want one of about an hour", w)
	}
}

// countingBase counts the body bytes the client pulls from the network.
type countingBase struct{ n atomic.Int64 }

func (c *countingBase) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err == nil {
		resp.Body = &countingBody{ReadCloser: resp.Body, n: &c.n}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// Issue 12.2: a server streaming far more than any ApiError is read up to
// the cap and no further, with a typed error naming the status.
func TestBodiesAreCapped(t *testing.T) {
	const stream = 256 << 20
	for _, status := range []int{400, 401, 404, 500} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				chunk := bytes.Repeat([]byte(" "), 32<<10)
				for sent := 0; sent < stream; sent += len(chunk) {
					if _, err := w.Write(chunk); err != nil {
						return
					}
				}
			}))
			t.Cleanup(srv.Close)
			var base countingBase
			c := keyClient(t, srv.URL, authedit.WithoutRetry(), authedit.WithTransport(&base))
			check := func(what string, err error) {
				t.Helper()
				var be *authedit.BodyTooLargeError
				if !errors.As(err, &be) || be.StatusCode != status || be.Limit != contract.MaxBody {
					t.Errorf("%s: err = %v, want *BodyTooLargeError for %d at %d bytes", what, err, status, contract.MaxBody)
				}
				if n := base.n.Swap(0); n > contract.MaxBody+1 {
					t.Errorf("%s: read %d bytes, want at most %d", what, n, contract.MaxBody+1)
				}
			}
			_, err := c.DeleteOrgApiKeyWithResponse(t.Context(), orgID, keyID, nil)
			check("DeleteOrgApiKeyWithResponse", err)
			out, err := c.Remove(t.Context(), orgID, keyID)
			if out != authedit.Failed {
				t.Errorf("Remove = %v, want failed", out)
			}
			check("Remove", err)
			resp, err := c.DeleteOrgApiKey(t.Context(), orgID, keyID, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			check("DeleteOrgApiKey's body", err)
		})
	}
	t.Run("exactly the cap", func(t *testing.T) {
		head, tail := `{"error":404,"errorCode":"AT_THE_CAP"`, `}`
		body := head + strings.Repeat(" ", contract.MaxBody-len(head)-len(tail)) + tail
		srv, _ := fixed(t, http.StatusNotFound, http.Header{"Content-Type": {"application/json"}}, body)
		c := keyClient(t, srv.URL, authedit.WithoutRetry())
		var ae *authedit.APIError
		if out, err := c.Remove(t.Context(), orgID, keyID); out != authedit.Failed || !errors.As(err, &ae) || ae.ErrorCode != "AT_THE_CAP" {
			t.Errorf("Remove = %v, %v; want failed with the decoded ApiError", out, err)
		}
	})
}

// Issue 12.3: a 401 whose challenge cannot be parsed is an answer (the
// credentials were not accepted), not a broken connection: one request,
// nothing "may have applied", and no false "already removed" after it.
func TestMalformedChallengeIsAnAnswer(t *testing.T) {
	var n atomic.Int32
	const challenge = `Digest realm="MMS Public API", nonce="abc, qop="auth` // unterminated quote
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if n.Add(1) == 1 {
			w.Header().Set("WWW-Authenticate", challenge)
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":401,"errorCode":"UNEXPECTED_ERROR","detail":"You are not authorized for this resource."}`)
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, keyNotFoundBody)
	}))
	t.Cleanup(srv.Close)
	var sl sleeps
	c := keyClient(t, srv.URL, fast(4, &sl))
	var info authedit.RetryInfo
	resp, err := c.DeleteOrgApiKeyWithResponse(authedit.WithRetryInfo(t.Context(), &info), orgID, keyID, nil)
	if err != nil || resp.StatusCode() != http.StatusUnauthorized || info.Attempts != 1 || info.EarlierMayHaveApplied || n.Load() != 1 {
		t.Fatalf("delete = %v, %v, %+v after %d requests; want the 401 after one request, nothing applied", resp, err, info, n.Load())
	}
	if resp.Headers401 == nil || resp.Headers401.WWWAuthenticate == nil || *resp.Headers401.WWWAuthenticate != challenge {
		t.Errorf("Headers401 = %+v, want the challenge as sent", resp.Headers401)
	}
	n.Store(0)
	out, err := c.Remove(t.Context(), orgID, keyID)
	var ae *authedit.APIError
	if out != authedit.Failed || !errors.As(err, &ae) || ae.StatusCode != http.StatusUnauthorized || n.Load() != 1 {
		t.Errorf("Remove = %v, %v after %d requests; want failed with the 401 after one", out, err, n.Load())
	}
}

// Issue 12.4: whatever the token endpoint echoes, no secret reaches a
// TokenError: not the client's own (plain, URL-escaped or in the Basic
// header), nor anything that looks like a secret.
func TestTokenErrorRedactsSecrets(t *testing.T) {
	const (
		secret = "mdb_sa_sk_Q2hhbmdlTWUxMjM0NTY3ODkw"   // shaped like an Atlas service-account secret
		other  = "c0ffee42-d00d-4bad-beef-0123456789ab" // an API private key this client does not know
	)
	var refuse atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == contract.TokenPath() && !refuse.Load() {
			_, _ = io.WriteString(w, `{"access_token":"tok","token_type":"bearer","expires_in":3600}`)
			return
		}
		if r.URL.Path != contract.TokenPath() && r.URL.Path != contract.RevokePath() {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		_, pass, _ := r.BasicAuth()
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]string{
			"error": "invalid_client",
			"error_description": fmt.Sprintf("client secret %s (as sent: %s, escaped %s) rejected; Authorization: %s; did you mean %s?",
				secret, pass, url.QueryEscape(secret), r.Header.Get("Authorization"), other),
		})
	}))
	t.Cleanup(srv.Close)
	newClient := func() *authedit.Client {
		c, err := authedit.NewClient(srv.URL, authedit.ServiceAccount{ClientID: "id", ClientSecret: secret}, authedit.WithoutRetry())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	check := func(op string, err error) {
		t.Helper()
		var te *authedit.TokenError
		if !errors.As(err, &te) || te.Op != op || te.StatusCode != http.StatusUnauthorized {
			t.Fatalf("err = %v, want a %s *TokenError 401", err, op)
		}
		if !strings.Contains(te.Description, "rejected") {
			t.Errorf("Description = %q, want the text around the secrets kept", te.Description)
		}
		basic := base64.StdEncoding.EncodeToString([]byte("id:" + secret))
		for _, out := range []string{err.Error(), fmt.Sprintf("%+v", te), fmt.Sprintf("%#v", te), te.Description, te.ErrorCode} {
			for _, s := range []string{secret, basic, other} {
				if strings.Contains(out, s) || leaks(out, s) != nil {
					t.Errorf("%s error leaks %q: %s", op, s, out)
				}
			}
		}
	}
	c := newClient()
	closeResp(t)(c.DeleteOrgApiKey(t.Context(), orgID, keyID, nil)) // a token to revoke
	refuse.Store(true)
	check("revoke", c.Revoke(t.Context()))
	_, err := newClient().DeleteOrgApiKeyWithResponse(t.Context(), orgID, keyID, nil)
	check("token", err)
}

// The client's own secret is redacted wherever the endpoint echoes it,
// but only when it is long enough to be a secret: a short one is more
// likely a word of the message ("wrong"), which must stay readable.
func TestTokenErrorRedactsShortSecretsNot(t *testing.T) {
	for _, tc := range []struct{ secret, want string }{
		{"wrong", "the client secret is wrong"},
		{"wrong-secret", "the client secret is [redacted]"},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, pass, _ := r.BasicAuth()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client", "error_description": "the client secret is " + pass})
		}))
		c, err := authedit.NewClient(srv.URL, authedit.ServiceAccount{ClientID: "id", ClientSecret: authedit.Secret(tc.secret)}, authedit.WithoutRetry())
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Remove(t.Context(), orgID, keyID)
		var te *authedit.TokenError
		if !errors.As(err, &te) || te.Description != tc.want {
			t.Errorf("secret %q: %v, want the description %q", tc.secret, err, tc.want)
		}
		srv.Close()
	}
}

// Issue 12.5: Atlas never redirects this operation, so the client follows
// no redirect, to the same origin or another, and reports it typed.
func TestRedirectsAreNotFollowed(t *testing.T) {
	var followed atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		followed.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(other.Close)
	for _, code := range []int{301, 302, 303, 307, 308} {
		for _, target := range []string{"/x", other.URL + "/api/atlas/v2/orgs/" + orgID + "/apiKeys/" + keyID} {
			t.Run(fmt.Sprint(code, " ", target), func(t *testing.T) {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == "/x" {
						followed.Add(1)
						w.WriteHeader(http.StatusNoContent)
						return
					}
					http.Redirect(w, r, target, code)
				}))
				t.Cleanup(srv.Close)
				c := keyClient(t, srv.URL, authedit.WithoutRetry())
				out, err := c.Remove(t.Context(), orgID, keyID)
				var re *authedit.RedirectError
				if out != authedit.Failed || !errors.As(err, &re) || re.StatusCode != code || !strings.HasSuffix(re.Location, target) {
					t.Errorf("Remove = %v, %v; want failed with *RedirectError %d to %s", out, err, code, target)
				}
				if n := followed.Swap(0); n != 0 {
					t.Errorf("the redirect was followed %d times", n)
				}
			})
		}
	}
}

// Issue 12.6: an error answer whose body is no ApiError, even one labelled
// JSON, still is an *APIError with its status: never a decoding failure.
func TestErrorWithoutApiError(t *testing.T) {
	for _, status := range []int{400, 401, 403, 404, 406, 429, 500} {
		for _, tc := range []struct{ name, contentType, body string }{
			{"plain text", "text/plain; charset=utf-8", "404 page not found\n"},
			{"html", "text/html", "<html><body><h1>Not Found</h1></body></html>"},
			{"empty", "", ""},
			{"json label, html body", "application/json", "<html><body><h1>Not Found</h1></body></html>"},
			{"json label, truncated", "application/json", `{"error":404,"errorCode":"API_KEY_NOT_`},
			{"json without errorCode", "application/json", `{"error":404}`},
			{"json of another shape", "application/json", `{"error":"not_found","errorCode":7}`},
		} {
			t.Run(fmt.Sprint(status, " ", tc.name), func(t *testing.T) {
				header := http.Header{}
				if tc.contentType != "" {
					header.Set("Content-Type", tc.contentType)
				}
				srv, _ := fixed(t, status, header, tc.body)
				c := keyClient(t, srv.URL, authedit.WithoutRetry())
				resp, err := c.DeleteOrgApiKeyWithResponse(t.Context(), orgID, keyID, nil)
				if err != nil || resp.StatusCode() != status || string(resp.Body) != tc.body {
					t.Fatalf("DeleteOrgApiKeyWithResponse = %v, %v; want the %d with its body", resp, err, status)
				}
				out, err := c.Remove(t.Context(), orgID, keyID)
				var ae *authedit.APIError
				if out != authedit.Failed || !errors.As(err, &ae) || ae.StatusCode != status || ae.ErrorCode != "" {
					t.Errorf("Remove = %v, %v; want failed, *APIError %d without an error code", out, err, status)
				}
			})
		}
	}
}
