package main

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/atlascontract/deleteorgapikey/atlastest"
)

// TestAtlasModeCatchesContractBreaks: an imitation of Atlas that answers
// wrongly makes smoke fail, with a line that says what broke and what the
// server said. One that answers as Atlas may passes.
func TestAtlasModeCatchesContractBreaks(t *testing.T) {
	ref := atlastest.NewTestServer(t)
	// answer answers an authenticated request with status and body, with
	// Atlas's headers, and leaves the challenge to ref.
	answer := func(status int, code, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") == "" {
				ref.Handler().ServeHTTP(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			if code != "" {
				w.Header().Set("X-Error-Code", code)
			}
			w.Header().Set("Ratelimit-Limit", "500")
			w.Header().Set("Ratelimit-Remaining", "499")
			w.WriteHeader(status)
			fmt.Fprint(w, body)
		}
	}
	apiError := func(status int, code string) http.HandlerFunc {
		return answer(status, code, fmt.Sprintf(`{"detail":"No.","error":%d,"errorCode":%q,`+
			`"parameters":["192.0.2.1"],"reason":%q}`, status, code, http.StatusText(status)))
	}
	cases := map[string]struct {
		h    http.HandlerFunc
		pass bool
		want string
	}{
		"404 API_KEY_NOT_FOUND, as Atlas may": {h: apiError(404, "API_KEY_NOT_FOUND"), pass: true},
		"401 NOT_ORG_OWNER, a role error":     {h: apiError(401, "NOT_ORG_OWNER"), pass: true},
		"403 with another code, as upstream":  {h: apiError(403, "ORG_OWNER_REQUIRED"), pass: true},
		"403 IP_ADDRESS_NOT_ON_ACCESS_LIST": {h: apiError(403, "IP_ADDRESS_NOT_ON_ACCESS_LIST"),
			want: `the client said "IP not allowed"`},
		"404 with another code": {h: apiError(404, "RESOURCE_NOT_FOUND"),
			want: "RESOURCE_NOT_FOUND (No.)"},
		"404 without errorCode": {h: answer(404, "", `{"error":404}`)},
		"401 without a challenge": {h: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(401)
			fmt.Fprint(w, `{"error":401,"errorCode":"UNAUTHORIZED"}`)
		}, want: `the client said "", want "Digest"`},
		"400 API_KEY_NOT_FOUND without X-Error-Code": {h: answer(400, "", `{"detail":"No.",`+
			`"error":400,"errorCode":"API_KEY_NOT_FOUND","parameters":[],"reason":"Bad Request"}`),
			want: "no X-Error-Code header"},
		"undocumented 418":             {h: answer(http.StatusTeapot, "", "")},
		"an envelope nobody asked for": {h: answer(200, "", `{"status":"gone"}`)},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			url := (&spy{srv: ref, answer: c.h}).start(t)
			code, out, _ := runSmoke(t, env(atlasEnv(url, ref, ref.Owner(), true)), "-atlas")
			if c.pass {
				if code != exitPass {
					t.Fatalf("exit %d for an Atlas-like answer:\n%s", code, out)
				}
				return
			}
			if code != exitFail || !strings.Contains(out, "FAIL ") ||
				strings.Contains(out, " 0 failed") || !strings.Contains(out, c.want) {
				t.Fatalf("exit %d for a broken server, want a FAIL line with %q:\n%s",
					code, c.want, out)
			}
		})
	}
}

// TestAtlasModeStopsWhenUnreachable: the first scenario names the server it
// cannot reach, and the others do not run.
func TestAtlasModeStopsWhenUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	_ = ln.Close() // nothing listens there now
	srv := atlastest.NewTestServer(t)
	code, out, _ := runSmoke(t, env(atlasEnv(url, srv, srv.Owner(), true)), "-atlas",
		"-delete-key", srv.Keys()[0], "-confirm")
	if code != exitFail || !strings.Contains(out, "cannot reach "+url+": ") ||
		strings.Contains(out, "said") || !strings.Contains(out, "(scenarios not run: 2)") ||
		!strings.HasSuffix(out, "0 passed, 1 failed\n") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}
