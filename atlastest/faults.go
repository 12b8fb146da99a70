package atlastest

import (
	"fmt"
	"sync"
	"time"

	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// faults are scripted by a test and applied to authenticated operation
// requests in arrival order; the token endpoints are never faulted.
type faults struct {
	mu         sync.Mutex
	failN      int
	failStatus int
	dropN      int
	latency    time.Duration
	retryAfter time.Duration // of injected 429s; < 0: derived from the rate settings
}

// take consumes this request's faults: a FailNext answer wins over DropNext.
func (f *faults) take() (latency time.Duration, fail int, drop bool, retryAfter time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	retryAfter = f.retryAfter
	switch {
	case f.failN > 0:
		f.failN--
		fail = f.failStatus
	case f.dropN > 0:
		f.dropN--
		drop = true
	}
	return f.latency, fail, drop, retryAfter
}

// FailNext answers the next n authenticated operation requests with status,
// changing nothing. The answer is what Atlas sends with that status: the
// first row of internal/behavior's table for it, with its headers (400
// API_KEY_NOT_FOUND, 401 UNEXPECTED_ERROR with challenges, 403
// USER_UNAUTHORIZED, 404 ORG_NOT_FOUND, 406 INVALID_VERSION_DATE, 429
// RATE_LIMITED with Retry-After, 500 UNEXPECTED_ERROR). status must be an
// error status the spec documents, or FailNext panics. n <= 0 cancels; a
// call replaces the previous one.
func (s *Server) FailNext(n, status int) {
	if status < 400 || contract.MustLoad().Op.Responses.Status(status) == nil {
		panic(fmt.Sprintf("atlastest: FailNext(%d, %d): the spec documents no error status %d for the operation", n, status, status))
	}
	if _, ok := situationFor(status); !ok {
		panic(fmt.Sprintf("atlastest: FailNext(%d, %d): internal/behavior's table has no answer with status %d: add its row", n, status, status))
	}
	s.faults.mu.Lock()
	s.faults.failN, s.faults.failStatus = max(0, n), status
	s.faults.mu.Unlock()
}

// SetRetryAfter sets the Retry-After of the 429s FailNext injects, in whole
// seconds rounded up (the spec's integer seconds). By default, and again
// after a negative d, it is the time an organization's bucket takes to
// regain one request (WithRateLimit's period / refill, rounded up: 1 s at
// Atlas's rates). Real 429s from an empty bucket always say when it has room.
func (s *Server) SetRetryAfter(d time.Duration) {
	s.faults.mu.Lock()
	s.faults.retryAfter = d
	s.faults.mu.Unlock()
}

// DropNext makes the next n authenticated operation requests take effect
// (the key is deleted if the request would have deleted it) and then closes
// the connection without an answer: the lost response. n <= 0 cancels.
func (s *Server) DropNext(n int) {
	s.faults.mu.Lock()
	s.faults.dropN = max(0, n)
	s.faults.mu.Unlock()
}

// SetLatency delays every authenticated operation request by d from now on;
// d <= 0 removes the delay. A client that gives up meanwhile gets no answer
// and changes nothing.
func (s *Server) SetLatency(d time.Duration) {
	s.faults.mu.Lock()
	s.faults.latency = max(0, d)
	s.faults.mu.Unlock()
}
