package atlastest

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/atlascontract/deleteorgapikey/internal/behavior"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

const absent = "0123456789abcdef01234567" // an id no organization or key has

func rowOf(s behavior.Situation) behavior.Answer {
	row, _ := behavior.Lookup(s) // the zero Answer for none: the tests then fail
	return row
}

// wantAnswer holds an answer to its row of internal/behavior's table:
// status, content type, exactly the row's headers (the server headers if
// the row has them), the body's keys, errorCode, parameters, and the detail
// filled from the row's template with them. An enveloped answer is held to
// the row of the answer it wraps; the enveloped row only to its status,
// content type and a body with a status.
func wantAnswer(t testing.TB, resp *http.Response, body []byte, row behavior.Answer, ps ...any) {
	t.Helper()
	fix := fmt.Sprintf("atlastest or the row %s in internal/behavior/behavior.go", row.Situation)
	ct := resp.Header.Get(behavior.ContentType)
	if env := decode[struct {
		Status  int
		Content json.RawMessage
	}](t, body, resp.StatusCode == http.StatusOK); row.Situation == behavior.Enveloped {
		if resp.StatusCode != row.Status || ct != row.ContentType || env.Status == 0 {
			t.Errorf("%s: %d %q %s; fix %s", row.Situation, resp.StatusCode, ct, body, fix)
		}
		return
	} else if resp.StatusCode == http.StatusOK {
		resp.StatusCode, body, ct = env.Status, env.Content, row.ContentType
	}
	if resp.StatusCode != row.Status || ct != row.ContentType {
		t.Errorf("%s: %d %q, want %d %q; fix %s: %s", row.Situation, resp.StatusCode, ct,
			row.Status, row.ContentType, fix, body)
		return
	}
	headers := []string{behavior.WWWAuthenticate, behavior.XErrorCode, behavior.RateLimitLimit,
		behavior.RateLimitRemaining, behavior.RetryAfter}
	server := behavior.ServerHeaders()
	for _, h := range append(headers, slices.Collect(maps.Keys(server))...) {
		want := slices.Contains(row.Headers, h) || row.ServerHeaders && server[h] != nil
		if got := resp.Header.Get(h) != ""; got != want {
			t.Errorf("%s: header %s sent %v, want %v; fix %s", row.Situation, h, got, want, fix)
		}
	}
	if row.ErrorCode == "" {
		if len(body) != 0 {
			t.Errorf("%s: body %q, want none", row.Situation, body)
		}
		return
	}
	fields := decode[map[string]json.RawMessage](t, body, true)
	wantKeys := []string{"detail", "error", "errorCode", "parameters", "reason"}
	if row.NoParameters {
		wantKeys = slices.DeleteFunc(wantKeys, func(k string) bool { return k == "parameters" })
	}
	e := decode[struct {
		Error             int
		ErrorCode, Detail string
	}](t, body, true)
	wantParams, _ := json.Marshal(append([]any{}, ps...))
	detail, named := fmt.Sprintf(row.Detail, ps...), resp.Header.Get(behavior.XErrorCode)
	keys := slices.Sorted(maps.Keys(fields))
	if !slices.Equal(keys, wantKeys) || e.Error != row.Status || e.ErrorCode != row.ErrorCode ||
		named != "" && named != e.ErrorCode || e.Detail != detail ||
		!row.NoParameters && string(fields["parameters"]) != string(wantParams) {
		t.Errorf("%s: body %s\nwant keys %v, errorCode %s, detail %q, parameters %s; fix %s",
			row.Situation, body, wantKeys, row.ErrorCode, detail, wantParams, fix)
	}
}

// deleting returns a DELETE of u by c, for a table of requests.
func deleting(t testing.TB, c *http.Client, u string) func() (*http.Response, []byte) {
	return func() (*http.Response, []byte) { return del(t, c, u) }
}

