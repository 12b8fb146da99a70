package authedit_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/atlascontract/deleteorgapikey/authedit"
)

// The client's timeout is http.Client.Timeout: a call fails with a
// *url.Error that is a net.Error timeout and matches
// context.DeadlineExceeded, while waiting for headers and while reading
// the body alike. (Whether net/http adds "(Client.Timeout exceeded ...)"
// to the text races with the deadline for a RoundTripper it does not
// know, so the text is not checked.)
func TestClientTimeoutErrors(t *testing.T) {
	const timeout = 100 * time.Millisecond
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("envelope") == "true" { // stall the body
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error":404,`)
			w.(http.Flusher).Flush()
		}
		select { // stall (the rest of) the answer
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c, err := authedit.NewClient(srv.URL, authedit.APIKey{PublicKey: "p", PrivateKey: "s"}, authedit.WithTimeout(timeout), authedit.WithoutRetry())
	if err != nil {
		t.Fatal(err)
	}
	defer http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	check := func(t *testing.T, err error) {
		t.Helper()
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want a timeout error", err)
		}
	}
	t.Run("headers", func(t *testing.T) {
		start := time.Now()
		_, err := c.DeleteOrgApiKeyWithResponse(t.Context(), orgID, keyID, nil)
		check(t, err)
		var ue interface{ Unwrap() error }
		if !errors.As(err, &ue) || !strings.HasPrefix(err.Error(), "Delete \""+srv.URL) {
			t.Errorf("err = %v, want a *url.Error", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("gave up after %v, want about %v", d, timeout)
		}
	})
	t.Run("body", func(t *testing.T) {
		_, err := c.DeleteOrgApiKeyWithResponse(t.Context(), orgID, keyID, nil, func(_ context.Context, req *http.Request) error {
			req.URL.RawQuery = "envelope=true"
			return nil
		})
		check(t, err)
	})
	t.Run("earlier context deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), timeout/2)
		defer cancel()
		_, err := c.DeleteOrgApiKeyWithResponse(ctx, orgID, keyID, nil)
		if !errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Client.Timeout") {
			t.Errorf("err = %v, want the context's deadline, not the client's timeout", err)
		}
	})
}
