package contract_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

const (
	org = "4888442a3354817a7320eb61"
	key = "32b6e34b3d91647abb20e7b8"
)

func TestCheckParam(t *testing.T) {
	cases := []struct {
		name, value string
		ok          bool
	}{
		{"orgId", org, true},
		{"apiUserId", key, true},
		{"orgId", strings.ToUpper(org), false},
		{"orgId", org[:23], false},
		{"orgId", org + "0", false},
		{"apiUserId", "", false},
		{"apiUserId", "..", false},
		{"apiUserId", "../../groups/x", false},
		{"apiUserId", key[:23] + "\x00", false},
		{"apiUserId", key[:23] + "а", false}, // Cyrillic a
		{"apiUserId", key + "\n", false},
		{"envelope", "true", true},
		{"envelope", "false", true},
		{"envelope", "maybe", false},
		{"pretty", "1", false},
		{"pretty", "", false},
		{"nosuch", "x", false},
	}
	for _, c := range cases {
		err := contract.CheckParam(c.name, c.value)
		if (err == nil) != c.ok {
			t.Errorf("CheckParam(%q, %q) = %v, want ok=%v", c.name, c.value, err, c.ok)
			continue
		}
		var pe *contract.ParamError
		if err != nil && (!errors.As(err, &pe) || pe.Name != c.name) {
			t.Errorf("CheckParam(%q, %q) error %#v does not name the parameter", c.name, c.value, err)
		}
	}
}

func TestParamErrorShortensHugeValues(t *testing.T) {
	err := contract.CheckParam("apiUserId", strings.Repeat("a", 10_000))
	if err == nil || len(err.Error()) > 300 {
		t.Fatalf("error %d bytes long: %.100v", len(err.Error()), err)
	}
}

func TestCheckRequest(t *testing.T) {
	base := "/api/atlas/v2/orgs/" + org + "/apiKeys/"
	cases := []struct {
		target string
		param  string // "" when valid
	}{
		{base + key, ""},
		{base + key + "?envelope=true&pretty=false", ""},
		{"/prefix" + base + key, ""}, // a base path before the template is allowed
		{base + key + "?envelope=maybe", "envelope"},
		{base + key + "?pretty=true&pretty=false", "pretty"},
		{base + "..%2F..%2Fgroups%2Fx", "apiUserId"},
		{base + strings.ToUpper(key), "apiUserId"},
		{"/api/atlas/v2/orgs/" + org + "/apiKey/" + key, "path"},
		{base + key + "?envelope=%zz", "query"},
	}
	for _, c := range cases {
		path, query, _ := strings.Cut(c.target, "?")
		r := &http.Request{Method: http.MethodDelete, URL: &url.URL{Path: path, RawQuery: query}}
		if strings.Contains(path, "%") {
			r.URL.Path, _ = url.PathUnescape(path)
			r.URL.RawPath = path
		}
		params, err := contract.CheckRequest(r)
		if c.param == "" {
			if err != nil || params["orgId"] != org || params["apiUserId"] != key {
				t.Errorf("%s: params %v err %v", c.target, params, err)
			}
			continue
		}
		var pe *contract.ParamError
		if !errors.As(err, &pe) || pe.Name != c.param {
			t.Errorf("%s: err %v, want a ParamError naming %s", c.target, err, c.param)
		}
	}
}

func TestCheckResponse(t *testing.T) {
	req := httptest.NewRequest(http.MethodDelete, "/api/atlas/v2/orgs/"+org+"/apiKeys/"+key, nil)
	jsonCT := http.Header{"Content-Type": {"application/json"}}
	cases := []struct {
		name   string
		status int
		header http.Header
		body   string
		ok     bool
	}{
		{"204 bare", 204, http.Header{"Ratelimit-Limit": {"500"}}, "", true},
		{"204 with a body", 204, http.Header{}, `{"x":1}`, false},
		{"204 bad header", 204, http.Header{"Ratelimit-Remaining": {"lots"}}, "", false},
		{"404 valid", 404, jsonCT, `{"error":404,"errorCode":"RESOURCE_NOT_FOUND"}`, true},
		{"404 without errorCode", 404, jsonCT, `{"error":404}`, false},
		{"404 wrong type", 404, jsonCT, `{"error":"404","errorCode":"X"}`, false},
		{"404 wrong content type", 404, http.Header{"Content-Type": {"text/plain"}}, `{"error":404,"errorCode":"X"}`, false},
		{"429 valid", 429, http.Header{"Content-Type": {"application/json"}, "Retry-After": {"3"}}, `{"error":429,"errorCode":"RATE_LIMITED"}`, true},
		{"429 date Retry-After", 429, http.Header{"Content-Type": {"application/json"}, "Retry-After": {"Wed, 21 Oct 2015 07:28:00 GMT"}}, `{"error":429,"errorCode":"RATE_LIMITED"}`, false},
		{"418 undocumented", 418, jsonCT, `{"error":418,"errorCode":"TEAPOT"}`, false},
		{"200 envelope", 200, jsonCT, `{"status":404,"content":{"error":404,"errorCode":"RESOURCE_NOT_FOUND"}}`, true},
		{"200 envelope without status", 200, jsonCT, `{"content":{}}`, false},
		{"200 envelope with trailing bytes", 200, jsonCT, `{"status":100}0`, false},
		{"404 empty body", 404, jsonCT, ``, false},
	}
	for _, c := range cases {
		err := contract.CheckResponse(t.Context(), req, c.status, c.header, []byte(c.body))
		if (err == nil) != c.ok {
			t.Errorf("%s: err %v, want ok=%v", c.name, err, c.ok)
		}
		if want := fmt.Sprintf("response %d breaks the spec", c.status); err != nil && !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: error %q does not begin %q", c.name, err, want)
		}
	}
}