// TestAnswersFollowTheBehaviorTable drives the server into every situation
// of internal/behavior's table and holds each answer to its row.
func TestAnswersFollowTheBehaviorTable(t *testing.T) {
	srv := NewTestServer(t)
	org, keys := srv.OrgID(), srv.Keys()
	owner := digestClient(t, srv.Owner())
	at := func(key, query string) string { return opURL(srv, org, key, query) }
	u := func(query string) string { return at(keys[1], query) }
	limited := NewTestServer(t, WithRateLimit(1, 1, time.Hour))
	limitedURL := opURL(limited, limited.OrgID(), limited.Keys()[0], "")
	del(t, digestClient(t, limited.Owner()), opURL(limited, limited.OrgID(), absent, ""))
	fenced := NewTestServer(t)
	fenced.SetAccessList(fenced.Owner(), "192.0.2.0/24")
	failing := NewTestServer(t)
	failing.FailNext(1, http.StatusInternalServerError)
	failing.TokenEndpoint().FailNext(1, http.StatusTooManyRequests)
	type answer struct {
		do     func() (*http.Response, []byte)
		params []any
	}
	cases := map[behavior.Situation]answer{}
	cases[behavior.Removed] = answer{deleting(t, owner, at(keys[0], "")), nil}
	cases[behavior.KeyNotFound] = answer{deleting(t, owner, at(absent, "")), []any{absent}}
	cases[behavior.Unauthenticated] = answer{deleting(t, plain(t), u("")), nil}
	cases[behavior.NotOwner] = answer{deleting(t, bearerClient(t, srv, srv.Member()), u("")), nil}
	cases[behavior.OrgNotFound] = answer{deleting(t, owner, opURL(srv, absent, keys[1], "")),
		[]any{absent}}
	cases[behavior.InvalidParameter] = answer{deleting(t, owner, at("x", "")), []any{"apiUserId"}}
	cases[behavior.InvalidFlag] = answer{deleting(t, owner, u("envelope=true&pretty=1.5")),
		[]any{"pretty"}}
	cases[behavior.Enveloped] = answer{deleting(t, owner, u("envelope=true")), nil}
	cases[behavior.IPNotAllowed] = answer{deleting(t, digestClient(t, fenced.Owner()),
		opURL(fenced, fenced.OrgID(), keys[1], "")), []any{"127.0.0.1"}}
	cases[behavior.RateLimited] = answer{deleting(t, digestClient(t, limited.Owner()), limitedURL),
		[]any{strings.TrimPrefix(limitedURL, limited.URL+"/"), 3600, 1, 1, 3600}}
	cases[behavior.ServerError] = answer{deleting(t, digestClient(t, failing.Owner()),
		opURL(failing, failing.OrgID(), absent, "")), nil}
	cases[behavior.InvalidVersion] = answer{func() (*http.Response, []byte) {
		return send(t, owner, http.MethodDelete, u(""), http.Header{"Accept": {"*/*"}})
	}, nil}
	cases[behavior.NoSuchResource] = answer{func() (*http.Response, []byte) {
		return send(t, owner, http.MethodGet, u(""), nil)
	}, []any{"GET " + strings.TrimPrefix(u(""), srv.URL), contract.MustLoad().Path}}
	cases[behavior.TokenRateLimited] = answer{func() (*http.Response, []byte) {
		rec := handle(failing, "POST", contract.TokenPath(), basic(failing.Owner()), "")
		return rec.Result(), rec.Body.Bytes()
	}, []any{contract.TokenPath(), 50, 1}}
	for _, row := range behavior.Table() {
		c, ok := cases[row.Situation]
		if !ok {
			t.Errorf("%s: no way to drive atlastest into it: add one to this test's cases",
				row.Situation)
			continue
		}
		resp, body := c.do()
		wantAnswer(t, resp, body, row, c.params...)
	}
}

