package contract_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

const (
	org = "4888442a3354817a7320eb61"
	key = "32b6e34b3d91647abb20e7b8"
)

// isID is an independent statement of the spec's ^([a-f0-9]{24})$.
func isID(s string) bool {
	return len(s) == 24 && strings.Trim(s, "0123456789abcdef") == ""
}

func TestCheckParam(t *testing.T) {
	for _, c := range []struct{ name, value string }{
		{"orgId", org}, {"apiUserId", key}, {"orgId", strings.ToUpper(org)}, {"orgId", org[:23]},
		{"orgId", org + "0"}, {"apiUserId", ""}, {"apiUserId", "../../groups/x"},
		{"apiUserId", key[:23] + "\x00"}, {"apiUserId", key[:23] + "а"}, {"apiUserId", key + "\n"},
		{"envelope", "true"}, {"nosuch", key},
	} {
		err := contract.CheckParam(c.name, c.value)
		ok := isID(c.value) && (c.name == "orgId" || c.name == "apiUserId")
		var pe *contract.ParamError
		if (err == nil) != ok || err != nil && (!errors.As(err, &pe) || pe.Name != c.name) {
			t.Errorf("CheckParam(%q, %q) = %v, want ok=%v or a *ParamError naming it",
				c.name, c.value, err, ok)
		}
	}
}

func FuzzCheckParam(f *testing.F) {
	for _, s := range []string{org, "", "..", "%2F", strings.ToUpper(org), org[:23] + "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if err := contract.CheckParam("apiUserId", s); (err == nil) != isID(s) {
			t.Fatalf("CheckParam(apiUserId, %q) = %v, but isID = %v", s, err, isID(s))
		}
	})
}

func TestMatchPath(t *testing.T) {
	base := "/api/atlas/v2/orgs/" + org + "/apiKeys/"
	for path, want := range map[string]string{
		base + key:                  key,
		"/prefix" + base + key:      key, // a base path before the template
		base + "..%2Fx":             "../x",
		base + "%zz":                "",
		base + key + "/":            "",
		"/api/atlas/v2/orgs/" + org: "",
		"/api/atlas/v2/orgs/" + org + "/apikeys/" + key: "",
	} {
		params, err := contract.MatchPath(path)
		matched := err == nil && params["orgId"] == org
		if params["apiUserId"] != want || matched != (want != "") {
			t.Errorf("MatchPath(%q) = %v, %v; want apiUserId %q", path, params, err, want)
		}
	}
}

