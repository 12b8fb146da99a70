package atlastest_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/internal/behavior"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// wantAnswer checks an answer against its row of internal/behavior's table:
// status, content type, exactly the row's headers (X-Error-Code naming the
// code), the body's keys, errorCode, parameters and the detail filled from
// the row's template with them.
func wantAnswer(t *testing.T, resp *http.Response, body []byte, sit behavior.Situation, params ...any) {
	t.Helper()
	row, _ := behavior.Lookup(sit)
	if resp.StatusCode != row.Status {
		t.Errorf("%s: status %d, want %d: %s", sit, resp.StatusCode, row.Status, body)
		return
	}
	if got := resp.Header.Get(behavior.ContentType); got != row.ContentType {
		t.Errorf("%s: Content-Type %q, want %q", sit, got, row.ContentType)
	}
	for _, h := range []string{behavior.WWWAuthenticate, behavior.XErrorCode, behavior.RateLimitLimit, behavior.RateLimitRemaining, behavior.RetryAfter} {
		if sit == behavior.Enveloped {
			break // an envelope keeps the headers of what it wraps (doc.go)
		}
		if got := resp.Header.Get(h) != ""; got != slices.Contains(row.Headers, h) {
			t.Errorf("%s: header %s present %v, the table says %v: %v", sit, h, got, !got, resp.Header)
		}
	}
	if row.ErrorCode == "" {
		if len(body) != 0 && row.Status == http.StatusNoContent {
			t.Errorf("%s: body %q", sit, body)
		}
		return
	}
	if got := resp.Header.Get(behavior.XErrorCode); got != "" && got != row.ErrorCode {
		t.Errorf("%s: X-Error-Code %q, want %s", sit, got, row.ErrorCode)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		t.Fatalf("%s: %v: %s", sit, err, body)
	}
	keys := []string{"detail", "error", "errorCode", "reason"}
	if !row.NoParameters {
		keys = append(keys, "parameters")
	}
	if sit == behavior.InvalidParameter {
		keys = append(keys, "badRequestDetail")
	}
	var got []string
	for k := range fields {
		got = append(got, k)
	}
	slices.Sort(got)
	slices.Sort(keys)
	if !slices.Equal(got, keys) {
		t.Errorf("%s: body keys %v, want %v", sit, got, keys)
	}
	var e struct {
		Error      int
		ErrorCode  string
		Detail     string
		Parameters []any
	}
	_ = json.Unmarshal(body, &e)
	wantParams, _ := json.Marshal(append([]any{}, params...))
	if e.Error != row.Status || e.ErrorCode != row.ErrorCode || e.Detail != fmt.Sprintf(row.Detail, params...) ||
		!row.NoParameters && string(fields["parameters"]) != string(wantParams) {
		t.Errorf("%s: body %s\nwant errorCode %s, detail %q, parameters %s", sit, body, row.ErrorCode, fmt.Sprintf(row.Detail, params...), wantParams)
	}
}

// TestAnswersFollowTheBehaviorTable drives the server into every situation
// of the operation and holds each answer to its row.
func TestAnswersFollowTheBehaviorTable(t *testing.T) {
	srv := atlastest.NewServer()
	defer srv.Close()
	owner, member := srv.Owner(), srv.Member()
	client, _ := digestClient(t, owner.PublicKey, owner.PrivateKey)
	memberClient, _ := digestClient(t, member.PublicKey, member.PrivateKey)
	org, key := srv.OrgID(), srv.Keys()[0]
	absentOrg := "0123456789abcdef01234567"

	resp, body := del(t, client, opURL(srv, org, key, ""))
	wantAnswer(t, resp, body, behavior.Removed)
	resp, body = del(t, client, opURL(srv, org, key, ""))
	wantAnswer(t, resp, body, behavior.KeyNotFound, key)
	resp, body = del(t, plain(t), opURL(srv, org, key, ""))
	wantAnswer(t, resp, body, behavior.Unauthenticated)
	resp, body = do(t, client, http.MethodDelete, opURL(srv, org, key, ""), http.Header{"Accept": {"application/json"}})
	wantAnswer(t, resp, body, behavior.InvalidVersion)
	resp, body = del(t, memberClient, opURL(srv, org, srv.Keys()[0], ""))
	wantAnswer(t, resp, body, behavior.NotOwner, org)
	resp, body = del(t, client, opURL(srv, absentOrg, key, ""))
	wantAnswer(t, resp, body, behavior.OrgNotFound, absentOrg)
	resp, body = del(t, client, opURL(srv, org, "x", ""))
	wantAnswer(t, resp, body, behavior.InvalidParameter, "path", "apiUserId")
	resp, body = do(t, client, http.MethodGet, opURL(srv, org, key, ""), nil)
	wantAnswer(t, resp, body, behavior.NoSuchResource, "GET /api/atlas/v2/orgs/"+org+"/apiKeys/"+key, contract.MustLoad().Path)
	srv.FailNext(1, http.StatusInternalServerError)
	resp, body = del(t, client, opURL(srv, org, key, ""))
	wantAnswer(t, resp, body, behavior.ServerError)
	resp, body = del(t, client, opURL(srv, org, key, "envelope=true"))
	wantAnswer(t, resp, body, behavior.Enveloped)

	limited := atlastest.NewServer(atlastest.WithRateLimit(1, 1, time.Hour))
	defer limited.Close()
	client, _ = digestClient(t, limited.Owner().PublicKey, limited.Owner().PrivateKey)
	resp, body = del(t, client, opURL(limited, limited.OrgID(), limited.Keys()[0], ""))
	wantAnswer(t, resp, body, behavior.Removed)
	resp, body = del(t, client, opURL(limited, limited.OrgID(), limited.Keys()[0], ""))
	wantAnswer(t, resp, body, behavior.RateLimited)
}

