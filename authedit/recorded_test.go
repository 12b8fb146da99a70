package authedit_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/atlascontract/deleteorgapikey/authedit"
	"github.com/atlascontract/deleteorgapikey/internal/behavior"
)

// recording is an answer to serve: one of testdata/atlas, or made from one.
type recording = behavior.Recording

// recordings reads every file in testdata/atlas, new ones included.
func recordings(t *testing.T) []recording {
	t.Helper()
	recs, err := behavior.ReadRecordings("../testdata/atlas")
	if err != nil {
		t.Fatal(err)
	}
	return recs
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
		for k, vs := range a.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(a.Status)
		_, _ = w.Write(a.Body)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// The key's absence is read from its code, whatever the status says, and
// after a 5xx (which may have been applied) it is AlreadyRemoved.
func TestRemoveKeyNotFoundByCode(t *testing.T) {
	var notFound, serverError recording
	for _, rec := range recordings(t) {
		if rec.Situation == behavior.KeyNotFound {
			notFound = rec
		}
	}
	if notFound.Status == 0 {
		t.Fatal("no recording of key-not-found")
	}
	as404 := notFound
	as404.Status = http.StatusNotFound
	serverError = notFound
	serverError.Status, serverError.Body = http.StatusInternalServerError, []byte(`{"error":500,"errorCode":"UNEXPECTED_ERROR"}`)
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
	rec := recording{Status: row.Status, Header: http.Header{"Content-Type": {row.ContentType}, "X-Error-Code": {row.ErrorCode}},
		Body: []byte(`{"detail":"No organization with ID ` + orgID + ` exists.","error":404,"errorCode":"` + row.ErrorCode + `","parameters":["` + orgID + `"],"reason":"Not Found"}`)}
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
