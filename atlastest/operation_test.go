package atlastest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/gen"
	"github.com/atlascontract/deleteorgapikey/internal/behavior"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

func ownerBearer(t *testing.T, srv *atlastest.Server) *http.Client {
	return bearerClient(t, fetchToken(t, srv, srv.Owner().ClientID, srv.Owner().ClientSecret))
}

func TestAuthorizationAndLookup(t *testing.T) {
	srv := atlastest.NewServer(atlastest.WithOrgs(2))
	other, otherOwner, _ := srv.OtherOrg()
	otherKey := srv.OrgKeys(other)[0]
	defer srv.Close()
	key := srv.Keys()[0]
	member := srv.Member()
	memberDigest, _ := digestClient(t, member.PublicKey, member.PrivateKey)
	owner := ownerBearer(t, srv)

	for _, c := range []struct {
		name   string
		client *http.Client
		org    string
		key    string
		status int
		code   string
	}{
		{"member digest", memberDigest, srv.OrgID(), key, 403, "USER_UNAUTHORIZED"},
		{"member bearer", bearerClient(t, fetchToken(t, srv, member.ClientID, member.ClientSecret)), srv.OrgID(), key, 403, "USER_UNAUTHORIZED"},
		{"owner of another org", bearerClient(t, fetchToken(t, srv, otherOwner.ClientID, otherOwner.ClientSecret)), srv.OrgID(), key, 403, "USER_UNAUTHORIZED"},
		{"unknown org", owner, "0123456789abcdef01234567", key, 404, "ORG_NOT_FOUND"},
		{"unknown key", owner, srv.OrgID(), "0123456789abcdef01234567", 400, "API_KEY_NOT_FOUND"},
		{"key of another org", owner, srv.OrgID(), otherKey, 400, "API_KEY_NOT_FOUND"},
		{"owner deletes in another org", owner, other, otherKey, 403, "USER_UNAUTHORIZED"},
	} {
		resp, body := del(t, c.client, opURL(srv, c.org, c.key, ""))
		if resp.StatusCode != c.status || errorCode(t, body) != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, resp.StatusCode, body, c.status, c.code)
		}
	}
	if !has(srv.Keys(), key) || !has(srv.OrgKeys(other), otherKey) {
		t.Error("a refused request deleted a key")
	}
	// The other org's owner may delete its own key.
	resp, body := del(t, bearerClient(t, fetchToken(t, srv, otherOwner.ClientID, otherOwner.ClientSecret)), opURL(srv, other, otherKey, ""))
	wantStatus(t, resp, body, http.StatusNoContent)
}

