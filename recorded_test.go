package deleteorgapikey

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"testing"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/authedit"
	"github.com/atlascontract/deleteorgapikey/internal/behavior"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// TestRecordedAnswers closes the loop between real Atlas and this module.
// For every recorded answer, including files dropped in with no code
// change: it fits the spec, the client decodes and classifies it as the
// behaviour table says, and atlastest, driven into the same situation,
// answers with the same status, errorCode, body keys and headers: every
// header Atlas sent (values aside: Date and the like differ), and the same
// content type, challenge (nonce aside) and X-Error-Code.
func TestRecordedAnswers(t *testing.T) {
	recs, err := behavior.ReadRecordings("testdata/atlas")
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		t.Run(rec.File, func(t *testing.T) {
			row, ok := behavior.Lookup(rec.Situation)
			if !ok {
				t.Fatalf("situation %q is not in internal/behavior's table", rec.Situation)
			}
			if rec.Status != row.Status {
				t.Errorf("recorded status %d, table says %d", rec.Status, row.Status)
			}
			req := httptest.NewRequest(http.MethodDelete,
				"https://cloud.mongodb.com/api/atlas/v2/orgs/"+orgID+"/apiKeys/"+keyID, nil)
			res := &http.Response{StatusCode: rec.Status, Header: rec.Header, Request: req,
				Body: io.NopCloser(bytes.NewReader(rec.Body))}
			if err := contract.CheckResponse(t.Context(), res); err != nil {
				t.Errorf("recorded answer breaks the spec: %v", err)
			}
			checkClientClassifies(t, rec)
			got := provoke(t, rec.Situation)
			compareAnswers(t, rec, got)
		})
	}
	// So that a recording of any situation can be dropped in, provoke
	// drives atlastest into each; atlastest's tests hold each answer to its row.
	for _, row := range behavior.Table() {
		if got := provoke(t, row.Situation); got.StatusCode != row.Status {
			t.Errorf("provoke(%s): %d, the table says %d",
				row.Situation, got.StatusCode, row.Status)
		}
	}
}

// checkClientClassifies replays the recording to the client and checks
// the outcome and error class it reports.
func checkClientClassifies(t *testing.T, rec behavior.Recording) {
	t.Helper()
	h := &canned{answers: []answer{{rec.Status, rec.Header, string(rec.Body)}}}
	client := newClient(t, serve(t, h), digestKey, once)
	resp, err := client.DeleteOrgApiKeyWithResponse(t.Context(), orgID, keyID, nil)
	if err != nil || resp.StatusCode() != rec.Status {
		t.Fatalf("DeleteOrgApiKeyWithResponse = %v, %v; want the recorded %d decoded",
			resp, err, rec.Status)
	}
	outcome, err := client.Remove(t.Context(), orgID, keyID)
	row, _ := behavior.Lookup(rec.Situation)
	var apiErr *APIError
	switch rec.Situation {
	case behavior.Removed:
		if outcome != Removed || err != nil {
			t.Errorf("Remove = %v, %v; want removed", outcome, err)
		}
	case behavior.KeyNotFound:
		if outcome != NotFound || err != nil {
			t.Errorf("Remove = %v, %v; want not found", outcome, err)
		}
	default: // any other answer is a failure that names Atlas's status and code
		if outcome != Failed || !errors.As(err, &apiErr) || apiErr.StatusCode != row.Status ||
			apiErr.ErrorCode != row.ErrorCode {
			t.Errorf("Remove = %v, %v; want failed with *APIError %d %s",
				outcome, err, row.Status, row.ErrorCode)
		}
		if row.ErrorCode != "" && !IsErrorCode(err, row.ErrorCode) {
			t.Errorf("IsErrorCode(%v, %s) = false", err, row.ErrorCode)
		}
	}
	if class, ok := errorClass[rec.Situation]; ok && !errors.Is(err, class) {
		t.Errorf("Remove error = %v; want one matching %v", err, class)
	}
}

// errorClass is the sentinel a caller branches on for the situations that
// have one.
var errorClass = map[behavior.Situation]error{
	behavior.Unauthenticated:  ErrUnauthorized,
	behavior.NotOwner:         ErrForbidden,
	behavior.IPNotAllowed:     ErrForbidden,
	behavior.OrgNotFound:      ErrOrgNotFound,
	behavior.RateLimited:      ErrRateLimited,
	behavior.TokenRateLimited: ErrRateLimited,
	behavior.ServerError:      ErrServerError,
}

