package atlastest_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any test leaves a goroutine behind: a server
// not closed, a connection not drained, a handler still running.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
