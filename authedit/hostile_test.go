package authedit_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/authedit"
	"github.com/atlascontract/deleteorgapikey/gen"
)

// hostileIDs are ids beyond badIDs (validate_test.go): control bytes,
// Unicode look-alikes, escapes, long strings. v is a valid id they start from.
func hostileIDs(v string) map[string]string {
	fullwidth := strings.Map(func(r rune) rune {
		if '0' <= r && r <= '9' {
			return r - '0' + '０'
		}
		return r
	}, v)
	return map[string]string{
		"NUL appended":                  v + "\x00",
		"NUL inside, 24 bytes":          v[:23] + "\x00",
		"escaped NUL":                   v[:21] + "%00",
		"leading slash":                 "/" + v[1:],
		"trailing slash":                v[:23] + "/",
		"only a slash":                  "/",
		"escaped dot dot":               "%2e%2e",
		"double-escaped dot dot":        "%252e%252e",
		"overlong UTF-8 dot dot":        "\xc0\xae\xc0\xae",
		"backslash traversal":           `..\..\` + v,
		"dot slash":                     "./" + v,
		"lower-case escaped slash":      "%2f",
		"Cyrillic a, 24 runes":          v[:23] + "а",
		"Cyrillic look-alike letters":   strings.NewReplacer("a", "а", "c", "с", "e", "е", "d", "ԁ").Replace(v),
		"fullwidth digits":              fullwidth,
		"Arabic-Indic digit":            v[:23] + "٠",
		"zero-width space":              v + "\u200b",
		"byte-order mark":               "\ufeff" + v,
		"combining accent":              v[:23] + "a\u0301",
		"invalid UTF-8":                 v[:23] + "\xff",
		"10 KB of letters":              strings.Repeat("a", 10<<10),
		"10 KB of hex ids":              strings.Repeat(v, 10<<10/24+1),
		"100 KB of hex digits":          strings.Repeat("0", 100<<10),
		"leading space":                 " " + v[1:],
		"padded with spaces":            " " + v + " ",
		"tab":                           v[:23] + "\t",
		"CRLF header injection":         v[:20] + "\r\nX-Injected: 1",
		"0x prefix":                     "0x" + v[:22],
		"negative":                      "-" + v[1:],
		"plus":                          v[:23] + "+",
		"one upper-case digit":          v[:23] + "F",
		"fragment":                      v[:23] + "#",
		"semicolon":                     v + ";x=1",
		"lone percent":                  v[:23] + "%",
		"bad escape":                    "%zz" + v[3:],
		"absolute URL":                  "http://evil.example/" + v,
		"userinfo":                      "@evil.example",
		"query with flags":              v + "?envelope=true",
		"escaped id (decodes to valid)": escapeAll(v),
	}
}

// escapeAll percent-encodes every byte of s.
func escapeAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, "%%%02X", s[i])
	}
	return b.String()
}

// TestHostileIDsSendNothing: the client refuses every hostile id, in either
// position, through both methods and both kinds of credentials, with a
// *ParamError naming the parameter, before any I/O: the reference server
// sees no request at all, token requests included.
func TestHostileIDsSendNothing(t *testing.T) {
	srv := atlastest.NewTestServer(t)
	org, key := srv.OrgID(), srv.Keys()[0]
	type call struct{ param, name, org, key string }
	var table []call
	for name, bad := range hostileIDs(org) {
		table = append(table, call{"orgId", name, bad, key})
	}
	for name, bad := range hostileIDs(key) {
		table = append(table, call{"apiUserId", name, org, bad})
	}
	calls := 0
	for _, creds := range []authedit.Credentials{srv.Owner().APIKey(), srv.Owner().ServiceAccount()} {
		c, err := authedit.NewClient(srv.URL, creds)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range table {
			if tc.org == org && tc.key == key {
				t.Fatalf("%s: the ids are valid", tc.name)
			}
			_, err1 := c.DeleteOrgApiKey(t.Context(), tc.org, tc.key, nil)
			_, err2 := c.DeleteOrgApiKeyWithResponse(t.Context(), tc.org, tc.key, &gen.DeleteOrgApiKeyParams{})
			calls += 2
			for _, err := range []error{err1, err2} {
				var pe *authedit.ParamError
				switch {
				case !errors.As(err, &pe):
					t.Errorf("%s %s %s: err = %v, want *ParamError", scheme(creds), tc.param, tc.name, err)
				case pe.In != "path" || pe.Name != tc.param:
					t.Errorf("%s %s %s: ParamError names %s %s", scheme(creds), tc.param, tc.name, pe.In, pe.Name)
				case len(err.Error()) > 512:
					t.Errorf("%s %s %s: %d-byte error: the value is echoed whole", scheme(creds), tc.param, tc.name, len(err.Error()))
				}
			}
		}
	}
	if calls < 4*30 {
		t.Fatalf("only %d calls", calls)
	}
	if reqs := srv.Requests(); len(reqs) != 0 {
		t.Errorf("server saw %d requests (token requests included), want 0: %+v", len(reqs), reqs[:min(len(reqs), 5)])
	}
	if len(srv.Keys()) != 5 {
		t.Errorf("keys %v", srv.Keys())
	}
}

// TestHostileFlagsFromEditorsSendNothing: flags are typed booleans in the
// client's API, but a caller's editor can still rewrite the query or the
// path after the typed check; the client validates the built request last
// and sends nothing.
func TestHostileFlagsFromEditorsSendNothing(t *testing.T) {
	srv := atlastest.NewTestServer(t)
	org, key := srv.OrgID(), srv.Keys()[0]
	yes := true
	setQuery := func(q string) gen.RequestEditorFn {
		return func(_ context.Context, req *http.Request) error {
			req.URL.RawQuery = q
			return nil
		}
	}
	appendQuery := func(q string) gen.RequestEditorFn {
		return func(_ context.Context, req *http.Request) error {
			req.URL.RawQuery += "&" + q
			return nil
		}
	}
	cases := []struct {
		name   string
		params *gen.DeleteOrgApiKeyParams
		edit   gen.RequestEditorFn
		field  string
	}{
		{"envelope=maybe", nil, setQuery("envelope=maybe"), "envelope"},
		{"envelope upper case", nil, setQuery("envelope=TRUE"), "envelope"},
		{"envelope empty", nil, setQuery("envelope="), "envelope"},
		{"envelope escaped NUL", nil, setQuery("envelope=%00"), "envelope"},
		{"envelope repeated by the editor", &gen.DeleteOrgApiKeyParams{Envelope: &yes}, appendQuery("envelope=false"), "envelope"},
		{"envelope repeated, same value", &gen.DeleteOrgApiKeyParams{Envelope: &yes}, appendQuery("envelope=true"), "envelope"},
		{"pretty empty", nil, setQuery("pretty="), "pretty"},
		{"pretty Cyrillic e", nil, setQuery("pretty=tru%D0%B5"), "pretty"},
		{"pretty 10 KB", nil, setQuery("pretty=" + strings.Repeat("t", 10<<10)), "pretty"},
		{"bad escape", &gen.DeleteOrgApiKeyParams{Pretty: &yes}, appendQuery("%zz"), "query"},
		{"escaped NUL in the path", nil, func(_ context.Context, req *http.Request) error {
			req.URL.RawPath = strings.Replace(req.URL.EscapedPath(), key, key[:21]+"%00", 1)
			req.URL.Path = strings.Replace(req.URL.Path, key, key[:21]+"\x00", 1)
			return nil
		}, "apiUserId"},
	}
	for _, creds := range []authedit.Credentials{srv.Owner().APIKey(), srv.Owner().ServiceAccount()} {
		c, err := authedit.NewClient(srv.URL, creds)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range cases {
			_, err := c.DeleteOrgApiKeyWithResponse(t.Context(), org, key, tc.params, tc.edit)
			var pe *authedit.ParamError
			if !errors.As(err, &pe) || pe.Name != tc.field {
				t.Errorf("%s %s: err = %v, want *ParamError naming %s", scheme(creds), tc.name, err, tc.field)
			}
		}
	}
	if reqs := srv.Requests(); len(reqs) != 0 {
		t.Errorf("server saw %d requests, want 0: %+v", len(reqs), reqs)
	}
}