// TestCheckOrder: when a request has several faults, the first check in
// doc.go's order answers it.
func TestCheckOrder(t *testing.T) {
	srv := NewTestServer(t, WithRateLimit(1, 1, time.Hour))
	org, key := srv.OrgID(), srv.Keys()[0]
	owner, member := digestClient(t, srv.Owner()), bearerClient(t, srv, srv.Member())
	u := func(orgID, keyID string) string { return opURL(srv, orgID, keyID, "") }
	for _, c := range []struct {
		name   string
		want   behavior.Situation
		client *http.Client
		method string
		url    string
		accept string // the spec's when empty
		arm    func()
	}{
		{"path first", behavior.NoSuchResource, plain(t), "GET", u(org, key), "", nil},
		{"unclean path", behavior.NoSuchResource, owner, "DELETE", u("x/..", key), "", nil},
		{"trailing slash", behavior.NoSuchResource, owner, "DELETE", u(org, key) + "/", "", nil},
		{"then authentication", behavior.Unauthenticated, plain(t), "DELETE",
			u("x", "y") + "?pretty=no", "*/*", nil},
		{"then flags", behavior.InvalidFlag, owner, "DELETE", u("x", key) + "?pretty=", "*/*", nil},
		{"then ids", behavior.InvalidParameter, owner, "DELETE", u(org, "y"), "*/*", nil},
		{"then Accept", behavior.InvalidVersion, owner, "DELETE", u(org, key), "*/*",
			func() { srv.FailNext(1, http.StatusInternalServerError) }},
		{"then faults", behavior.ServerError, owner, "DELETE", u(absent, key), "", nil},
		{"then the organization", behavior.OrgNotFound, member, "DELETE", u(absent, key), "",
			func() { srv.SetAccessList(srv.Member(), "192.0.2.1") }},
		{"then the access list", behavior.IPNotAllowed, member, "DELETE", u(org, key), "", nil},
		{"then the role", behavior.NotOwner, member, "DELETE", u(org, key), "",
			func() { srv.SetAccessList(srv.Member()) }},
		{"the owner spends the bucket", behavior.Removed, owner, "DELETE", u(org, key), "", nil},
		{"then the bucket", behavior.RateLimited, owner, "DELETE", u(org, absent), "", nil},
	} {
		if c.arm != nil {
			c.arm()
		}
		header := http.Header{}
		if c.accept != "" {
			header.Set("Accept", c.accept)
		}
		resp, body := send(t, c.client, c.method, c.url, header)
		got := decode[struct{ ErrorCode string }](t, body, len(body) > 0)
		want := rowOf(c.want)
		if resp.StatusCode != want.Status || got.ErrorCode != want.ErrorCode {
			t.Errorf("%s: %d %s, want %s: %s", c.name, resp.StatusCode, got.ErrorCode, c.want, body)
		}
	}
}

// TestAnswersAsRecorded: the 204 carries every header of
// testdata/atlas/removed.http, with its value but for the date, the time
// measured and the bucket's level; the 401's challenge and body are
// unauthenticated.http's, byte for byte but the nonce, whatever the flags.
func TestAnswersAsRecorded(t *testing.T) {
	recs, err := behavior.ReadRecordings("../testdata/atlas")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewTestServer(t)
	org, owner := srv.OrgID(), digestClient(t, srv.Owner())
	answers := map[behavior.Situation]func() (*http.Response, []byte){
		behavior.Removed:         deleting(t, owner, opURL(srv, org, srv.Keys()[0], "")),
		behavior.Unauthenticated: deleting(t, plain(t), opURL(srv, org, "x", "pretty=0&envelope=")),
	}
	for _, rec := range recs {
		answer, ok := answers[rec.Situation]
		if !ok {
			continue // TestAnswersFollowTheBehaviorTable holds the answer to its row
		}
		resp, body := answer()
		for name, want := range rec.Header {
			got := resp.Header.Values(name)
			switch name {
			case "Date", "X-Envoy-Upstream-Service-Time", "Ratelimit-Remaining":
				want = got[:min(1, len(got))]
			case "Www-Authenticate":
				got = []string{nonce.ReplaceAllString(got[0], "N")}
				want = []string{nonce.ReplaceAllString(want[0], "N")}
			}
			if len(got) == 0 || !slices.Equal(got, want) {
				t.Errorf("%s: header %s = %q, Atlas sent %q; fix ServerHeaders in "+
					"internal/behavior/behavior.go", rec.File, name, got, want)
			}
		}
		if string(body) != string(rec.Body) {
			t.Errorf("%s: body\n%s\nAtlas sent\n%s", rec.File, body, rec.Body)
		}
	}
}