// TestUnauthenticatedAsRecorded: the 401's content type and body are byte
// for byte what real Atlas sent (testdata/atlas/unauthenticated.http).
func TestUnauthenticatedAsRecorded(t *testing.T) {
	row, _ := behavior.Lookup(behavior.Unauthenticated)
	f, err := os.Open("../testdata/atlas/" + row.Recording)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recorded, err := http.ReadResponse(bufio.NewReader(f), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.TrimSpace(string(readBody(t, recorded)))

	srv := atlastest.NewServer()
	defer srv.Close()
	for _, query := range []string{"", "pretty=false", "envelope=true"} {
		resp, body := del(t, plain(t), opURL(srv, srv.OrgID(), srv.Keys()[0], query))
		if resp.StatusCode != recorded.StatusCode || string(body) != want || resp.Header.Get(behavior.ContentType) != recorded.Header.Get(behavior.ContentType) {
			t.Errorf("%q: %d %s\n%s\nwant %d %s\n%s", query, resp.StatusCode, resp.Header.Get(behavior.ContentType), body,
				recorded.StatusCode, recorded.Header.Get(behavior.ContentType), want)
		}
	}
}

// TestAcceptVersion: Accept must name a resource version on or after the
// spec's (2023-01-01) as application/vnd.atlas.YYYY-MM-DD+json, else 406
// INVALID_VERSION_DATE; checked after authentication and before faults,
// the rate limit and the key.
func TestAcceptVersion(t *testing.T) {
	srv := atlastest.NewServer(atlastest.WithSeedKeys(10), atlastest.WithRateLimit(100, 1, time.Hour))
	defer srv.Close()
	owner := srv.Owner()
	client, _ := digestClient(t, owner.PublicKey, owner.PrivateKey)
	org := srv.OrgID()
	srv.FailNext(1, http.StatusInternalServerError)
	faulted, remaining := false, 100
	for _, c := range []struct {
		accept []string
		ok     bool
	}{
		{nil, false},
		{[]string{""}, false},
		{[]string{"application/json"}, false},
		{[]string{"*/*"}, false},
		{[]string{"application/*"}, false},
		{[]string{"application/vnd.atlas+json"}, false},
		{[]string{"application/vnd.atlas.2022-12-31+json"}, false},
		{[]string{"application/vnd.atlas.2023-02-30+json"}, false},
		{[]string{"application/vnd.atlas.2023-1-01+json"}, false},
		{[]string{"application/vnd.atlas.2023-01-01"}, false},
		{[]string{"application/vnd.atlas.2023-01-01+xml"}, false},
		{[]string{"application/vnd.atlas.2023-01-01+json;q=0"}, false},
		{[]string{"application/vnd.atlas.2023-01-01+json; charset"}, false},
		{[]string{"application/vnd.atlas.2023-01-01+json"}, true},
		{[]string{"application/vnd.atlas.2025-03-12+json"}, true},
		{[]string{"application/json, application/vnd.atlas.2024-08-05+json;charset=utf-8"}, true},
		{[]string{"APPLICATION/VND.ATLAS.2023-01-01+JSON; q=0.5"}, true},
		{[]string{"application/json", "application/vnd.atlas.2023-01-01+json"}, true},
	} {
		u := opURL(srv, org, srv.Keys()[0], "")
		resp, body := do(t, client, http.MethodDelete, u, http.Header{"Accept": c.accept})
		if !c.ok {
			wantAnswer(t, resp, body, behavior.InvalidVersion)
			continue
		}
		if !faulted { // the first accepted request meets the fault the 406s left armed
			wantAnswer(t, resp, body, behavior.ServerError)
			faulted = true
			resp, body = do(t, client, http.MethodDelete, u, http.Header{"Accept": c.accept})
		}
		wantAnswer(t, resp, body, behavior.Removed)
		if remaining--; resp.Header.Get(behavior.RateLimitRemaining) != strconv.Itoa(remaining) {
			t.Errorf("Accept %q: RateLimit-Remaining %s, want %d: a 406 spent the bucket", c.accept, resp.Header.Get(behavior.RateLimitRemaining), remaining)
		}
	}
	// Authentication comes first: a digest client must see its 401.
	u := opURL(srv, org, srv.Keys()[0], "")
	resp, body := do(t, plain(t), http.MethodDelete, u, http.Header{"Accept": {"*/*"}})
	wantAnswer(t, resp, body, behavior.Unauthenticated)
	// After authentication, envelope=true wraps the 406 like any answer.
	resp, body = do(t, client, http.MethodDelete, u+"?envelope=true", http.Header{"Accept": {"*/*"}})
	if wantAnswer(t, resp, body, behavior.Enveloped); !strings.Contains(string(body), `"status":406`) {
		t.Errorf("enveloped 406: %s", body)
	}
}
