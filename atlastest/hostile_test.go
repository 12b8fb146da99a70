package atlastest_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/gen"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// rawDo writes one request byte for byte on a fresh connection, so that
// targets no Go client would send (raw NUL, raw UTF-8, bad escapes) reach
// the server as written. It returns the response with its body read and
// restored; resp.Request is the request as net/http parses the same bytes,
// or nil if net/http cannot parse them.
func rawDo(t testing.TB, srv *atlastest.Server, method, target string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nAccept: %s\r\nConnection: close\r\n",
		method, target, strings.TrimPrefix(srv.URL, "http://"), contract.AcceptHeader())
	for k, vs := range header {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
	wire := b.Bytes()
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(wire)))
	if err != nil {
		req = nil
	}

	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(wire); err != nil {
		t.Fatalf("%s %.80q: write: %v", method, target, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatalf("%s %.80q: read response: %v", method, target, err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatalf("%s %.80q: read body: %v", method, target, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, body
}

// snapshot is the server state a refused request must leave alone: every
// organization's keys and every key's projects.
func snapshot(srv *atlastest.Server, orgs ...string) map[string][]string {
	out := map[string][]string{}
	for _, o := range orgs {
		keys := srv.OrgKeys(o)
		out["org "+o] = keys
		for _, k := range keys {
			out["key "+k] = srv.KeyProjects(k)
		}
	}
	return out
}

func sameState(t *testing.T, before, after map[string][]string) {
	t.Helper()
	if !maps.EqualFunc(before, after, slices.Equal[[]string]) {
		t.Errorf("state changed:\nbefore %v\nafter  %v", before, after)
	}
}

// outcome is what the server must answer a hostile request with.
type outcome int

const (
	badParam  outcome = iota // 400 VALIDATION_ERROR naming the parameter
	wrongPath                // 404 RESOURCE_NOT_FOUND: the path no longer fits the template
	netHTTP                  // net/http's own plain 400: the request line does not parse (doc.go)
)

// hostileIDs replace one path id, as it appears on the request line; v is
// the valid id being replaced.
func hostileIDs(v string) []struct {
	name, seg string
	want      outcome
} {
	return []struct {
		name, seg string
		want      outcome
	}{
		{"23 digits", v[:23], badParam},
		{"25 digits", v + "0", badParam},
		{"upper case", strings.ToUpper(v), badParam},
		{"one upper-case digit", v[:23] + "A", badParam},
		{"non-hex letter", v[:23] + "g", badParam},
		{"0x prefix", "0x" + v[:22], badParam},
		{"negative", "-" + v[1:], badParam},
		{"empty", "", badParam},
		{"dot", ".", badParam},
		{"dot dot", "..", badParam},
		{"escaped dot dot", "%2e%2E", badParam},
		{"double-escaped dot dot", "%252e%252e", badParam},
		{"overlong UTF-8 dot dot", "%C0%AE%C0%AE", badParam},
		{"escaped slash", "%2F", badParam},
		{"escaped traversal", "..%2f..%2fgroups%2f" + v, badParam},
		{"escaped backslash traversal", "..%5C..%5C" + v, badParam},
		{"raw slash", v[:12] + "/" + v[12:], wrongPath},
		{"escaped NUL, 24 bytes decoded", v[:23] + "%00", badParam},
		{"escaped NUL appended", v + "%00", badParam},
		{"raw NUL", v[:23] + "\x00", netHTTP},
		{"Cyrillic a raw", v[:23] + "а", badParam},
		{"Cyrillic a escaped", v[:23] + "%D0%B0", badParam},
		{"fullwidth digits raw", v[:22] + "０１", badParam},
		{"fullwidth digit escaped", v[:23] + "%EF%BC%90", badParam},
		{"Arabic-Indic digit", v[:23] + "٠", badParam},
		{"zero-width space", v + "%E2%80%8B", badParam},
		{"escaped space", v[:23] + "%20", badParam},
		{"escaped tab", "%09" + v[1:], badParam},
		{"escaped CRLF, 24 bytes decoded", v[:22] + "%0D%0A", badParam},
		{"plus", v[:23] + "+", badParam},
		{"escaped question mark", v[:23] + "%3F", badParam},
		{"escaped hash", v[:23] + "%23", badParam},
		{"matrix parameter", v + ";x=1", badParam},
		{"10 KB of letters", strings.Repeat("a", 10<<10), badParam},
		{"10 KB of hex ids", strings.Repeat(v, 10<<10/24+1), badParam},
		{"bad escape", v[:22] + "%zz", netHTTP},
		{"truncated escape", v[:23] + "%", netHTTP},
	}
}

// hostileFlags are raw queries on an otherwise valid request; field is the
// parameter the 400 must name ("query" when the query does not decode).
var hostileFlags = []struct{ name, query, field string }{
	{"envelope=maybe", "envelope=maybe", "envelope"},
	{"envelope upper case", "envelope=TRUE", "envelope"},
	{"envelope=1", "envelope=1", "envelope"},
	{"envelope empty", "envelope=", "envelope"},
	{"envelope without value", "envelope", "envelope"},
	{"envelope repeated, conflicting", "envelope=true&envelope=false", "envelope"},
	{"envelope repeated, same", "envelope=true&envelope=true", "envelope"},
	{"envelope escaped NUL", "envelope=%00", "envelope"},
	{"envelope true then NUL", "envelope=true%00", "envelope"},
	{"envelope escaped trailing space", "envelope=%74%72%75%65%20", "envelope"},
	{"envelope Cyrillic e", "envelope=tru%D0%B5", "envelope"},
	{"envelope 10 KB", "envelope=" + strings.Repeat("t", 10<<10), "envelope"},
	{"envelope bad, pretty fine", "pretty=true&envelope=yes", "envelope"},
	{"pretty empty", "pretty=", "pretty"},
	{"pretty=maybe", "pretty=maybe", "pretty"},
	{"pretty repeated", "pretty=false&pretty=false", "pretty"},
	{"pretty with hash", "pretty=true#frag", "pretty"},
	{"pretty fullwidth", "pretty=%EF%BD%94rue", "pretty"},
	{"bad escape in query", "pretty=%zz", "query"},
	{"semicolon separator", "pretty=true;envelope=true", "query"},
}

// TestHostileInputs sends hostile ids and flags to the server on raw
// connections. Each is sent three times: with a valid owner token (so a 400
// comes from validation, not authentication), without credentials (the
// same answer: validation runs before authentication) and as GET (404: the
// method is checked before the ids). Every answer must be the documented
// 4xx with a valid ApiError, nothing may change, and neither the armed
// fault nor the organization's rate limit may be spent: both come after
// authentication in doc.go's order.
func TestHostileInputs(t *testing.T) {
	srv := atlastest.NewServer(atlastest.WithOrgs(2), atlastest.WithRateLimit(3, 1, time.Hour))
	defer srv.Close()
	org, key := srv.OrgID(), srv.Keys()[0]
	other, _, _ := srv.OtherOrg()
	before := snapshot(srv, org, other)
	token := fetchToken(t, srv, srv.Owner().ClientID, srv.Owner().ClientSecret)
	srv.FailNext(1, http.StatusInternalServerError)
	srv.ResetRequests()

	type attempt struct {
		name, method, target string
		auth                 bool
		status               int
		code, field          string // field only for 400 VALIDATION_ERROR
	}
	var attempts []attempt
	add := func(name, target string, want outcome, field string) {
		status, code := http.StatusBadRequest, "VALIDATION_ERROR"
		get := attempt{name + "/GET", http.MethodGet, target, true, http.StatusNotFound, "RESOURCE_NOT_FOUND", ""}
		switch want {
		case wrongPath:
			status, code, field = http.StatusNotFound, "RESOURCE_NOT_FOUND", ""
		case netHTTP:
			code, field = "", ""
			get.status, get.code = http.StatusBadRequest, ""
		}
		attempts = append(attempts,
			attempt{name + "/owner token", http.MethodDelete, target, true, status, code, field},
			attempt{name + "/no credentials", http.MethodDelete, target, false, status, code, field},
			get,
		)
	}
	base := "/api/atlas/v2/orgs/"
	ids := 0
	for _, c := range hostileIDs(org) {
		add("orgId "+c.name, base+c.seg+"/apiKeys/"+key, c.want, "orgId")
		ids++
	}
	for _, c := range hostileIDs(key) {
		add("apiUserId "+c.name, base+org+"/apiKeys/"+c.seg, c.want, "apiUserId")
		ids++
	}
	for _, c := range hostileFlags {
		add(c.name, base+org+"/apiKeys/"+key+"?"+c.query, badParam, c.field)
	}
	t.Logf("%d id cases, %d flag cases, %d requests", ids, len(hostileFlags), len(attempts))

	handled := 0
	for _, a := range attempts {
		h := http.Header{}
		if a.auth {
			h.Set("Authorization", "Bearer "+token)
		}
		resp, body := rawDo(t, srv, a.method, a.target, h)
		if resp.StatusCode != a.status {
			t.Errorf("%s: status %d, want %d: %.300s", a.name, resp.StatusCode, a.status, body)
			continue
		}
		if a.code == "" { // refused by net/http before the handler: not JSON, not logged
			if resp.Request != nil || json.Valid(body) {
				t.Errorf("%s: want net/http's own 400 for a request line it cannot parse, got %q", a.name, body)
			}
			continue
		}
		handled++
		if resp.Request == nil {
			t.Fatalf("%s: the server answered a request net/http cannot parse", a.name)
		}
		checkResponse(t, resp) // the spec for the operation's path, the ApiError shape for any path
		var e gen.ApiError
		if err := json.Unmarshal(body, &e); err != nil || e.ErrorCode != a.code {
			t.Errorf("%s: errorCode %q, want %s: %.300s", a.name, e.ErrorCode, a.code, body)
			continue
		}
		if a.field != "" {
			if e.BadRequestDetail == nil || e.BadRequestDetail.Fields == nil || len(*e.BadRequestDetail.Fields) != 1 || (*e.BadRequestDetail.Fields)[0].Field != a.field {
				t.Errorf("%s: want badRequestDetail naming %s: %.300s", a.name, a.field, body)
			}
		}
		if len(body) > 2<<10 {
			t.Errorf("%s: %d-byte answer: the offending value is echoed unbounded", a.name, len(body))
		}
		if resp.Header.Get("WWW-Authenticate") != "" || resp.Header.Get("RateLimit-Limit") != "" {
			t.Errorf("%s: a validation answer carries auth or rate-limit headers: %v", a.name, resp.Header)
		}
	}

	sameState(t, before, snapshot(srv, org, other))
	log := srv.Requests()
	if len(log) != handled {
		t.Errorf("request log has %d entries, want %d (one per request the handler saw)", len(log), handled)
	}
	for _, r := range log {
		if r.Status < 400 || r.Status >= 500 {
			t.Errorf("logged %+v: want a 4xx", r)
		}
	}

	// Neither the armed fault nor a rate-limit token was spent above.
	client := bearerClient(t, token)
	resp, body := del(t, client, opURL(srv, org, key, ""))
	wantStatus(t, resp, body, http.StatusInternalServerError)
	resp, body = del(t, client, opURL(srv, org, key, ""))
	wantStatus(t, resp, body, http.StatusNoContent)
	if got := resp.Header.Get("RateLimit-Remaining"); got != strconv.Itoa(3-1) {
		t.Errorf("RateLimit-Remaining %q after the first real delete, want 2: refused requests spent the bucket", got)
	}
}

// TestWhatNetHTTPAnswersFirst: requests net/http answers itself, before the
// handler (doc.go): 505 for an HTTP version it does not serve, 501 for a
// Transfer-Encoding it does not know, 200 for OPTIONS *. None reaches the
// handler, so none is logged and nothing changes.
func TestWhatNetHTTPAnswersFirst(t *testing.T) {
	srv := atlastest.NewServer()
	defer srv.Close()
	before := snapshot(srv, srv.OrgID())
	host := strings.TrimPrefix(srv.URL, "http://")
	target := "/api/atlas/v2/orgs/" + srv.OrgID() + "/apiKeys/" + srv.Keys()[0]
	for _, c := range []struct {
		name, wire string
		status     int
	}{
		{"HTTP/2.0 without the preface", "DELETE " + target + " HTTP/2.0\r\nHost: " + host + "\r\n\r\n", http.StatusHTTPVersionNotSupported},
		{"HTTP/3.0", "DELETE " + target + " HTTP/3.0\r\nHost: " + host + "\r\n\r\n", http.StatusHTTPVersionNotSupported},
		{"Transfer-Encoding: gzip", "DELETE " + target + " HTTP/1.1\r\nHost: " + host + "\r\nTransfer-Encoding: gzip\r\n\r\n", http.StatusNotImplemented},
		{"OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n", http.StatusOK},
	} {
		conn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second)) // a bound on a hung server, not a timing bet
		if _, err := conn.Write([]byte(c.wire)); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		conn.Close()
		if resp.StatusCode != c.status || json.Valid(body) && len(body) > 0 {
			t.Errorf("%s: %d %q, want net/http's own %d", c.name, resp.StatusCode, body, c.status)
		}
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("the handler saw %d of these requests", n)
	}
	sameState(t, before, snapshot(srv, srv.OrgID()))
}
