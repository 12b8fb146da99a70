package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atlascontract/deleteorgapikey/internal/behavior"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// ctl sends method route (under controlUrl) with body and decodes the JSON
// answer into out, if not nil; it returns the status.
func ctl(t *testing.T, a announcement, method, route, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), method, a.ControlURL+route,
		strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %d, %v", method, route, resp.StatusCode, err)
		}
	}
	return resp.StatusCode
}

// TestControlDrivesTheServer scripts faults, adds and finds keys, and reads
// and resets the log, which -v writes too, as requests arrive.
func TestControlDrivesTheServer(t *testing.T) {
	a, stop := startServe(t, "-v")
	script := func(endpoint, body string) {
		if got := ctl(t, a, "POST", "/faults/"+endpoint, body, nil); got != http.StatusNoContent {
			t.Fatalf("faults/%s %s: %d", endpoint, body, got)
		}
	}
	var key, lost struct{ ID string }
	exists := func(id string) (got struct{ Exists bool }) {
		ctl(t, a, "GET", "/keys/"+id, "", &got)
		return got
	}
	script("token", `{"failNext": {"count": 1, "status": 500}}`)
	if resp, err := http.PostForm(a.TokenURL, nil); err != nil || resp.StatusCode != 401 {
		t.Fatalf("no credentials: %v, %v, want the 401, not the scripted 500", resp, err)
	}
	if token(t, a, a.Owner) != "" {
		t.Fatal("the scripted 500 issued a token")
	}
	tok := token(t, a, a.Owner)
	if got := ctl(t, a, "POST", "/keys", "", &key); got != 201 || !exists(key.ID).Exists {
		t.Fatalf("POST keys: %d, %q", got, key.ID)
	}
	script("operation", `{"failNext": {"count": 1, "status": 429}, "retryAfterSeconds": 7}`)
	limited, _ := behavior.Lookup(behavior.RateLimited)
	resp, err := remove(t, a, tok, key.ID)
	if err != nil || resp.StatusCode != limited.Status || resp.Header.Get("Retry-After") != "7" {
		t.Fatalf("scripted 429: %v, %v", resp, err)
	}
	resp, err = remove(t, a, tok, key.ID)
	if err != nil || resp.StatusCode != 204 || exists(key.ID).Exists {
		t.Fatalf("after the 429: %v, %v", resp, err)
	}
	ipNotAllowed, _ := behavior.Lookup(behavior.IPNotAllowed)
	for _, cidrs := range []string{`["192.0.2.0/24"]`, `[]`} {
		if got := ctl(t, a, "POST", "/access-list/owner", `{"cidrs": `+cidrs+`}`, nil); got != 204 {
			t.Fatalf("access-list/owner %s: %d", cidrs, got)
		}
		if cidrs == `[]` {
			break
		}
		resp, err := remove(t, a, tok, a.Keys[0])
		if err != nil || resp.StatusCode != ipNotAllowed.Status {
			t.Fatalf("the owner outside its access list: %v, %v", resp, err)
		}
	}
	ctl(t, a, "POST", "/keys", "", &lost)
	script("operation", `{"dropNext": 1, "latencySeconds": 0}`)
	if _, err := remove(t, a, tok, lost.ID); err == nil || exists(lost.ID).Exists {
		t.Fatalf("dropped answer: %v; the key is still there: %v", err, exists(lost.ID))
	}

	var log struct{ Requests []logEntry }
	ctl(t, a, "GET", "/requests", "", &log)
	tp, del := contract.TokenPath(), keyPath(a, key.ID)
	want := fmt.Sprint([]logEntry{{"POST", tp, "none", "", 401, false, false},
		{"POST", tp, "basic", "owner", 500, false, false},
		{"POST", tp, "basic", "owner", 200, false, true},
		{"DELETE", del, "bearer", "owner", limited.Status, false, false},
		{"DELETE", del, "bearer", "owner", 204, false, false},
		{"DELETE", keyPath(a, a.Keys[0]), "bearer", "owner", ipNotAllowed.Status, false, false},
		{"DELETE", keyPath(a, lost.ID), "bearer", "owner", 204, true, false}})
	got := ctl(t, a, "DELETE", "/requests", "", nil)
	if fmt.Sprint(log.Requests) != want || got != 204 {
		t.Errorf("DELETE requests: %d; log:\n%v\nwant\n%v", got, log.Requests, want)
	}
	ctl(t, a, "GET", "/requests", "", &log)
	code, errOut := stop()
	var logged []logEntry
	for dec := json.NewDecoder(strings.NewReader(errOut)); dec.More(); {
		var e logEntry
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("-v: %v\n%s", err, errOut)
		}
		logged = append(logged, e)
	}
	if code != exitPass || len(log.Requests) != 0 || fmt.Sprint(logged) != want {
		t.Errorf("exit %d; log after the reset %v; -v wrote\n%v\nwant\n%v", code, log.Requests,
			logged, want)
	}
	if found := leaks(errOut, []string{tok, a.Owner.ClientSecret}); len(found) > 0 {
		t.Errorf("-v wrote %v", found)
	}
}