func TestSpecValues(t *testing.T) {
	for got, want := range map[string]string{
		contract.APIVersion():                       "2023-01-01",
		contract.AcceptHeader():                     "application/vnd.atlas.2023-01-01+json",
		contract.TokenPath():                        "/api/oauth/token",
		contract.RevokePath():                       "/api/oauth/revoke",
		strings.Join(contract.RequiredRoles(), ","): "Organization Owner",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	if got, want := contract.OperationBudget(), (contract.Budget{500, 250, 60e9}); got != want {
		t.Errorf("OperationBudget = %+v, want %+v", got, want)
	}
	if got, want := contract.TokenBudget(), (contract.Budget{50, 50, time.Minute}); got != want {
		t.Errorf("TokenBudget = %+v, want %+v", got, want)
	}
}

func response(req *http.Request, status int, header http.Header, text string) *http.Response {
	body := io.NopCloser(strings.NewReader(text))
	return &http.Response{StatusCode: status, Header: header, Body: body, Request: req}
}

// TestCheckResponse: documented statuses, headers and bodies pass, as do
// the bodies Atlas is known to send (parameters null or holding numbers,
// detail and reason null); what breaks the spec fails, saying so.
func TestCheckResponse(t *testing.T) {
	req := httptest.NewRequest(http.MethodDelete, "/api/atlas/v2/orgs/"+org+"/apiKeys/"+key, nil)
	other := httptest.NewRequest(http.MethodGet, "/api/atlas/v2/orgs/"+org, nil)
	jsonCT := func(kv ...string) http.Header {
		h := http.Header{"Content-Type": {"application/json"}}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	versioned := http.Header{"Content-Type": {contract.AcceptHeader() + ";charset=utf-8"}}
	for _, c := range []struct {
		name   string
		req    *http.Request
		status int
		header http.Header
		body   string
		ok     bool
	}{
		{"204", req, 204, versioned, "", true},
		{"204 with a body", req, 204, versioned, `{}`, false},
		{"204, bad header", req, 204, http.Header{"Ratelimit-Remaining": {"lots"}}, "", false},
		{"parameters null", req, 404, jsonCT("X-Error-Code", "ORG_NOT_FOUND"),
			`{"detail":"No org.","error":404,"errorCode":"X","parameters":null}`, true},
		{"parameters with numbers", req, 429, jsonCT("Retry-After", "60"),
			`{"error":429,"errorCode":"X","parameters":["api/x",1,500,250,60]}`, true},
		{"detail and reason null", req, 500, jsonCT(),
			`{"detail":null,"error":500,"errorCode":"UNEXPECTED_ERROR","reason":null}`, true},
		{"envelope", req, 200, jsonCT(), `{"status":404,"content":{"errorCode":"X"}}`, true},
		{"envelope without status", req, 200, jsonCT(), `{"content":{}}`, false},
		{"trailing bytes", req, 200, jsonCT(), `{"status":204}0`, false},
		{"no body", req, 404, jsonCT(), ``, false},
		{"no errorCode", req, 404, jsonCT(), `{"error":404}`, false},
		{"params {}", req, 404, jsonCT(), `{"error":404,"errorCode":"X","parameters":{}}`, false},
		{"text/plain", req, 404, http.Header{"Content-Type": {"text/plain"}},
			`{"error":404,"errorCode":"X"}`, false},
		{"Retry-After a date", req, 429, jsonCT("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"),
			`{"error":429,"errorCode":"X"}`, false},
		{"undocumented status", req, 418, jsonCT(), `{"error":418,"errorCode":"TEAPOT"}`, false},
		{"another request", other, 404, jsonCT(), `{"error":404,"errorCode":"X"}`, false},
		{"no request", nil, 204, versioned, "", false},
		{"huge", req, 404, jsonCT(), `{"error":404,"errorCode":"X","detail":"` +
			strings.Repeat("x", contract.MaxBody) + `"}`, false},
	} {
		resp := response(c.req, c.status, c.header, c.body)
		err := contract.CheckResponse(t.Context(), resp)
		if (err == nil) != c.ok || err != nil && !strings.HasPrefix(err.Error(), "response ") {
			t.Errorf("%s: %v, want ok=%v", c.name, err, c.ok)
		}
		if rest, _ := io.ReadAll(resp.Body); c.ok && string(rest) != c.body {
			t.Errorf("%s: body not restored: %q", c.name, rest)
		}
	}
	broken := response(req, 404, jsonCT(), "")
	broken.Body = io.NopCloser(io.MultiReader(strings.NewReader("{"), iotest{}))
	err := contract.CheckResponse(t.Context(), broken)
	if err == nil || !strings.Contains(err.Error(), "read body") {
		t.Errorf("a body that fails to read: %v", err)
	}
}

type iotest struct{}

func (iotest) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

// TestRecordedAnswersPass: what real Atlas sent (testdata/atlas) fits the spec.
func TestRecordedAnswersPass(t *testing.T) {
	req := httptest.NewRequest(http.MethodDelete, "/api/atlas/v2/orgs/"+org+"/apiKeys/"+key, nil)
	files, err := filepath.Glob("../../testdata/atlas/*.http")
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded answers: %v", err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), req)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := contract.CheckResponse(t.Context(), resp); err != nil {
			t.Errorf("%s: %v; fix openapi/deleteorgapikey.yaml: Atlas sent it", filepath.Base(f),
				err)
		}
	}
	if !slices.Contains(files, "../../testdata/atlas/removed.http") {
		t.Error("no recorded 204")
	}
}
