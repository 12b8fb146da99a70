package authedit_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any goroutine outlives the tests: a retry
// sleeping past its context, a token fetch left waiting, a connection
// nobody closes. Nothing is ignored; servers close their connections in
// cleanup (httptest.Server.Close also closes http.DefaultTransport's idle
// ones) and tests with a transport of their own close its idle connections.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