// TestControlRefusesMalformedRequests: each gets a JSON error saying what is
// wrong, and changes nothing.
func TestControlRefusesMalformedRequests(t *testing.T) {
	a, _ := startServe(t)
	op := "POST /faults/operation"
	for _, c := range []struct {
		route, body string
		status      int
		want        string
	}{
		{"POST /faults/nowhere", `{}`, 404, `no endpoint "nowhere"`},
		{op, `{"dropNext": 1, "failNext": {"count": 1, "status": 418}}`, 400, "answers only [400 "},
		{"POST /faults/token", `{"failNext": {"count": 1, "status": 404}}`, 400, "only [429 500]"},
		{op, `{"dropNext": 1, "latencySeconds": 1e9}`, 400, "within a day"},
		{op, `{"dropNext": "1"}`, 400, "cannot unmarshal string"},
		{op, `{"dropNext": 1, "drop": 1}`, 400, `unknown field "drop"`},
		{op, `{"dropNext": 1} {}`, 400, "more than one JSON value"},
		{"POST /access-list/owner", `{"cidrs": ["not an address"]}`, 400, "SetAccessList"},
		{"POST /access-list/admin", `{"cidrs": []}`, 404, `no principal "admin"`},
		{"POST /access-list/member", `{"cidr": []}`, 400, `{"cidrs": [...]}`},
		{op, ``, 400, "EOF"},
		{"GET /faults/operation", ``, 404, "no control route GET /__atlastest/faults/operation"},
	} {
		var got struct{ Error string }
		method, route, _ := strings.Cut(c.route, " ")
		status := ctl(t, a, method, route, c.body, &got)
		if status != c.status || !strings.Contains(got.Error, c.want) {
			t.Errorf("%s %s: %d %q, want %d %q", c.route, c.body, status, got.Error,
				c.status, c.want)
		}
	}
	resp, err := remove(t, a, token(t, a, a.Owner), a.Keys[0])
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Errorf("after the refused scripts, a delete: %v, %v, want a 204", resp, err)
	}
}

// TestPythonExample runs the README's Python example against a built
// binary, as a user would.
func TestPythonExample(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is needed for this test (see the README's Quickstart): %v", err)
	}
	example, _ := os.ReadFile("testdata/example.py")
	readme, err := os.ReadFile("../../README.md")
	if err != nil || !bytes.Contains(readme, example) {
		t.Errorf("the README does not show testdata/example.py as it is (%v)", err)
	}
	bin := filepath.Join(t.TempDir(), "smoke")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	py := exec.CommandContext(t.Context(), python, "testdata/example.py", bin)
	out, err := py.CombinedOutput()
	limited, _ := behavior.Lookup(behavior.RateLimited)
	gone, _ := behavior.Lookup(behavior.KeyNotFound)
	want := fmt.Sprintf("digest delete: 204, exists: False\nbearer delete: 204\n"+
		"first try: %d %s, Retry-After: 1\nafter Retry-After: 204\n"+
		"lost answer: the connection closed\nretry: %d %s, exists: False\n"+
		"tokens minted: 1, bearer calls: 5, all as owner: True\nexit status: 0\n",
		limited.Status, limited.ErrorCode, gone.Status, gone.ErrorCode)
	if err != nil || string(out) != want {
		t.Errorf("example.py: %v\n%s\nwant\n%s", err, out, want)
	}
}