// TestEveryQueryParameterIsImplemented: each query flag the spec documents
// changes the answer when set, so none is silently ignored.
func TestEveryQueryParameterIsImplemented(t *testing.T) {
	srv := NewTestServer(t)
	owner := digestClient(t, srv.Owner())
	u := opURL(srv, srv.OrgID(), absent, "")
	_, plainBody := del(t, owner, u)
	for _, p := range contract.MustLoad().Op.Parameters {
		name := p.Value.Name
		if p.Value.In != "query" {
			continue
		}
		if _, body := del(t, owner, u+"?"+name+"=true"); string(body) == string(plainBody) {
			t.Errorf("the spec documents query flag %s, which changes nothing: "+
				"read it in (*exchange).readFlags in atlastest/handler.go", name)
		}
	}
}

// TestAcceptVersion: Accept must name a resource version on or after the
// spec's as application/vnd.atlas.YYYY-MM-DD+json.
func TestAcceptVersion(t *testing.T) {
	srv := NewTestServer(t)
	owner := digestClient(t, srv.Owner())
	for accept, ok := range map[string]bool{
		"":                                      false,
		"*/*":                                   false,
		"application/vnd.atlas.2022-12-31+json": false,
		"application/vnd.atlas.2023-02-30+json": false,
		"application/vnd.atlas.2023-01-01":      false,
		"application/vnd.atlas.2023-01-01+json;q=0":                             false,
		"application/vnd.atlas.2023-01-01+json; charset":                        false,
		"application/vnd.atlas.2025-03-12+json":                                 true,
		"APPLICATION/VND.ATLAS.2023-01-01+JSON; q=0.5":                          true,
		"application/json, application/vnd.atlas.2024-08-05+json;charset=utf-8": true,
	} {
		want := rowOf(behavior.InvalidVersion).Status
		if ok {
			want = rowOf(behavior.KeyNotFound).Status
		}
		u, header := opURL(srv, srv.OrgID(), absent, ""), http.Header{"Accept": {accept}}
		if resp, body := send(t, owner, http.MethodDelete, u, header); resp.StatusCode != want {
			t.Errorf("Accept %q: %d, want %d: %s", accept, resp.StatusCode, want, body)
		}
	}
}

// TestEnvelopeAndPretty: envelope=true wraps every answer after
// authentication, role errors too; pretty=true prints as Jackson does.
func TestEnvelopeAndPretty(t *testing.T) {
	srv := NewTestServer(t)
	org, key := srv.OrgID(), srv.Keys()[0]
	owner := bearerClient(t, srv, srv.Owner())
	resp, body := del(t, owner, opURL(srv, org, key, "envelope=true"))
	if wantAnswer(t, resp, body, rowOf(behavior.Removed)); string(body) != `{"status":204}` {
		t.Errorf("enveloped 204: %s", body)
	}
	resp, body = del(t, bearerClient(t, srv, srv.Member()), opURL(srv, org, key, "envelope=true"))
	wantAnswer(t, resp, body, rowOf(behavior.NotOwner))

	gone := `{"detail":"No API key with ID ` + key + ` exists.","error":400,` +
		`"errorCode":"API_KEY_NOT_FOUND","parameters":["` + key + `"],"reason":"Bad Request"}`
	for query, want := range map[string]string{
		"pretty=false":        gone,
		"pretty=true":         string(jackson([]byte(gone))),
		"pretty=1&envelope=1": string(jackson([]byte(`{"content":` + gone + `,"status":400}`))),
	} {
		if _, body := del(t, owner, opURL(srv, org, key, query)); string(body) != want {
			t.Errorf("%s: body\n%s\nwant\n%s", query, body, want)
		}
	}
	compact := `{"a":[1,"x\",{}",[]],"b":{"c":{}},"d":[{"e":null}]}`
	want := "{\n  \"a\" : [ 1, \"x\\\",{}\", [ ] ],\n  \"b\" : {\n    \"c\" : { }\n  },\n" +
		"  \"d\" : [ {\n    \"e\" : null\n  } ]\n}"
	if got := string(jackson([]byte(compact))); got != want {
		t.Errorf("jackson(%s) =\n%s\nwant\n%s", compact, got, want)
	}
}