func TestValidation(t *testing.T) {
	srv := atlastest.NewServer()
	defer srv.Close()
	owner := srv.Owner()
	client, _ := digestClient(t, owner.PublicKey, owner.PrivateKey)
	org, key := srv.OrgID(), srv.Keys()[0]
	before := srv.OrgKeys(org)
	base := "/api/atlas/v2/orgs/"
	for _, c := range []struct {
		method, target string
		status         int
		field          string
	}{
		{"DELETE", base + strings.ToUpper(org) + "/apiKeys/" + key, 400, "orgId"},
		{"DELETE", base + org + "/apiKeys/" + key[:23], 400, "apiUserId"},
		{"DELETE", base + org + "/apiKeys/" + key + "0", 400, "apiUserId"},
		{"DELETE", base + "../apiKeys/" + key, 400, "orgId"},
		{"DELETE", base + "%2e%2e/apiKeys/" + key, 400, "orgId"},
		{"DELETE", base + org + "/apiKeys/" + key[:22] + "%2F", 400, "apiUserId"},
		{"DELETE", base + org + "/apiKeys/" + key + "?envelope=yes", 400, "envelope"},
		{"DELETE", base + org + "/apiKeys/" + key + "?pretty=1", 400, "pretty"},
		{"DELETE", base + org + "/apiKeys/" + key + "?envelope=true&envelope=false", 400, "envelope"},
		{"DELETE", base + org + "/apiKeys/" + key + "?pretty=%zz", 400, "query"},
		{"DELETE", base + org + "/apiKeys/" + key + "/", 404, ""},
		{"DELETE", base + org + "/apiKeys//" + key, 404, ""},
		{"DELETE", base + org + "/apikeys/" + key, 404, ""},
		{"DELETE", "/x" + base + org + "/apiKeys/" + key, 404, ""},
		{"DELETE", base + org, 404, ""},
		{"DELETE", "/", 404, ""},
		{"GET", base + org + "/apiKeys/" + key, 404, ""},
		{"POST", base + org + "/apiKeys/" + key, 404, ""},
		{"PATCH", base + org + "/apiKeys/" + key + "?envelope=true", 404, ""},
	} {
		resp, body := do(t, client, c.method, srv.URL+c.target, nil)
		if resp.StatusCode != c.status {
			t.Errorf("%s %s: %d, want %d: %s", c.method, c.target, resp.StatusCode, c.status, body)
			continue
		}
		var e gen.ApiError
		_ = json.Unmarshal(body, &e)
		switch {
		case c.status == 404 && e.ErrorCode != "RESOURCE_NOT_FOUND":
			t.Errorf("%s %s: errorCode %s", c.method, c.target, e.ErrorCode)
		case c.status == 400 && (e.ErrorCode != "VALIDATION_ERROR" || e.BadRequestDetail == nil || e.BadRequestDetail.Fields == nil ||
			len(*e.BadRequestDetail.Fields) != 1 || (*e.BadRequestDetail.Fields)[0].Field != c.field):
			t.Errorf("%s %s: want VALIDATION_ERROR naming %s: %s", c.method, c.target, c.field, body)
		}
	}
	if after := srv.OrgKeys(org); len(after) != len(before) {
		t.Errorf("keys %d -> %d after invalid requests", len(before), len(after))
	}
	// Validation comes before authentication: no credentials needed for a 400.
	resp, body := del(t, plain(t), srv.URL+base+"nope/apiKeys/"+key)
	wantStatus(t, resp, body, http.StatusBadRequest)
}

func TestEnvelopeAndPretty(t *testing.T) {
	srv := atlastest.NewServer()
	defer srv.Close()
	owner := ownerBearer(t, srv)
	org := srv.OrgID()
	type envelope struct {
		Status  int            `json:"status"`
		Content map[string]any `json:"content"`
	}
	enveloped := func(resp *http.Response, body []byte) envelope {
		t.Helper()
		wantStatus(t, resp, body, http.StatusOK)
		var e envelope
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatal(err)
		}
		return e
	}

	key := srv.Keys()[0]
	e := enveloped(del(t, owner, opURL(srv, org, key, "envelope=true")))
	if e.Status != 204 || e.Content != nil || has(srv.Keys(), key) {
		t.Errorf("enveloped 204: %+v", e)
	}
	e = enveloped(del(t, owner, opURL(srv, org, key, "envelope=true")))
	if e.Status != 400 || e.Content["errorCode"] != "API_KEY_NOT_FOUND" || e.Content["error"] != float64(400) {
		t.Errorf("enveloped 400: %+v", e)
	}
	member := bearerClient(t, fetchToken(t, srv, srv.Member().ClientID, srv.Member().ClientSecret))
	e = enveloped(del(t, member, opURL(srv, org, srv.Keys()[0], "envelope=true&pretty=false")))
	if e.Status != 403 || e.Content["errorCode"] != "USER_UNAUTHORIZED" {
		t.Errorf("enveloped 403: %+v", e)
	}
	// Authentication answers are not enveloped: clients need the 401.
	resp, body := del(t, plain(t), opURL(srv, org, srv.Keys()[0], "envelope=true"))
	wantStatus(t, resp, body, http.StatusUnauthorized)

	// pretty=true prints every JSON answer in Atlas's (Jackson's) style.
	for _, c := range []struct {
		client *http.Client
		query  string
		status int
		want   string
	}{
		{owner, "pretty=true", 400, "{\n  \"detail\" : \"No API key with ID " + key + " exists.\",\n  \"error\" : 400,\n" +
			"  \"errorCode\" : \"API_KEY_NOT_FOUND\",\n  \"parameters\" : [ \"" + key + "\" ],\n  \"reason\" : \"Bad Request\"\n}"},
		{owner, "pretty=true&envelope=true", 200, "{\n  \"content\" : {\n    \"detail\" : \"No API key with ID " + key + " exists.\",\n" +
			"    \"error\" : 400,\n    \"errorCode\" : \"API_KEY_NOT_FOUND\",\n    \"parameters\" : [ \"" + key + "\" ],\n    \"reason\" : \"Bad Request\"\n  },\n  \"status\" : 400\n}"},
		{plain(t), "pretty=true", 401, "{\n  \"error\" : 401,\n  \"reason\" : \"Unauthorized\",\n" +
			"  \"detail\" : \"You are not authorized for this resource.\",\n  \"errorCode\" : \"UNEXPECTED_ERROR\"\n}"},
	} {
		resp, body := del(t, c.client, opURL(srv, org, key, c.query))
		wantStatus(t, resp, body, c.status)
		if string(body) != c.want {
			t.Errorf("%s: body\n%s\nwant\n%s", c.query, body, c.want)
		}
	}
	resp, body = del(t, owner, opURL(srv, org, key, "pretty=false"))
	wantStatus(t, resp, body, http.StatusBadRequest)
	if strings.Contains(string(body), "\n") || strings.Contains(string(body), " : ") {
		t.Errorf("pretty=false printed pretty: %q", body)
	}
	// Nested objects and arrays of objects, as Jackson prints them.
	resp, body = del(t, owner, opURL(srv, org, "x", "pretty=true"))
	prefix, inner := "{\n  \"badRequestDetail\" : {\n    \"fields\" : [ {\n      \"", "\"field\" : \"apiUserId\"\n    } ]\n  },\n  \"detail\" : "
	if wantStatus(t, resp, body, http.StatusBadRequest); !strings.HasPrefix(string(body), prefix) || !strings.Contains(string(body), inner) || !json.Valid(body) {
		t.Errorf("nested pretty body\n%s\nwant it to start\n%s\nand hold\n%s", body, prefix, inner)
	}
}