func TestSpecDerivedValues(t *testing.T) {
	if got := contract.AcceptHeader(); got != "application/vnd.atlas.2023-01-01+json" {
		t.Errorf("AcceptHeader = %q", got)
	}
	if contract.TokenPath() != "/api/oauth/token" || contract.RevokePath() != "/api/oauth/revoke" {
		t.Errorf("TokenPath %q RevokePath %q", contract.TokenPath(), contract.RevokePath())
	}
	if got, want := contract.OperationBudget(), (contract.Budget{Capacity: 500, Refill: 250, Period: time.Minute}); got != want {
		t.Errorf("OperationBudget = %+v, want %+v", got, want)
	}
	if got, want := contract.TokenBudget(), (contract.Budget{Capacity: 50, Refill: 50, Period: time.Minute}); got != want {
		t.Errorf("TokenBudget = %+v, want %+v", got, want)
	}
}

func TestCheckRequestRefusesOpaque(t *testing.T) {
	r := httptest.NewRequest(http.MethodDelete, "/api/atlas/v2/orgs/"+org+"/apiKeys/"+key, nil)
	r.URL.Opaque = "//elsewhere/api/atlas/v2/orgs/x/apiKeys/y"
	var pe *contract.ParamError
	if _, err := contract.CheckRequest(r); !errors.As(err, &pe) || pe.Name != "path" {
		t.Fatalf("opaque URL: %v", err)
	}
}

func TestCheckHTTPResponseBounds(t *testing.T) {
	req := httptest.NewRequest(http.MethodDelete, "/api/atlas/v2/orgs/"+org+"/apiKeys/"+key, nil)
	huge := `{"error":404,"errorCode":"X","detail":"` + strings.Repeat("x", contract.MaxBody) + `"}`
	resp := &http.Response{StatusCode: 404, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(huge)), Request: req}
	if err := contract.CheckHTTPResponse(t.Context(), resp); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Errorf("huge body: %v", err)
	}
	resp = &http.Response{StatusCode: 204, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(""))}
	if err := contract.CheckHTTPResponse(t.Context(), resp); err == nil {
		t.Error("no request: no error")
	}
}

// TestAtlasBodiesPass: what real Atlas sends must pass validation. The
// recorded answers in testdata/atlas, and bodies built from what Atlas is
// known to send (parameters null or holding numbers, detail and reason
// null); a body that breaks the schema still fails, so the test can fail.
func TestAtlasBodiesPass(t *testing.T) {
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
		if err := contract.CheckHTTPResponse(t.Context(), resp); err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
		}
	}

	afterAuth := func(code string) http.Header {
		return http.Header{"Content-Type": {"application/json"}, "X-Error-Code": {code}, "Ratelimit-Limit": {"500"}, "Ratelimit-Remaining": {"499"}}
	}
	rateLimited := afterAuth("RATE_LIMITED")
	rateLimited.Set("Retry-After", "60")
	cases := []struct {
		name   string
		status int
		header http.Header
		body   string
		ok     bool
	}{
		{"parameters null", 404, afterAuth("ORG_NOT_FOUND"),
			`{"detail":"No organization with ID ` + org + ` exists.","error":404,"errorCode":"ORG_NOT_FOUND","parameters":null,"reason":"Not Found"}`, true},
		{"parameters with numbers", 429, rateLimited,
			`{"detail":"Resource /api/oauth/token is limited to 50 requests every 1 minutes.","error":429,"errorCode":"RATE_LIMITED","parameters":["/api/oauth/token",50,1],"reason":"Too Many Requests"}`, true},
		{"detail and reason null", 500, afterAuth("UNEXPECTED_ERROR"),
			`{"detail":null,"error":500,"errorCode":"UNEXPECTED_ERROR","parameters":[],"reason":null}`, true},
		{"version refused", 406, http.Header{"Content-Type": {"application/json"}, "X-Error-Code": {"INVALID_VERSION_DATE"}},
			`{"detail":"Invalid accept header or version date.","error":406,"errorCode":"INVALID_VERSION_DATE","parameters":[],"reason":"Not Acceptable"}`, true},
		{"parameters an object", 404, afterAuth("ORG_NOT_FOUND"), `{"error":404,"errorCode":"ORG_NOT_FOUND","parameters":{}}`, false},
		{"errorCode null", 404, afterAuth("ORG_NOT_FOUND"), `{"error":404,"errorCode":null}`, false},
		{"remaining not a number", 400, http.Header{"Content-Type": {"application/json"}, "Ratelimit-Remaining": {"many"}},
			`{"error":400,"errorCode":"API_KEY_NOT_FOUND"}`, false},
	}
	for _, c := range cases {
		err := contract.CheckResponse(t.Context(), req, c.status, c.header, []byte(c.body))
		if (err == nil) != c.ok {
			t.Errorf("%s: err %v, want ok=%v", c.name, err, c.ok)
		}
	}
}