// TestRateLimit: the organization's bucket, as the headers show it, spent
// only by authorized requests and refilled with time.
func TestRateLimit(t *testing.T) {
	clk := newClock()
	srv := NewTestServer(t, WithRateLimit(2, 1, time.Minute), WithClock(clk.Now))
	owner, member := digestClient(t, srv.Owner()), digestClient(t, srv.Member())
	keys := srv.Keys()
	for i, c := range []struct {
		client           *http.Client
		status           int
		left, retryAfter string
	}{{member, 401, "2", ""}, {owner, 204, "1", ""}, {owner, 204, "0", ""}, {member, 401, "0", ""},
		{owner, 429, "0", "60"}} {
		resp, body := del(t, c.client, opURL(srv, srv.OrgID(), keys[i], ""))
		h := resp.Header
		if resp.StatusCode != c.status || h.Get("Ratelimit-Limit") != "2" ||
			h.Get("Ratelimit-Remaining") != c.left || h.Get("Retry-After") != c.retryAfter {
			t.Errorf("request %d: %d %v %s, want %d with %s left", i, resp.StatusCode, h, body,
				c.status, c.left)
		}
	}
	clk.Advance(time.Minute)
	resp, body := del(t, owner, opURL(srv, srv.OrgID(), keys[4], ""))
	wantStatus(t, resp, body, http.StatusNoContent)
}

// TestFaults: each documented error status FailNext takes gets its row,
// changing nothing and not spent by requests that do not authenticate; an
// injected 429 names its Retry-After; any other status panics. A dropped
// delete takes effect, and the client sees a lost connection.
func TestFaults(t *testing.T) {
	srv := NewTestServer(t)
	owner := bearerClient(t, srv, srv.Owner())
	key := srv.Keys()[0]
	u := opURL(srv, srv.OrgID(), key, "")
	for status, sit := range map[int]behavior.Situation{400: behavior.KeyNotFound,
		401: behavior.NotOwner, 403: behavior.IPNotAllowed, 404: behavior.OrgNotFound,
		406: behavior.InvalidVersion, 429: behavior.RateLimited, 500: behavior.ServerError} {
		srv.FailNext(1, status)
		resp, body := del(t, plain(t), u)
		wantStatus(t, resp, body, http.StatusUnauthorized)
		resp, body = del(t, owner, u)
		wantAnswer(t, resp, body, rowOf(sit), map[behavior.Situation][]any{
			behavior.KeyNotFound:  {key},
			behavior.IPNotAllowed: {"127.0.0.1"},
			behavior.OrgNotFound:  {srv.OrgID()},
			behavior.RateLimited:  {strings.TrimPrefix(u, srv.URL+"/"), 1, 500, 250, 60},
		}[sit]...)
	}
	srv.SetRetryAfter(1500 * time.Millisecond)
	srv.FailNext(1, http.StatusTooManyRequests)
	if resp, _ := del(t, owner, u); resp.Header.Get("Retry-After") != "2" {
		t.Errorf("SetRetryAfter(1.5s): headers %v", resp.Header)
	}
	srv.DropNext(1)
	req, _ := http.NewRequest(http.MethodDelete, u, nil)
	req.Header.Set("Accept", contract.AcceptHeader())
	if _, err := owner.Do(req); err == nil || srv.HasKey(key) {
		t.Errorf("a dropped delete: error %v, key kept %v", err, srv.HasKey(key))
	}
	dropped := func(r Request) bool { return r.Dropped && r.Status == http.StatusNoContent }
	if n := srv.CountRequests(dropped); n != 1 {
		t.Errorf("log %+v, want one dropped 204", srv.Requests())
	}
	for _, status := range []int{200, 204, 302, 409, 503} {
		p := panicOf(func() { srv.FailNext(1, status) })
		if !strings.HasPrefix(fmt.Sprint(p), "atlastest: FailNext") {
			t.Errorf("FailNext(1, %d): panic %v", status, p)
		}
	}
}