func TestRateLimit(t *testing.T) {
	srv := atlastest.NewServer(atlastest.WithRateLimit(2, 1, time.Hour))
	defer srv.Close()
	owner := ownerBearer(t, srv)
	keys := srv.Keys()
	for i, remaining := range []string{"1", "0"} {
		resp, body := del(t, owner, opURL(srv, srv.OrgID(), keys[i], ""))
		wantStatus(t, resp, body, http.StatusNoContent)
		if resp.Header.Get("RateLimit-Limit") != "2" || resp.Header.Get("RateLimit-Remaining") != remaining {
			t.Errorf("delete %d: headers %v", i, resp.Header)
		}
	}
	for _, query := range []string{"", "envelope=true"} {
		resp, body := del(t, owner, opURL(srv, srv.OrgID(), keys[2], query))
		after, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if err != nil || after < 3500 || after > 3600 || resp.Header.Get("RateLimit-Remaining") != "0" || resp.Header.Get("RateLimit-Limit") != "2" {
			t.Errorf("429 headers %v", resp.Header)
		}
		if query == "" {
			wantStatus(t, resp, body, http.StatusTooManyRequests)
			if code := errorCode(t, body); code != "RATE_LIMITED" {
				t.Errorf("errorCode %s", code)
			}
		} else if !strings.Contains(string(body), `"status":429`) {
			t.Errorf("enveloped 429: %s", body)
		}
	}
	if !has(srv.Keys(), keys[2]) {
		t.Error("a rate-limited request deleted its key")
	}
	// Limits are per organization: another org still has its bucket.
	srv2 := atlastest.NewServer(atlastest.WithRateLimit(1, 1, time.Hour), atlastest.WithOrgs(2))
	defer srv2.Close()
	resp, body := del(t, ownerBearer(t, srv2), opURL(srv2, srv2.OrgID(), srv2.Keys()[0], ""))
	wantStatus(t, resp, body, http.StatusNoContent)
	other, otherOwner, _ := srv2.OtherOrg()
	resp, body = del(t, bearerClient(t, fetchToken(t, srv2, otherOwner.ClientID, otherOwner.ClientSecret)), opURL(srv2, other, srv2.OrgKeys(other)[0], ""))
	wantStatus(t, resp, body, http.StatusNoContent)
}

