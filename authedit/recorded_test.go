package authedit_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/atlascontract/deleteorgapikey/authedit"
	"github.com/atlascontract/deleteorgapikey/internal/behavior"
)

// recording is one answer real Atlas gave, from testdata/atlas.
type recording struct {
	name   string
	row    behavior.Answer // the situation the file records
	status int
	header http.Header // without the Evidence-* headers
	body   []byte
}

// recordings reads every file in testdata/atlas, new ones included.
func recordings(t *testing.T) []recording {
	t.Helper()
	files, err := filepath.Glob("../testdata/atlas/*.http")
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded answers: %v", err)
	}
	var out []recording
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		row, ok := behavior.Lookup(behavior.Situation(resp.Header.Get("Evidence-Situation")))
		if !ok {
			t.Fatalf("%s: Evidence-Situation %q is not in internal/behavior's table", f, resp.Header.Get("Evidence-Situation"))
		}
		for k := range resp.Header {
			if strings.HasPrefix(k, "Evidence-") {
				delete(resp.Header, k)
			}
		}
		out = append(out, recording{name: filepath.Base(f), row: row, status: resp.StatusCode, header: resp.Header, body: body})
	}
	return out
}

// serve answers every request with rec, after the answers in before
// (raw-written as recordings too); it counts the requests.
func serve(t *testing.T, rec recording, before ...recording) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := rec
		if i := int(n.Add(1)) - 1; i < len(before) {
			a = before[i]
		}
		for k, vs := range a.header {
			w.Header()[k] = vs
		}
		w.WriteHeader(a.status)
		_, _ = w.Write(a.body)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// checkRemove holds Remove's report against what the recorded situation
// means: removed, not found, or a failure carrying the status and code.
func checkRemove(t *testing.T, row behavior.Answer, out authedit.Outcome, err error) {
	t.Helper()
	var ae *authedit.APIError
	switch {
	case row.Status == http.StatusNoContent:
		if out != authedit.Removed || err != nil {
			t.Errorf("Remove = %v, %v; want removed", out, err)
		}
	case row.Situation == behavior.KeyNotFound:
		if out != authedit.NotFound || err != nil {
			t.Errorf("Remove = %v, %v; want not found", out, err)
		}
	case out != authedit.Failed || !errors.As(err, &ae) || ae.StatusCode != row.Status || ae.ErrorCode != row.ErrorCode:
		t.Errorf("Remove = %v, %v; want failed, *APIError %d %s", out, err, row.Status, row.ErrorCode)
	}
}

// Every recorded Atlas answer decodes through the client and is
// classified by what it records.
func TestRecordedAnswers(t *testing.T) {
	for _, rec := range recordings(t) {
		t.Run(rec.name, func(t *testing.T) {
			srv, _ := serve(t, rec)
			c, err := authedit.NewClient(srv.URL, authedit.APIKey{PublicKey: "pub", PrivateKey: "priv"}, authedit.WithoutRetry())
			if err != nil {
				t.Fatal(err)
			}
			resp, err := c.DeleteOrgApiKeyWithResponse(t.Context(), orgID, keyID, nil)
			if err != nil || resp.StatusCode() != rec.status {
				t.Fatalf("DeleteOrgApiKeyWithResponse = %v, %v; want the recorded %d", resp, err, rec.status)
			}
			out, err := c.Remove(t.Context(), orgID, keyID)
			checkRemove(t, rec.row, out, err)
		})
	}
}

// The key's absence is read from its code, whatever the status says, and
// after a 5xx (which may have been applied) it is AlreadyRemoved.
func TestRemoveKeyNotFoundByCode(t *testing.T) {
	var notFound, serverError recording
	for _, rec := range recordings(t) {
		if rec.row.Situation == behavior.KeyNotFound {
			notFound = rec
		}
	}
	if notFound.status == 0 {
		t.Fatal("no recording of key-not-found")
	}
	as404 := notFound
	as404.status = http.StatusNotFound
	serverError = notFound
	serverError.status, serverError.body = http.StatusInternalServerError, []byte(`{"error":500,"errorCode":"UNEXPECTED_ERROR"}`)
	for _, tc := range []struct {
		name   string
		answer recording
		before []recording
		want   authedit.Outcome
	}{
		{"400 as recorded", notFound, nil, authedit.NotFound},
		{"404 with the same code", as404, nil, authedit.NotFound},
		{"400 after a 500", notFound, []recording{serverError}, authedit.AlreadyRemoved},
		{"404 after a 500", as404, []recording{serverError}, authedit.AlreadyRemoved},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, n := serve(t, tc.answer, tc.before...)
			var sl sleeps
			c, err := authedit.NewClient(srv.URL, authedit.APIKey{PublicKey: "pub", PrivateKey: "priv"}, fast(3, &sl))
			if err != nil {
				t.Fatal(err)
			}
			if out, err := c.Remove(t.Context(), orgID, keyID); out != tc.want || err != nil {
				t.Errorf("Remove = %v, %v; want %v", out, err, tc.want)
			}
			if got, want := int(n.Load()), len(tc.before)+1; got != want {
				t.Errorf("%d requests, want %d", got, want)
			}
		})
	}
}

// A missing organization is its own failure, never "not found" for the key.
func TestRemoveOrgNotFound(t *testing.T) {
	row, _ := behavior.Lookup(behavior.OrgNotFound)
	rec := recording{status: row.Status, header: http.Header{"Content-Type": {row.ContentType}, "X-Error-Code": {row.ErrorCode}},
		body: []byte(`{"detail":"No organization with ID ` + orgID + ` exists.","error":404,"errorCode":"` + row.ErrorCode + `","parameters":["` + orgID + `"],"reason":"Not Found"}`)}
	srv, _ := serve(t, rec)
	c, err := authedit.NewClient(srv.URL, authedit.APIKey{PublicKey: "pub", PrivateKey: "priv"}, authedit.WithoutRetry())
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Remove(t.Context(), orgID, keyID)
	var ae *authedit.APIError
	if out != authedit.Failed || !errors.Is(err, authedit.ErrOrgNotFound) || !errors.As(err, &ae) || ae.StatusCode != http.StatusNotFound {
		t.Errorf("Remove = %v, %v; want failed, an *APIError 404 matching ErrOrgNotFound", out, err)
	}
}
