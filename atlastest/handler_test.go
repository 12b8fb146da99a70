package atlastest

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/atlascontract/deleteorgapikey/internal/behavior"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// Situations by their short names in internal/behavior.
const (
	IPNotAllowed = behavior.IPNotAllowed
	NotOwner     = behavior.NotOwner
)

func rowOf(s behavior.Situation) behavior.Answer {
	row, ok := behavior.Lookup(s)
	if !ok {
		panic("no row " + s)
	}
	return row
}

// wantAnswer holds an answer to its row of internal/behavior's table:
// status, content type, exactly the row's headers (the server headers if
// the row has them), the body's keys, errorCode, parameters, and the detail
// filled from the row's template with them. An enveloped answer is held to
// the row of the answer it wraps.
func wantAnswer(t testing.TB, resp *http.Response, body []byte, row behavior.Answer, params ...any) {
	t.Helper()
	fix := fmt.Sprintf("atlastest or the row %s in internal/behavior/behavior.go", row.Situation)
	if row.Situation == behavior.Enveloped { // it keeps the headers of the answer it wraps
		env := decode[struct{ Status int }](t, body)
		if resp.StatusCode != row.Status || resp.Header.Get(behavior.ContentType) != row.ContentType || env.Status == 0 {
			t.Errorf("%s: %d %q %s; fix %s", row.Situation, resp.StatusCode, resp.Header.Get(behavior.ContentType), body, fix)
		}
		return
	}
	if resp.StatusCode == http.StatusOK {
		env := decode[struct {
			Status  int
			Content json.RawMessage
		}](t, body)
		if env.Status != row.Status {
			t.Errorf("%s: enveloped status %d, want %d; fix %s", row.Situation, env.Status, row.Status, fix)
		}
		resp.StatusCode, body = env.Status, env.Content
		resp.Header.Set(behavior.ContentType, row.ContentType)
	}
	if resp.StatusCode != row.Status || resp.Header.Get(behavior.ContentType) != row.ContentType {
		t.Errorf("%s: %d %q, want %d %q; fix %s: %s", row.Situation, resp.StatusCode, resp.Header.Get(behavior.ContentType),
			row.Status, row.ContentType, fix, body)
		return
	}
	known := []string{behavior.WWWAuthenticate, behavior.XErrorCode, behavior.RateLimitLimit, behavior.RateLimitRemaining,
		behavior.RetryAfter}
	for _, h := range append(known, behavior.ServerHeaders()...) {
		want := slices.Contains(row.Headers, h) || row.ServerHeaders && slices.Contains(behavior.ServerHeaders(), h)
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
	fields := decode[map[string]json.RawMessage](t, body)
	wantKeys := []string{"detail", "error", "errorCode", "parameters", "reason"}
	if row.NoParameters {
		wantKeys = slices.DeleteFunc(wantKeys, func(k string) bool { return k == "parameters" })
	}
	e := decode[struct {
		Error     int
		ErrorCode string
		Detail    string
	}](t, body)
	wantParams, _ := json.Marshal(append([]any{}, params...))
	detail := fmt.Sprintf(row.Detail, params...)
	if keys := slices.Sorted(maps.Keys(fields)); !slices.Equal(keys, wantKeys) || e.Error != row.Status ||
		e.ErrorCode != row.ErrorCode || resp.Header.Get(behavior.XErrorCode) != "" && resp.Header.Get(behavior.XErrorCode) != e.ErrorCode ||
		e.Detail != detail || !row.NoParameters && string(fields["parameters"]) != string(wantParams) {
		t.Errorf("%s: body %s\nwant keys %v, errorCode %s, detail %q, parameters %s; fix %s",
			row.Situation, body, wantKeys, row.ErrorCode, detail, wantParams, fix)
	}
}

// TestAnswersFollowTheBehaviorTable drives the server into every situation
// of internal/behavior's table and holds each answer to its row.
func TestAnswersFollowTheBehaviorTable(t *testing.T) {
	srv := NewTestServer(t, WithRateLimit(3, 1, time.Hour))
	org, keys, absent := srv.OrgID(), srv.Keys(), "0123456789abcdef01234567"
	owner := digestClient(t, srv.Owner())
	path := strings.TrimPrefix(opURL(srv, org, keys[3], ""), srv.URL+"/")
	tokenOwner := srv.Owner()
	cases := map[behavior.Situation]func() (*http.Response, []byte, []any){
		behavior.Removed: func() (*http.Response, []byte, []any) {
			resp, body := del(t, owner, opURL(srv, org, keys[0], ""))
			return resp, body, nil
		},
		behavior.KeyNotFound: func() (*http.Response, []byte, []any) {
			resp, body := del(t, owner, opURL(srv, org, absent, ""))
			return resp, body, []any{absent}
		},
		behavior.Unauthenticated: func() (*http.Response, []byte, []any) {
			resp, body := del(t, plain(t), opURL(srv, org, keys[1], ""))
			return resp, body, nil
		},
		behavior.NotOwner: func() (*http.Response, []byte, []any) {
			resp, body := del(t, bearerClient(t, srv, srv.Member()), opURL(srv, org, keys[1], ""))
			return resp, body, nil
		},
		behavior.IPNotAllowed: func() (*http.Response, []byte, []any) {
			srv.SetAccessList(srv.Member(), "192.0.2.0/24")
			defer srv.SetAccessList(srv.Member())
			resp, body := del(t, digestClient(t, srv.Member()), opURL(srv, org, keys[1], ""))
			return resp, body, []any{"127.0.0.1"}
		},
		behavior.OrgNotFound: func() (*http.Response, []byte, []any) {
			resp, body := del(t, owner, opURL(srv, absent, keys[1], ""))
			return resp, body, []any{absent}
		},
		behavior.InvalidVersion: func() (*http.Response, []byte, []any) {
			resp, body := send(t, owner, http.MethodDelete, opURL(srv, org, keys[1], ""), http.Header{"Accept": {"*/*"}})
			return resp, body, nil
		},
		behavior.RateLimited: func() (*http.Response, []byte, []any) {
			del(t, owner, opURL(srv, org, keys[2], ""))
			resp, body := del(t, owner, opURL(srv, org, keys[3], ""))
			return resp, body, []any{path, 3600, 3, 1, 3600}
		},
		behavior.TokenRateLimited: func() (*http.Response, []byte, []any) {
			srv.TokenEndpoint().FailNext(1, http.StatusTooManyRequests)
			resp, body := tokenRequest(t, srv, tokenOwner.ClientID, tokenOwner.ClientSecret, "grant_type=client_credentials")
			return resp, body, []any{contract.TokenPath(), 50, 1}
		},
		behavior.InvalidParameter: func() (*http.Response, []byte, []any) {
			resp, body := del(t, owner, opURL(srv, strings.ToUpper(org), keys[1], ""))
			return resp, body, []any{"orgId"}
		},
		behavior.InvalidFlag: func() (*http.Response, []byte, []any) {
			resp, body := del(t, owner, opURL(srv, org, keys[1], "envelope=true&pretty=maybe"))
			return resp, body, []any{"pretty"}
		},
		behavior.NoSuchResource: func() (*http.Response, []byte, []any) {
			resp, body := send(t, owner, http.MethodGet, opURL(srv, org, keys[1], ""), nil)
			return resp, body, []any{"GET /" + strings.TrimPrefix(opURL(srv, org, keys[1], ""), srv.URL+"/"), contract.MustLoad().Path}
		},
		behavior.ServerError: func() (*http.Response, []byte, []any) {
			srv.FailNext(1, http.StatusInternalServerError)
			resp, body := del(t, owner, opURL(srv, org, keys[1], ""))
			return resp, body, nil
		},
		behavior.Enveloped: func() (*http.Response, []byte, []any) {
			fresh := NewTestServer(t)
			resp, body := del(t, digestClient(t, fresh.Owner()), opURL(fresh, fresh.OrgID(), fresh.Keys()[0], "envelope=true"))
			return resp, body, nil
		},
	}
	for _, row := range behavior.Table() {
		provoke, ok := cases[row.Situation]
		if !ok {
			t.Errorf("%s: no way to drive atlastest into it: add one to this test's cases", row.Situation)
			continue
		}
		resp, body, params := provoke()
		wantAnswer(t, resp, body, row, params...)
	}
}

// TestCheckOrder: when a request has several faults, the first check in
// doc.go's order answers it.
func TestCheckOrder(t *testing.T) {
	srv := NewTestServer(t, WithRateLimit(1, 1, time.Hour))
	org, keys, absent := srv.OrgID(), srv.Keys(), "0123456789abcdef01234567"
	owner, member := digestClient(t, srv.Owner()), bearerClient(t, srv, srv.Member())
	anyAccept := http.Header{"Accept": {"*/*"}}
	for _, c := range []struct {
		name   string
		client *http.Client
		method string
		url    string
		header http.Header
		arm    func()
		want   behavior.Situation
	}{
		{"path before authentication", plain(t), http.MethodGet, opURL(srv, org, keys[0], ""), nil, nil, behavior.NoSuchResource},
		{"unclean path", owner, http.MethodDelete, srv.URL + "/api/atlas/v2/orgs/x/../apiKeys/" + keys[0], nil, nil, behavior.NoSuchResource},
		{"authentication before the rest", plain(t), http.MethodDelete, opURL(srv, "x", "y", "pretty=no"), anyAccept, nil, behavior.Unauthenticated},
		{"flags before ids", owner, http.MethodDelete, opURL(srv, "x", keys[0], "envelope=2"), anyAccept, nil, behavior.InvalidFlag},
		{"ids before Accept", owner, http.MethodDelete, opURL(srv, org, "y", ""), anyAccept, nil, behavior.InvalidParameter},
		{"Accept before faults", owner, http.MethodDelete, opURL(srv, org, keys[0], ""), anyAccept,
			func() { srv.FailNext(1, http.StatusInternalServerError) }, behavior.InvalidVersion},
		{"faults before the organization", owner, http.MethodDelete, opURL(srv, absent, keys[0], ""), nil, nil, behavior.ServerError},
		{"organization before the access list", member, http.MethodDelete, opURL(srv, absent, keys[0], ""), nil,
			func() { srv.SetAccessList(srv.Member(), "192.0.2.1") }, behavior.OrgNotFound},
		{"access list before the role", member, http.MethodDelete, opURL(srv, org, keys[0], ""), nil, nil, behavior.IPNotAllowed},
		{"role before the bucket", member, http.MethodDelete, opURL(srv, org, keys[0], ""), nil,
			func() { srv.SetAccessList(srv.Member()) }, behavior.NotOwner},
		{"trailing slash", owner, http.MethodDelete, opURL(srv, org, keys[0], "") + "/", nil, nil, behavior.NoSuchResource},
		{"the bucket spent by the owner only", owner, http.MethodDelete, opURL(srv, org, keys[0], ""), nil, nil, behavior.Removed},
		{"bucket before the key", owner, http.MethodDelete, opURL(srv, org, absent, ""), nil, nil, behavior.RateLimited},
	} {
		if c.arm != nil {
			c.arm()
		}
		resp, body := send(t, c.client, c.method, c.url, c.header)
		var got struct{ ErrorCode string }
		_ = json.Unmarshal(body, &got)
		if want := rowOf(c.want); resp.StatusCode != want.Status || got.ErrorCode != want.ErrorCode {
			t.Errorf("%s: %d %s, want %s (%d %s): %s", c.name, resp.StatusCode, got.ErrorCode, c.want, want.Status, want.ErrorCode, body)
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
	for _, rec := range recs {
		var resp *http.Response
		var body []byte
		switch rec.Situation {
		case behavior.Removed:
			resp, body = del(t, digestClient(t, srv.Owner()), opURL(srv, srv.OrgID(), srv.Keys()[0], ""))
		case behavior.Unauthenticated:
			resp, body = del(t, plain(t), opURL(srv, srv.OrgID(), srv.Keys()[0], "pretty=false&envelope=true"))
		default:
			continue
		}
		for name, want := range rec.Header {
			got := resp.Header.Values(name)
			switch name {
			case "Date", "X-Envoy-Upstream-Service-Time", "Ratelimit-Remaining":
				want = got[:min(1, len(got))]
			case "Www-Authenticate":
				got, want = []string{nonce.ReplaceAllString(got[0], "N")}, []string{nonce.ReplaceAllString(want[0], "N")}
			}
			if len(got) == 0 || !slices.Equal(got, want) {
				t.Errorf("%s: header %s = %q, Atlas sent %q; fix setServerHeaders in atlastest/handler.go", rec.File, name, got, want)
			}
		}
		if string(body) != string(rec.Body) {
			t.Errorf("%s: body\n%s\nAtlas sent\n%s", rec.File, body, rec.Body)
		}
	}
}

// TestDocumentedHeadersAreSent: every header the spec documents for a
// status is one atlastest sends with that status in some situation.
func TestDocumentedHeadersAreSent(t *testing.T) {
	sent := map[int][]string{} // status -> headers, from the table the server answers by
	for _, row := range behavior.Table() {
		sent[row.Status] = append(sent[row.Status], row.Headers...)
	}
	for code, ref := range contract.MustLoad().Op.Responses.Map() {
		status, _ := strconv.Atoi(code)
		for name := range ref.Value.Headers {
			if !slices.Contains(sent[status], http.CanonicalHeaderKey(name)) {
				t.Errorf("the spec documents header %s on %s, but no row of internal/behavior/behavior.go with that status "+
					"lists it, so atlastest never sends it: add it to a row (TestAnswersFollowTheBehaviorTable then "+
					"holds atlastest to it), or drop it from openapi/deleteorgapikey.yaml", name, code)
			}
		}
	}
}

// TestEveryQueryParameterIsImplemented: each query flag the spec documents
// changes the answer when set, so none is silently ignored.
func TestEveryQueryParameterIsImplemented(t *testing.T) {
	srv := NewTestServer(t)
	owner := digestClient(t, srv.Owner())
	u := opURL(srv, srv.OrgID(), "0123456789abcdef01234567", "")
	_, plainBody := del(t, owner, u)
	for _, p := range contract.MustLoad().Op.Parameters {
		if p.Value.In != "query" {
			continue
		}
		if !p.Value.Schema.Value.Type.Is("boolean") {
			t.Errorf("query parameter %s is not a boolean flag: teach this test and (*exchange).readFlags", p.Value.Name)
			continue
		}
		if _, body := del(t, owner, u+"?"+p.Value.Name+"=true"); string(body) == string(plainBody) {
			t.Errorf("the spec documents query parameter %s, which changes nothing: read it in (*exchange).readFlags "+
				"in atlastest/handler.go", p.Value.Name)
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
		"application/json":                      false,
		"*/*":                                   false,
		"application/vnd.atlas+json":            false,
		"application/vnd.atlas.2022-12-31+json": false,
		"application/vnd.atlas.2023-02-30+json": false,
		"application/vnd.atlas.2023-01-01":      false,
		"application/vnd.atlas.2023-01-01+json;q=0":                             false,
		"application/vnd.atlas.2023-01-01+json; charset":                        false,
		"application/vnd.atlas.2025-03-12+json":                                 true,
		"application/json, application/vnd.atlas.2024-08-05+json;charset=utf-8": true,
		"APPLICATION/VND.ATLAS.2023-01-01+JSON; q=0.5":                          true,
	} {
		want := rowOf(behavior.InvalidVersion).Status
		if ok {
			want = rowOf(behavior.KeyNotFound).Status
		}
		resp, body := send(t, owner, http.MethodDelete, opURL(srv, srv.OrgID(), "0123456789abcdef01234567", ""),
			http.Header{"Accept": {accept}})
		if resp.StatusCode != want {
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
	wantAnswer(t, resp, body, rowOf(NotOwner))

	for _, c := range []struct{ query, accept, want string }{
		{"pretty=true", "", "{\n  \"detail\" : \"No API key with ID " + key + " exists.\",\n  \"error\" : 400,\n" +
			"  \"errorCode\" : \"API_KEY_NOT_FOUND\",\n  \"parameters\" : [ \"" + key + "\" ],\n  \"reason\" : \"Bad Request\"\n}"},
		{"pretty=true&envelope=true", "", "{\n  \"content\" : {\n    \"detail\" : \"No API key with ID " + key +
			" exists.\",\n    \"error\" : 400,\n    \"errorCode\" : \"API_KEY_NOT_FOUND\",\n    \"parameters\" : [ \"" + key +
			"\" ],\n    \"reason\" : \"Bad Request\"\n  },\n  \"status\" : 400\n}"},
		{"pretty=false", "", `{"detail":"No API key with ID ` + key + ` exists.","error":400,` +
			`"errorCode":"API_KEY_NOT_FOUND","parameters":["` + key + `"],"reason":"Bad Request"}`},
		{"pretty=true", "*/*", "{\n  \"detail\" : \"Invalid accept header or version date.\",\n" +
			"  \"error\" : 406,\n  \"errorCode\" : \"INVALID_VERSION_DATE\",\n  \"parameters\" : [ ],\n" +
			"  \"reason\" : \"Not Acceptable\"\n}"},
	} {
		header := http.Header{}
		if c.accept != "" {
			header.Set("Accept", c.accept)
		}
		_, body := send(t, owner, http.MethodDelete, opURL(srv, org, key, c.query), header)
		if string(body) != c.want {
			t.Errorf("%s, Accept %q: body\n%s\nwant\n%s", c.query, c.accept, body, c.want)
		}
	}
	compact := `{"a":[1,"x\",{}",[]],"b":{"c":{}},"d":[{"e":null}]}`
	want := "{\n  \"a\" : [ 1, \"x\\\",{}\", [ ] ],\n  \"b\" : {\n    \"c\" : { }\n  },\n  \"d\" : [ {\n    \"e\" : null\n  } ]\n}"
	if got := string(jackson([]byte(compact))); got != want {
		t.Errorf("jackson(%s) =\n%s\nwant\n%s", compact, got, want)
	}
}

// TestRateLimit: the organization's bucket, as the 429's headers and body
// show it, spent only by authorized requests and refilled with time.
func TestRateLimit(t *testing.T) {
	clk := newClock()
	srv := NewTestServer(t, WithRateLimit(2, 1, time.Minute), WithClock(clk.Now))
	owner, member := digestClient(t, srv.Owner()), digestClient(t, srv.Member())
	keys := srv.Keys()
	for i, c := range []struct {
		client    *http.Client
		status    int
		remaining string
	}{{member, 401, "2"}, {owner, 204, "1"}, {owner, 204, "0"}, {member, 401, "0"}, {owner, 429, "0"}} {
		resp, body := del(t, c.client, opURL(srv, srv.OrgID(), keys[i], ""))
		if resp.StatusCode != c.status || resp.Header.Get("Ratelimit-Limit") != "2" || resp.Header.Get("Ratelimit-Remaining") != c.remaining {
			t.Errorf("request %d: %d %v %s, want %d with %s left", i, resp.StatusCode, resp.Header, body, c.status, c.remaining)
		}
		if c.status == 429 && (resp.Header.Get("Retry-After") != "60" || !srv.HasKey(keys[i])) {
			t.Errorf("429: Retry-After %q, key kept %v", resp.Header.Get("Retry-After"), srv.HasKey(keys[i]))
		}
	}
	clk.Advance(time.Minute)
	resp, body := del(t, owner, opURL(srv, srv.OrgID(), keys[4], ""))
	wantStatus(t, resp, body, http.StatusNoContent)
}

// TestFailNext: each documented error status gets its row, changing
// nothing and not spent by requests that do not authenticate; an injected
// 429 names its Retry-After; any other status panics.
func TestFailNext(t *testing.T) {
	srv := NewTestServer(t)
	owner := bearerClient(t, srv, srv.Owner())
	key := srv.Keys()[0]
	u := opURL(srv, srv.OrgID(), key, "")
	for status, sit := range map[int]behavior.Situation{400: behavior.KeyNotFound, 401: NotOwner, 403: IPNotAllowed,
		404: behavior.OrgNotFound, 406: behavior.InvalidVersion, 429: behavior.RateLimited, 500: behavior.ServerError} {
		srv.FailNext(1, status)
		resp, body := del(t, plain(t), u)
		wantStatus(t, resp, body, http.StatusUnauthorized)
		resp, body = del(t, owner, u)
		var params []any
		switch sit {
		case behavior.KeyNotFound:
			params = []any{key}
		case IPNotAllowed:
			params = []any{"127.0.0.1"}
		case behavior.OrgNotFound:
			params = []any{srv.OrgID()}
		case behavior.RateLimited:
			params = []any{strings.TrimPrefix(u, srv.URL+"/"), 1, 500, 250, 60}
		}
		wantAnswer(t, resp, body, rowOf(sit), params...)
	}
	srv.SetRetryAfter(1500 * time.Millisecond)
	srv.FailNext(1, http.StatusTooManyRequests)
	if resp, _ := del(t, owner, u); resp.Header.Get("Retry-After") != "2" || resp.Header.Get("Ratelimit-Remaining") != "0" {
		t.Errorf("SetRetryAfter(1.5s): headers %v", resp.Header)
	}
	if resp, body := del(t, owner, u); resp.StatusCode != http.StatusNoContent || srv.HasKey(key) {
		t.Errorf("after the faults: %d %s, key kept %v", resp.StatusCode, body, srv.HasKey(key))
	}
	for _, status := range []int{200, 204, 302, 409, 503} {
		if p := panicOf(func() { srv.FailNext(1, status) }); !strings.HasPrefix(fmt.Sprint(p), "atlastest: FailNext") {
			t.Errorf("FailNext(1, %d): panic %v", status, p)
		}
	}
}

// TestDropNext: a dropped delete takes effect, and the client sees a lost
// connection instead of the answer.
func TestDropNext(t *testing.T) {
	srv := NewTestServer(t)
	key := srv.Keys()[0]
	srv.DropNext(1)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodDelete, opURL(srv, srv.OrgID(), key, ""), nil)
	req.Header.Set("Accept", contract.AcceptHeader())
	if _, err := digestClient(t, srv.Owner()).Do(req); err == nil || srv.HasKey(key) {
		t.Errorf("dropped delete: error %v, key kept %v", err, srv.HasKey(key))
	}
	if n := srv.CountRequests(func(r Request) bool { return r.Dropped && r.Status == http.StatusNoContent }); n != 1 {
		t.Errorf("log %+v, want one dropped 204", srv.Requests())
	}
}

// TestLatency runs the handler in-process in a synctest bubble, so the
// latency passes on the bubble's clock. A client that gives up meanwhile
// gets no answer and changes nothing; the token endpoint's latency is its own.
func TestLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := New()
		serve := func(ctx context.Context, req *http.Request) (rec *httptest.ResponseRecorder, took time.Duration) {
			rec, start := httptest.NewRecorder(), time.Now()
			defer func() {
				if p := recover(); p != nil && p != http.ErrAbortHandler {
					panic(p)
				}
				took = time.Since(start)
			}()
			srv.Handler().ServeHTTP(rec, req.WithContext(ctx))
			return rec, 0
		}
		owner := srv.Owner()
		tokenReq := func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, contract.TokenPath(), strings.NewReader("grant_type=client_credentials"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.SetBasicAuth(owner.ClientID, owner.ClientSecret)
			return r
		}
		rec, _ := serve(t.Context(), tokenReq())
		token := decode[struct {
			AccessToken string `json:"access_token"`
		}](t, rec.Body.Bytes()).AccessToken
		deleteReq := func(key string) *http.Request {
			r := httptest.NewRequest(http.MethodDelete, "/api/atlas/v2/orgs/"+srv.OrgID()+"/apiKeys/"+key, nil)
			r.Header.Set("Authorization", "Bearer "+token)
			r.Header.Set("Accept", contract.AcceptHeader())
			return r
		}
		keys := srv.Keys()
		srv.SetLatency(time.Second)
		srv.TokenEndpoint().SetLatency(2 * time.Second)
		for _, c := range []struct {
			req     *http.Request
			timeout time.Duration // the client gives up after it
			status  int
			took    time.Duration
		}{
			{deleteReq(keys[0]), time.Hour, http.StatusNoContent, time.Second},
			{deleteReq(keys[1]), 50 * time.Millisecond, http.StatusOK, 50 * time.Millisecond}, // nothing written
			{tokenReq(), time.Hour, http.StatusOK, 2 * time.Second},
		} {
			ctx, cancel := context.WithTimeout(t.Context(), c.timeout)
			rec, took := serve(ctx, c.req)
			cancel()
			if rec.Code != c.status || took != c.took {
				t.Errorf("%s %s: %d after %v, want %d after %v", c.req.Method, c.req.URL, rec.Code, took, c.status, c.took)
			}
		}
		if !srv.HasKey(keys[1]) || srv.CountRequests(func(r Request) bool { return r.Status == 0 }) != 1 {
			t.Errorf("the abandoned delete: key kept %v, log %+v", srv.HasKey(keys[1]), srv.Requests())
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
					srv = New(WithSeedKeys(n), WithRateLimit(1<<30, 1<<30, time.Second), WithLogLimit(1024))
					o := srv.Owner()
					rec := httptest.NewRecorder()
					req := httptest.NewRequest(http.MethodPost, contract.TokenPath(), strings.NewReader("grant_type=client_credentials"))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.SetBasicAuth(o.ClientID, o.ClientSecret)
					srv.Handler().ServeHTTP(rec, req)
					auth = "Bearer " + decode[struct {
						AccessToken string `json:"access_token"`
					}](b, rec.Body.Bytes()).AccessToken
					keys, i = srv.Keys(), 0
					b.StartTimer()
				}
				req := httptest.NewRequest(http.MethodDelete, "/api/atlas/v2/orgs/"+srv.OrgID()+"/apiKeys/"+keys[i], nil)
				req.Header.Set("Authorization", auth)
				req.Header.Set("Accept", contract.AcceptHeader())
				rec := httptest.NewRecorder()
				srv.Handler().ServeHTTP(rec, req)
				if rec.Code != http.StatusNoContent {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
				i++
			}
		})
	}
}