// TestRateLimitChargesOnlyAuthorizedRequests: a member, or the owner of
// another organization, cannot spend an organization's bucket: however many
// 403s they collect, its owner is still served (issue 12, item 8).
func TestRateLimitChargesOnlyAuthorizedRequests(t *testing.T) {
	srv := atlastest.NewServer(atlastest.WithRateLimit(3, 1, time.Hour), atlastest.WithOrgs(2))
	defer srv.Close()
	org, key := srv.OrgID(), srv.Keys()[0]
	member, _ := digestClient(t, srv.Member().PublicKey, srv.Member().PrivateKey)
	_, otherOwner, _ := srv.OtherOrg()
	stranger := bearerClient(t, fetchToken(t, srv, otherOwner.ClientID, otherOwner.ClientSecret))
	for range 5 {
		for _, c := range []*http.Client{member, stranger} {
			resp, body := del(t, c, opURL(srv, org, key, ""))
			wantStatus(t, resp, body, http.StatusForbidden)
			if got := resp.Header.Get("RateLimit-Remaining"); got != "3" {
				t.Fatalf("a 403 shows RateLimit-Remaining %s, want 3: it was charged", got)
			}
		}
	}
	resp, body := del(t, ownerBearer(t, srv), opURL(srv, org, key, ""))
	wantStatus(t, resp, body, http.StatusNoContent)
	if got := resp.Header.Get("RateLimit-Remaining"); got != "2" {
		t.Errorf("the owner's delete shows RateLimit-Remaining %s, want 2", got)
	}
}

func TestFailNext(t *testing.T) {
	srv := atlastest.NewServer()
	defer srv.Close()
	owner := ownerBearer(t, srv)
	key := srv.Keys()[0]
	u := opURL(srv, srv.OrgID(), key, "")

	srv.FailNext(2, http.StatusInternalServerError)
	// Unauthenticated requests do not consume injected faults.
	resp, body := del(t, plain(t), u)
	wantStatus(t, resp, body, http.StatusUnauthorized)
	for range 2 {
		resp, body := del(t, owner, u)
		wantStatus(t, resp, body, http.StatusInternalServerError)
		if code := errorCode(t, body); code != "UNEXPECTED_ERROR" {
			t.Errorf("errorCode %s", code)
		}
	}
	if !has(srv.Keys(), key) {
		t.Fatal("an injected failure changed state")
	}

	srv.FailNext(1, http.StatusTooManyRequests)
	resp, body = del(t, owner, u)
	wantStatus(t, resp, body, http.StatusTooManyRequests)
	if resp.Header.Get("Retry-After") != "1" || resp.Header.Get("RateLimit-Limit") != "500" || resp.Header.Get("RateLimit-Remaining") != "0" {
		t.Errorf("injected 429 headers %v", resp.Header)
	}

	srv.SetRetryAfter(90 * time.Second)
	srv.FailNext(2, http.StatusTooManyRequests)
	resp, body = del(t, owner, u)
	wantStatus(t, resp, body, http.StatusTooManyRequests)
	srv.SetRetryAfter(1500 * time.Millisecond) // takes effect at once, rounded up
	resp2, body := del(t, owner, u)
	wantStatus(t, resp2, body, http.StatusTooManyRequests)
	if resp.Header.Get("Retry-After") != "90" || resp2.Header.Get("Retry-After") != "2" {
		t.Errorf("SetRetryAfter: Retry-After %q then %q, want 90 then 2", resp.Header.Get("Retry-After"), resp2.Header.Get("Retry-After"))
	}
	srv.SetRetryAfter(-1)

	srv.FailNext(1, http.StatusUnauthorized)
	resp, body = del(t, owner, u)
	wantStatus(t, resp, body, http.StatusUnauthorized)
	unauthenticated, _ := del(t, plain(t), u)
	if got, want := len(resp.Header.Values("WWW-Authenticate")), len(unauthenticated.Header.Values("WWW-Authenticate")); got != want || want == 0 {
		t.Errorf("injected 401 has %d challenges, a request without credentials %d", got, want)
	}

	srv.FailNext(1, http.StatusNotFound)
	e := struct{ Status int }{}
	resp, body = del(t, owner, opURL(srv, srv.OrgID(), key, "envelope=true"))
	if _ = json.Unmarshal(body, &e); resp.StatusCode != 200 || e.Status != 404 {
		t.Errorf("enveloped injected 404: %d %s", resp.StatusCode, body)
	}

	resp, body = del(t, owner, u)
	wantStatus(t, resp, body, http.StatusNoContent)

	for _, status := range []int{204, 302, 409, 503} {
		if p := panicOf(func() { srv.FailNext(1, status) }); !strings.HasPrefix(fmt.Sprint(p), "atlastest: FailNext") {
			t.Errorf("FailNext(1, %d): panic %v, want one saying the spec documents no such status", status, p)
		}
	}
}

