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
	"strings"
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
// answers with the same status, errorCode, content type, challenge (nonce
// aside), X-Error-Code and body keys.
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
			err := contract.CheckResponse(t.Context(), req, rec.Status, rec.Header, rec.Body)
			if err != nil {
				t.Errorf("recorded answer breaks the spec: %v", err)
			}
			checkClientClassifies(t, rec)
			got := provoke(t, rec.Situation)
			compareAnswers(t, rec, got)
		})
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
	behavior.OrgNotFound:      ErrOrgNotFound,
	behavior.RateLimited:      ErrRateLimited,
	behavior.TokenRateLimited: ErrRateLimited,
	behavior.ServerError:      ErrServerError,
}

// TestAtlastestAnswersEverySituation: atlastest can be driven into every
// situation of the table, and answers it with the table's status,
// errorCode, content type and headers; so a recording of any situation can
// be dropped into testdata/atlas with no code change.
func TestAtlastestAnswersEverySituation(t *testing.T) {
	for _, row := range behavior.Table() {
		t.Run(string(row.Situation), func(t *testing.T) {
			resp := provoke(t, row.Situation)
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			var got struct{ ErrorCode string }
			_ = json.Unmarshal(body, &got)
			ct := resp.Header.Get("Content-Type")
			if resp.StatusCode != row.Status || got.ErrorCode != row.ErrorCode ||
				ct != row.ContentType {
				t.Errorf("atlastest answered %d %q %q, table says %d %q %q (body %s)",
					resp.StatusCode, got.ErrorCode, ct, row.Status, row.ErrorCode, row.ContentType,
					body)
			}
			for _, h := range row.Headers {
				if resp.Header.Get(h) == "" {
					t.Errorf("no %s header", h)
				}
			}
		})
	}
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
	versioned := contract.AcceptHeader()
	switch s {
	case behavior.Removed:
		return send(owner.APIKey(), keyPath(srv.OrgID(), srv.Keys()[0]), versioned)
	case behavior.KeyNotFound:
		return send(owner.APIKey(), keyPath(srv.OrgID(), absent), versioned)
	case behavior.Unauthenticated:
		return send(nil, keyPath(srv.OrgID(), srv.Keys()[0]), versioned)
	case behavior.InvalidVersion:
		return send(owner.APIKey(), keyPath(srv.OrgID(), srv.Keys()[0]), "application/json")
	case behavior.NotOwner:
		return send(member.APIKey(), keyPath(srv.OrgID(), srv.Keys()[0]), versioned)
	case behavior.OrgNotFound:
		return send(owner.APIKey(), keyPath(absent, srv.Keys()[0]), versioned)
	case behavior.RateLimited:
		srv.FailNext(1, http.StatusTooManyRequests)
		return send(owner.APIKey(), keyPath(srv.OrgID(), srv.Keys()[0]), versioned)
	case behavior.ServerError:
		srv.FailNext(1, http.StatusInternalServerError)
		return send(owner.APIKey(), keyPath(srv.OrgID(), srv.Keys()[0]), versioned)
	case behavior.InvalidParameter:
		// Authenticated, as Atlas checks ids after authentication.
		return send(owner.APIKey(), keyPath(srv.OrgID(), "not-a-key"), versioned)
	case behavior.Enveloped:
		return send(owner.APIKey(), keyPath(srv.OrgID(), srv.Keys()[0])+"?envelope=true", versioned)
	case behavior.TokenRateLimited:
		srv.TokenEndpoint().FailNext(1, http.StatusTooManyRequests)
		form := strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode())
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost,
			srv.URL+contract.TokenPath(), form)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(owner.ClientID, owner.ClientSecret)
		resp, err := http.DefaultClient.Do(req)
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
// errorCode, content type, challenge (nonce aside), X-Error-Code and the
// set of body keys.
func compareAnswers(t *testing.T, rec behavior.Recording, got *http.Response) {
	t.Helper()
	body, err := io.ReadAll(got.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got.StatusCode != rec.Status {
		t.Errorf("atlastest status %d, Atlas %d (body %s)", got.StatusCode, rec.Status, body)
	}
	for _, h := range []string{"Content-Type", "X-Error-Code"} {
		if g, w := got.Header.Get(h), rec.Header.Get(h); g != w {
			t.Errorf("atlastest %s %q, Atlas %q", h, g, w)
		}
	}
	stripNonce := func(vs []string) []string {
		out := make([]string, len(vs))
		for i, v := range vs {
			out[i] = nonce.ReplaceAllString(v, `nonce="…"`)
		}
		return out
	}
	g := stripNonce(got.Header.Values("Www-Authenticate"))
	if w := stripNonce(rec.Header.Values("Www-Authenticate")); !slices.Equal(g, w) {
		t.Errorf("atlastest challenges %q, Atlas %q", g, w)
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