// provoke drives a fresh atlastest server into situation s and returns its
// answer.
func provoke(t *testing.T, s behavior.Situation) *http.Response {
	t.Helper()
	srv := atlastest.NewTestServer(t)
	owner, member := srv.Owner(), srv.Member()
	absent := absentKey
	send := func(creds authedit.Credentials, path, accept string) *http.Response {
		var rt http.RoundTripper = http.DefaultTransport
		if creds != nil {
			tr, err := authedit.NewTransport(srv.URL, creds)
			if err != nil {
				t.Fatal(err)
			}
			rt = tr
		}
		req, err := http.NewRequestWithContext(t.Context(), http.MethodDelete, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept", accept)
		resp, err := (&http.Client{Transport: rt}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	keyPath := func(org, key string) string {
		return "/api/atlas/v2/orgs/" + org + "/apiKeys/" + key
	}
	versioned, present := contract.AcceptHeader(), keyPath(srv.OrgID(), srv.Keys()[0])
	switch s {
	case behavior.Removed:
		return send(owner.APIKey(), present, versioned)
	case behavior.KeyNotFound:
		return send(owner.APIKey(), keyPath(srv.OrgID(), absent), versioned)
	case behavior.Unauthenticated:
		return send(nil, present, versioned)
	case behavior.InvalidVersion:
		return send(owner.APIKey(), present, "application/json")
	case behavior.NotOwner:
		return send(member.APIKey(), present, versioned)
	case behavior.IPNotAllowed:
		srv.SetAccessList(owner, "192.0.2.0/24")
		return send(owner.APIKey(), present, versioned)
	case behavior.OrgNotFound:
		return send(owner.APIKey(), keyPath(absent, srv.Keys()[0]), versioned)
	case behavior.RateLimited:
		srv.FailNext(1, http.StatusTooManyRequests)
		return send(owner.APIKey(), present, versioned)
	case behavior.ServerError:
		srv.FailNext(1, http.StatusInternalServerError)
		return send(owner.APIKey(), present, versioned)
	case behavior.InvalidParameter:
		// Authenticated, as Atlas checks ids after authentication.
		return send(owner.APIKey(), keyPath(srv.OrgID(), "not-a-key"), versioned)
	case behavior.InvalidFlag:
		return send(owner.APIKey(), present+"?pretty=maybe", versioned)
	case behavior.Enveloped:
		return send(owner.APIKey(), present+"?envelope=true", versioned)
	case behavior.TokenRateLimited:
		srv.TokenEndpoint().FailNext(1, http.StatusTooManyRequests)
		u, _ := url.Parse(srv.URL + contract.TokenPath())
		u.User = url.UserPassword(owner.ClientID, owner.ClientSecret) // Basic authentication
		resp, err := http.PostForm(u.String(), url.Values{"grant_type": {"client_credentials"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	case behavior.NoSuchResource:
		return send(nil, "/api/atlas/v2/orgs/"+srv.OrgID(), versioned)
	}
	t.Fatalf("no way to drive atlastest into situation %q: add one to provoke", s)
	return nil
}

var nonce = regexp.MustCompile(`nonce="[^"]*"`)

// compareAnswers checks what a contract test can rely on: status,
// errorCode, the set of body keys, every header Atlas sent, and the values
// of the content type, challenge (nonce aside) and X-Error-Code.
func compareAnswers(t *testing.T, rec behavior.Recording, got *http.Response) {
	t.Helper()
	body, err := io.ReadAll(got.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got.StatusCode != rec.Status {
		t.Errorf("atlastest status %d, Atlas %d (body %s)", got.StatusCode, rec.Status, body)
	}
	stripNonce := func(vs []string) []string {
		out := make([]string, len(vs))
		for i, v := range vs {
			out[i] = nonce.ReplaceAllString(v, `nonce="…"`)
		}
		return out
	}
	exact := []string{"Content-Type", "X-Error-Code", "Www-Authenticate"}
	for _, name := range append(slices.Collect(maps.Keys(rec.Header)), exact...) {
		g, w := stripNonce(got.Header.Values(name)), stripNonce(rec.Header.Values(name))
		if len(g) == 0 && len(w) > 0 || slices.Contains(exact, name) && !slices.Equal(g, w) {
			t.Errorf("atlastest sent %s %q, Atlas %q", name, g, w)
		}
	}
	if g, w := bodyKeys(t, body), bodyKeys(t, rec.Body); !slices.Equal(g, w) {
		t.Errorf("atlastest body keys %v, Atlas %v", g, w)
	}
	var gotErr, recErr struct{ ErrorCode string }
	_ = json.Unmarshal(body, &gotErr)
	_ = json.Unmarshal(rec.Body, &recErr)
	if gotErr.ErrorCode != recErr.ErrorCode {
		t.Errorf("atlastest errorCode %q, Atlas %q", gotErr.ErrorCode, recErr.ErrorCode)
	}
}

func bodyKeys(t *testing.T, body []byte) []string {
	t.Helper()
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, body)
	}
	return slices.Sorted(maps.Keys(m))
}