// panicOf runs f and returns what it panicked with, nil if nothing.
func panicOf(f func()) (p any) {
	defer func() { p = recover() }()
	f()
	return nil
}

// TestEveryQueryParameterIsImplemented: every parameter the spec documents
// is one the server implements, so none is silently ignored; the message
// says where to add it.
func TestEveryQueryParameterIsImplemented(t *testing.T) {
	flags := atlastest.QueryFlags()
	documented := 0
	for _, p := range contract.MustLoad().Op.Parameters {
		switch name := p.Value.Name; p.Value.In {
		case "path": // arguments of the generated server's method: the compiler checks them
		case "query":
			documented++
			if !slices.Contains(flags, name) {
				t.Errorf("the spec documents query parameter %q, which atlastest does not implement: add it to queryFlags in atlastest/handler.go", name)
			}
		default:
			t.Errorf("the spec documents %s parameter %q, which atlastest does not implement", p.Value.In, name)
		}
	}
	if documented != len(flags) {
		t.Errorf("atlastest implements query parameters %v; the spec documents %d", flags, documented)
	}
}

// TestFailNextEveryDocumentedStatus: FailNext takes every error status the
// spec documents and answers it as the behavior table's first row for that
// status says; anything else panics when the test sets it up.
func TestFailNextEveryDocumentedStatus(t *testing.T) {
	srv := atlastest.NewServer()
	defer srv.Close()
	client := ownerBearer(t, srv) // a digest client would answer the injected 401
	org, key := srv.OrgID(), srv.Keys()[0]
	statuses := 0
	for code := range contract.MustLoad().Op.Responses.Map() {
		status, err := strconv.Atoi(code)
		if err != nil || status < 400 {
			continue
		}
		statuses++
		var row behavior.Answer
		for _, a := range behavior.Table() {
			if a.Status == status && a.ErrorCode != "" {
				row = a
				break
			}
		}
		if p := panicOf(func() { srv.FailNext(1, status) }); p != nil {
			t.Errorf("the spec documents %d, but FailNext refuses it: %v", status, p)
			continue
		}
		resp, body := del(t, client, opURL(srv, org, key, ""))
		var params []any
		switch row.Situation {
		case behavior.KeyNotFound:
			params = []any{key}
		case behavior.NotOwner, behavior.OrgNotFound:
			params = []any{org}
		}
		wantAnswer(t, resp, body, row.Situation, params...)
	}
	if statuses < 7 || !has(srv.Keys(), key) {
		t.Errorf("%d error statuses tried; key kept: %v", statuses, has(srv.Keys(), key))
	}
}

