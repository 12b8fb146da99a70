package atlastest

import (
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/atlascontract/deleteorgapikey/internal/behavior"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// Faults scripts an endpoint's failures, applied in arrival order to
// requests whose caller authenticated (and, at the operation, named a
// resource version).
type Faults struct {
	where    string
	statuses map[int]behavior.Situation // what FailNext may send; "": no table row for the status
	budget   contract.Budget            // of the bucket an injected 429 names

	mu                  sync.Mutex
	failN, dropN        int
	fail                behavior.Situation
	latency, retryAfter time.Duration // retryAfter < 0: the bucket's time to regain one request
}

// operationStatuses maps each error status the spec documents to the first
// row of internal/behavior's table with that status.
func operationStatuses() map[int]behavior.Situation {
	m := map[int]behavior.Situation{}
	for code := range contract.MustLoad().Op.Responses.Map() {
		if status, err := strconv.Atoi(code); err == nil && status >= 400 {
			m[status] = ""
		}
	}
	for _, a := range slices.Backward(behavior.Table()) {
		if _, ok := m[a.Status]; ok && a.ErrorCode != "" {
			m[a.Status] = a.Situation
		}
	}
	return m
}

// FailNext answers the next n requests with status, changing nothing, as
// Atlas would: with the first row of internal/behavior's table for it (at
// the token and revocation endpoints: 429 as Atlas's token limit, or 500);
// a 429 shows an empty bucket and Retry-After. Any other status panics.
// n <= 0 cancels; a call replaces the previous one.
func (f *Faults) FailNext(n, status int) {
	sit, ok := f.statuses[status]
	check(ok, "FailNext(%d, %d): %s answers only %v", n, status, f.where, slices.Sorted(maps.Keys(f.statuses)))
	check(sit != "", "FailNext(%d, %d): the spec documents %d, but internal/behavior's table has no answer with it: add its row", n, status, status)
	f.locked(func() { f.failN, f.fail = max(0, n), sit })
}

// DropNext makes the next n requests take effect (a key deleted, a token
// issued or revoked), then closes the connection unanswered. n <= 0 cancels.
func (f *Faults) DropNext(n int) { f.locked(func() { f.dropN = max(0, n) }) }

// SetLatency delays every request by d from now on; d <= 0 removes the
// delay. A client that gives up meanwhile gets no answer and changes nothing.
func (f *Faults) SetLatency(d time.Duration) { f.locked(func() { f.latency = max(0, d) }) }

// SetRetryAfter sets the Retry-After of injected 429s, in seconds rounded
// up; by default, or for d < 0, the time the endpoint's bucket takes to
// regain one request (1 s at Atlas's organization rates, 2 s at its token rates).
func (f *Faults) SetRetryAfter(d time.Duration) { f.locked(func() { f.retryAfter = d }) }

func (f *Faults) locked(set func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	set()
}

// apply takes this request's faults: it waits out the latency (a client
// leaving meanwhile aborts the request) and arms a drop. It returns the
// situation FailNext asked for, which wins over a drop, and the Retry-After
// of an injected 429.
func (f *Faults) apply(x *exchange, r *http.Request) (fail behavior.Situation, retryAfter time.Duration) {
	var latency time.Duration
	f.locked(func() {
		latency, retryAfter = f.latency, f.retryAfter
		if f.failN > 0 {
			f.failN--
			fail = f.fail
		} else if f.dropN > 0 {
			f.dropN--
			x.drop = true
		}
	})
	if latency > 0 {
		t := time.NewTimer(latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			x.drop = false
			panic(http.ErrAbortHandler) // the client left: no answer, no state change
		}
	}
	if retryAfter < 0 {
		retryAfter = f.budget.Period / time.Duration(f.budget.Refill)
	}
	return fail, retryAfter
}

// injected is the answer FailNext asked for, with the endpoint's rate-limit
// headers h: and the challenges or the Retry-After its row lists.
func (s *Server) injected(sit behavior.Situation, h http.Header, retryAfter time.Duration, params ...any) answer {
	a := s.answer(sit, h, params...)
	if slices.Contains(a.row.Headers, behavior.WWWAuthenticate) {
		return s.unauthorized(&authFailure{detail: "Injected by FailNext."})
	}
	if slices.Contains(a.row.Headers, behavior.RetryAfter) {
		h.Set(behavior.RateLimitRemaining, "0")
		h.Set(behavior.RetryAfter, seconds(retryAfter))
	}
	return a
}

// FailNext is the operation's [Faults.FailNext].
func (s *Server) FailNext(n, status int) { s.op.FailNext(n, status) }

// DropNext is the operation's [Faults.DropNext].
func (s *Server) DropNext(n int) { s.op.DropNext(n) }

// SetLatency is the operation's [Faults.SetLatency].
func (s *Server) SetLatency(d time.Duration) { s.op.SetLatency(d) }

// SetRetryAfter is the operation's [Faults.SetRetryAfter].
func (s *Server) SetRetryAfter(d time.Duration) { s.op.SetRetryAfter(d) }

// TokenEndpoint scripts the token endpoint's faults.
func (s *Server) TokenEndpoint() *Faults { return s.token }

// RevokeEndpoint scripts the revocation endpoint's faults.
func (s *Server) RevokeEndpoint() *Faults { return s.revoke }
