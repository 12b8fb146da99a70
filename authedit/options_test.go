package authedit_test

import (
	"errors"
	"net"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/authedit"
)

// countingRT counts the requests it passes on.
type countingRT struct{ n int }

func (c *countingRT) RoundTrip(req *http.Request) (*http.Response, error) {
	c.n++
	return http.DefaultTransport.RoundTrip(req)
}

func TestWithTransport(t *testing.T) {
	srv := atlastest.NewTestServer(t)
	base := &countingRT{}
	c, err := authedit.NewClient(srv.URL, srv.Owner().APIKey(), authedit.WithTransport(base))
	if err != nil {
		t.Fatal(err)
	}
	deleteOK(t, c, srv.OrgID(), srv.Keys()[0])
	if base.n != 2 {
		t.Errorf("the given transport carried %d requests, want 2", base.n)
	}
}

// The server would answer after 10 s; the client gives up at its 100 ms
// timeout, exactly, on a synctest bubble's clock.
func TestTimeoutAgainstLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, p := newPipeAtlas(t)
		srv.SetLatency(10 * time.Second)
		c, err := authedit.NewClient(p.URL, srv.Owner().APIKey(), authedit.WithTransport(p.tr), authedit.WithTimeout(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = c.DeleteOrgApiKeyWithResponse(t.Context(), srv.OrgID(), srv.Keys()[0], nil)
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("err = %v, want a timeout", err)
		}
		if d := time.Since(start); d != 100*time.Millisecond {
			t.Errorf("gave up after %v, want 100ms", d)
		}
	})
}
