package authedit_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/atlascontract/deleteorgapikey/authedit"
)

// TestWrittenSurvivesNetHTTPResend: net/http silently re-sends a request it
// deems replayable (here: one carrying Idempotency-Key) when a reused
// connection breaks before any answer. The first copy reached the server
// and may have been applied, so when the re-send then fails to connect the
// attempt must still count as possibly applied.
func TestWrittenSurvivesNetHTTPResend(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan int, 1)
	go func() {
		// One connection: answer the first request (so the connection is
		// reused), read the second in full, then vanish, listener included,
		// so net/http's re-send finds nobody.
		conn, err := ln.Accept()
		if err != nil {
			served <- 0
			return
		}
		br := bufio.NewReader(conn)
		n := 0
		for ; n < 2; n++ {
			req, err := http.ReadRequest(br)
			if err != nil {
				break
			}
			_, _ = io.Copy(io.Discard, req.Body)
			if n == 0 {
				_, _ = io.WriteString(conn, "HTTP/1.1 204 No Content\r\n\r\n")
			}
		}
		_ = ln.Close()
		_ = conn.Close()
		served <- n
	}()

	base := "http://" + ln.Addr().String()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c, err := authedit.NewClient(base, authedit.APIKey{PublicKey: "pub", PrivateKey: "priv"}, authedit.WithTransport(tr), fast(2, &sleeps{}))
	if err != nil {
		t.Fatal(err)
	}
	idempotencyKey := func(_ context.Context, req *http.Request) error {
		req.Header.Set("Idempotency-Key", "k1")
		return nil
	}
	if resp, err := c.DeleteOrgApiKey(t.Context(), orgID, keyID, nil, idempotencyKey); err != nil {
		t.Fatalf("first delete: %v", err)
	} else {
		resp.Body.Close()
	}

	var info authedit.RetryInfo
	_, err = c.DeleteOrgApiKey(authedit.WithRetryInfo(t.Context(), &info), orgID, keyID, nil, idempotencyKey)
	if got := <-served; got != 2 {
		t.Fatalf("server read %d requests, want 2", got)
	}
	if err == nil || info.Attempts != 2 || !info.EarlierMayHaveApplied {
		t.Fatalf("second delete: err %v, info %+v; want a connection error after 2 attempts, the first possibly applied", err, info)
	}
}