// deleteRequest is a DELETE of key with the Authorization auth, for the
// handler in-process.
func deleteRequest(srv *Server, auth, key string) *http.Request {
	path := "/api/atlas/v2/orgs/" + srv.OrgID() + "/apiKeys/" + key
	r := httptest.NewRequest(http.MethodDelete, path, nil)
	r.Header.Set("Authorization", auth)
	r.Header.Set("Accept", contract.AcceptHeader())
	return r
}

// TestLatency runs the handler in-process in a synctest bubble, so the
// latency passes on the bubble's clock. A client that gives up meanwhile
// gets no answer and changes nothing; the token endpoint's latency is its own.
func TestLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := New()
		auth, keys := "Bearer "+issueToken(t, srv, srv.Owner()), srv.Keys()
		grant := "grant_type=client_credentials"
		srv.SetLatency(time.Second)
		srv.TokenEndpoint().SetLatency(2 * time.Second)
		for _, c := range []struct {
			req     *http.Request
			timeout time.Duration // the client gives up after it
			status  int           // 200 for nothing written
			took    time.Duration
		}{
			{deleteRequest(srv, auth, keys[0]), time.Hour, http.StatusNoContent, time.Second},
			{deleteRequest(srv, auth, keys[1]), time.Second / 2, http.StatusOK, time.Second / 2},
			{formRequest("POST", contract.TokenPath(), basic(srv.Owner()), grant), time.Hour,
				http.StatusOK, 2 * time.Second},
		} {
			ctx, cancel := context.WithTimeout(t.Context(), c.timeout)
			start := time.Now()
			rec := serve(srv, c.req.WithContext(ctx))
			if cancel(); rec.Code != c.status || time.Since(start) != c.took {
				t.Errorf("%s %s: %d after %v, want %d after %v", c.req.Method, c.req.URL, rec.Code,
					time.Since(start), c.status, c.took)
			}
		}
		aborted := srv.CountRequests(func(r Request) bool { return r.Status == 0 })
		if !srv.HasKey(keys[1]) || aborted != 1 {
			t.Errorf("abandoned delete: key there %v, log %+v", srv.HasKey(keys[1]), srv.Requests())
		}
	})
}

// BenchmarkDelete deletes keys through the whole handler (Bearer
// authentication, the generated router, rate limit) at 1e3 and 1e6 keys:
// the time per delete should not grow with the key count.
func BenchmarkDelete(b *testing.B) {
	for _, n := range []int{1_000, 1_000_000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			var srv *Server
			var auth string
			var keys []string
			i := 0
			for b.Loop() {
				if i == len(keys) { // out of keys: seed afresh, off the clock
					b.StopTimer()
					srv = New(WithSeedKeys(n), WithRateLimit(1<<30, 1<<30, time.Second),
						WithLogLimit(1024))
					auth, keys, i = "Bearer "+issueToken(b, srv, srv.Owner()), srv.Keys(), 0
					b.StartTimer()
				}
				if rec := serve(srv, deleteRequest(srv, auth, keys[i])); rec.Code != 204 {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
				i++
			}
		})
	}
}