func TestDropNext(t *testing.T) {
	srv := atlastest.NewServer()
	defer srv.Close()
	owner := srv.Owner()
	client, _ := digestClient(t, owner.PublicKey, owner.PrivateKey)
	key := srv.Keys()[0]
	u := opURL(srv, srv.OrgID(), key, "")

	srv.DropNext(1)
	req, _ := http.NewRequest(http.MethodDelete, u, nil)
	req.Header.Set("Accept", contract.AcceptHeader())
	resp, err := client.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got %d, want a connection error", resp.StatusCode)
	}
	if has(srv.OrgKeys(srv.OrgID()), key) {
		t.Error("the dropped delete did not take effect")
	}
	reqs := srv.Requests()
	last := reqs[len(reqs)-1]
	if !last.Dropped || last.Status != http.StatusNoContent || last.Auth != "digest" {
		t.Errorf("log entry %+v", last)
	}
	// The retry a client makes after a lost answer sees the delete done.
	resp2, body := del(t, client, u)
	wantStatus(t, resp2, body, http.StatusBadRequest)
	if code := errorCode(t, body); code != "API_KEY_NOT_FOUND" {
		t.Errorf("retry after a lost answer: %s", body)
	}
}

// TestLatency runs the handler in-process inside a synctest bubble, so the
// latency passes on the bubble's clock: no wall-clock wait, no timing bet.
// The operation and the token endpoint each have their own.
func TestLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := atlastest.New()
		h := srv.Handler()
		// serve runs req through the handler with ctx and says how long it took.
		serve := func(ctx context.Context, req *http.Request) (rec *httptest.ResponseRecorder, took time.Duration) {
			rec = httptest.NewRecorder()
			start := time.Now()
			defer func() {
				if p := recover(); p != nil && p != http.ErrAbortHandler {
					panic(p)
				}
				took = time.Since(start)
			}()
			h.ServeHTTP(rec, req.WithContext(ctx)) // an abandoned request aborts with http.ErrAbortHandler
			return rec, 0
		}
		tokenReq := func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, contract.TokenPath(), strings.NewReader("grant_type=client_credentials"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.SetBasicAuth(srv.Owner().ClientID, srv.Owner().ClientSecret)
			return r
		}
		rec, _ := serve(t.Context(), tokenReq())
		var token struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &token); err != nil || token.AccessToken == "" {
			t.Fatalf("token: %d %s", rec.Code, rec.Body)
		}
		deleteReq := func(key string) *http.Request {
			r := httptest.NewRequest(http.MethodDelete, "/api/atlas/v2/orgs/"+srv.OrgID()+"/apiKeys/"+key, nil)
			r.Header.Set("Authorization", "Bearer "+token.AccessToken)
			r.Header.Set("Accept", contract.AcceptHeader())
			return r
		}
		keys := srv.Keys()
		aborted := func() int { return srv.CountRequests(func(r atlastest.Request) bool { return r.Status == 0 }) }

		srv.SetLatency(time.Second)
		if rec, took := serve(t.Context(), deleteReq(keys[0])); rec.Code != http.StatusNoContent || took != time.Second {
			t.Errorf("with a second of latency: %d after %v", rec.Code, took)
		}
		// A client that gives up during the delay gets no answer and changes nothing.
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		if rec, took := serve(ctx, deleteReq(keys[1])); rec.Code != 200 || rec.Body.Len() != 0 || took != 50*time.Millisecond {
			t.Errorf("abandoned request: %d %q after %v", rec.Code, rec.Body, took)
		}
		if aborted() != 1 || !has(srv.Keys(), keys[1]) {
			t.Errorf("abandoned request: log %+v", srv.Requests())
		}
		srv.SetLatency(0)
		if rec, took := serve(t.Context(), deleteReq(keys[1])); rec.Code != http.StatusNoContent || took != 0 {
			t.Errorf("without latency: %d after %v", rec.Code, took)
		}

		// The token endpoint's latency is its own.
		srv.TokenEndpoint().SetLatency(2 * time.Second)
		if rec, took := serve(t.Context(), deleteReq(keys[2])); rec.Code != http.StatusNoContent || took != 0 {
			t.Errorf("the operation with token latency: %d after %v", rec.Code, took)
		}
		if rec, took := serve(t.Context(), tokenReq()); rec.Code != http.StatusOK || took != 2*time.Second {
			t.Errorf("token with two seconds of latency: %d after %v", rec.Code, took)
		}
		ctx, cancel = context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if rec, took := serve(ctx, tokenReq()); rec.Body.Len() != 0 || took != time.Second || aborted() != 2 {
			t.Errorf("abandoned token request: %d %q after %v", rec.Code, rec.Body, took)
		}
	})
}
