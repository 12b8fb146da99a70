package authedit_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/atlascontract/deleteorgapikey/authedit"
)

// The client's timeout is http.Client.Timeout: a call fails with a
// *url.Error that is a net.Error timeout and matches
// context.DeadlineExceeded, while waiting for headers and while reading
// the body alike. (Whether net/http adds "(Client.Timeout exceeded ...)"
// to the text races with the deadline for a RoundTripper it does not
// know, so the text is not checked.) Each case runs in a synctest bubble:
// the 100 ms pass on its clock, exactly.
func TestClientTimeoutErrors(t *testing.T) {
	const timeout = 100 * time.Millisecond
	// stall answers after the client gave up: with envelope=true it sends
	// the headers and part of the body first.
	stall := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("envelope") == "true" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error":404,`)
			w.(http.Flusher).Flush()
		}
		<-r.Context().Done()
	})
	run := func(t *testing.T, f func(t *testing.T, p *pipeServer, c *authedit.Client)) {
		synctest.Test(t, func(t *testing.T) {
			p := newPipeServer(t, stall)
			c := keyClient(t, p.URL, authedit.WithTransport(p.tr), authedit.WithTimeout(timeout), authedit.WithoutRetry())
			f(t, p, c)
		})
	}
	check := func(t *testing.T, err error) {
		t.Helper()
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want a timeout error", err)
		}
	}
	t.Run("headers", func(t *testing.T) {
		run(t, func(t *testing.T, p *pipeServer, c *authedit.Client) {
			start := time.Now()
			_, err := c.DeleteOrgApiKeyWithResponse(t.Context(), orgID, keyID, nil)
			check(t, err)
			var ue interface{ Unwrap() error }
			if !errors.As(err, &ue) || !strings.HasPrefix(err.Error(), "Delete \""+p.URL) {
				t.Errorf("err = %v, want a *url.Error", err)
			}
			if d := time.Since(start); d != timeout {
				t.Errorf("gave up after %v, want %v", d, timeout)
			}
		})
	})
	t.Run("body", func(t *testing.T) {
		run(t, func(t *testing.T, _ *pipeServer, c *authedit.Client) {
			_, err := c.DeleteOrgApiKeyWithResponse(t.Context(), orgID, keyID, nil, func(_ context.Context, req *http.Request) error {
				req.URL.RawQuery = "envelope=true"
				return nil
			})
			check(t, err)
		})
	})
	t.Run("earlier context deadline", func(t *testing.T) {
		run(t, func(t *testing.T, _ *pipeServer, c *authedit.Client) {
			ctx, cancel := context.WithTimeout(t.Context(), timeout/2)
			defer cancel()
			_, err := c.DeleteOrgApiKeyWithResponse(ctx, orgID, keyID, nil)
			if !errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Client.Timeout") {
				t.Errorf("err = %v, want the context's deadline, not the client's timeout", err)
			}
		})
	})
}
